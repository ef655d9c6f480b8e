"""`python -m cep_api` and `python -m cep_api seed`: the commands docs/testing.md and run.sh use."""
import gzip
import os
import subprocess
import sys

import pytest

from cep_api.__main__ import main
from conftest import REPO_ROOT, free_port, get_once_up

HEADER = "cep,logradouro,complemento,bairro,cidade,uf,ibge\n"


def write_csv(path, *rows):
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def test_seed_is_idempotent_and_reports_counts(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CEP_API_DB", str(tmp_path / "cep.sqlite3"))
    assert main(["seed"]) == 0
    assert "added 2711, already present 0" in capsys.readouterr().out
    extra = write_csv(tmp_path / "extra.csv", "01001000,Praça da Sé,lado ímpar,Sé,São Paulo,SP,3550308",
                      "69900001,Rua A,,Centro,Rio Branco,AC,1200401")
    assert main(["seed", str(extra)]) == 0
    assert "added 1, already present 1" in capsys.readouterr().out


def test_seed_if_empty_leaves_a_used_database_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CEP_API_DB", str(tmp_path / "cep.sqlite3"))
    extra = write_csv(tmp_path / "one.csv", "69900001,Rua A,,Centro,Rio Branco,AC,1200401")
    assert main(["seed", "--if-empty", str(extra)]) == 0
    assert "added 1, already present 0" in capsys.readouterr().out
    assert main(["seed", "--if-empty"]) == 0
    assert "not seeding: the database already has 1 CEPs" in capsys.readouterr().out


def test_seed_reads_gzip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CEP_API_DB", str(tmp_path / "cep.sqlite3"))
    packed = tmp_path / "rows.csv.gz"
    with gzip.open(packed, "wt", encoding="utf-8") as out:
        out.write(HEADER + "70150900,Praça dos Três Poderes,,Zona Cívico-Administrativa,Brasília,DF,5300108\n")
    assert main(["seed", str(packed)]) == 0
    assert "added 1, already present 0" in capsys.readouterr().out


@pytest.mark.parametrize("bad_row", [
    "7015090,Rua,,Centro,Brasília,DF,5300108",  # 7 digits
    "70150900,Rua,,Centro,Brasília,SP,5300108",  # outside SP's range
    "70150900,Rua,,Centro,,DF,5300108",  # no town
])
def test_a_bad_row_loads_nothing(tmp_path, monkeypatch, capsys, bad_row):
    db_path = tmp_path / "cep.sqlite3"
    monkeypatch.setenv("CEP_API_DB", str(db_path))
    csv_path = write_csv(tmp_path / "bad.csv", "69900001,Rua A,,Centro,Rio Branco,AC,1200401", bad_row)
    assert main(["seed", str(csv_path)]) == 1
    assert "line 3" in capsys.readouterr().err
    assert main(["seed", str(tmp_path / "missing.csv")]) == 1
    assert "nothing was loaded" in capsys.readouterr().err
    import sqlite3
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT count(*) FROM cep").fetchone()[0] == 0
    conn.close()


def test_python_m_cep_api_serves_on_the_configured_port(tmp_path):
    """The real command, in its own process, as run.sh and the Vagrant unit start it."""
    port = free_port()
    env = {**os.environ, "CEP_API_DB": str(tmp_path / "cep.sqlite3"), "CEP_API_PORT": str(port),
           "CEP_API_HOST": "127.0.0.1"}
    subprocess.run([sys.executable, "-m", "cep_api", "seed"], cwd=REPO_ROOT, env=env, check=True,
                   capture_output=True)
    server = subprocess.Popen([sys.executable, "-m", "cep_api"], cwd=REPO_ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        resp = get_once_up(f"http://127.0.0.1:{port}/ceps/01310-100")
        assert resp.status_code == 200 and resp.json()["logradouro"] == "Avenida Paulista"
    finally:
        server.terminate()
        server.wait(timeout=10)
