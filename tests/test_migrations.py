"""Each service's schema migrations: a database made by an older version opens with this code, keeps
its rows and gets today's shape; a second start changes nothing; two processes starting at once
migrate once. The runner's own rules, on a toy schema: tests/chassis/test_migration_runner.py."""
import os
import sqlite3
import subprocess
import sys

import pytest
from webtest import TestApp

from chassis.migrations import migrate

from conftest import REPO_ROOT

# The schema as the last version before migrations (commit a28c0ca) made it, written out as
# SQLite printed it, so that this test never depends on old code.
OLD_CEP_SCHEMA = """
CREATE TABLE "cep" ("cep" VARCHAR(8) NOT NULL PRIMARY KEY, "logradouro" VARCHAR(255) NOT NULL, "complemento" VARCHAR(255) NOT NULL, "bairro" VARCHAR(255) NOT NULL, "localidade" VARCHAR(255) NOT NULL, "uf" VARCHAR(2) NOT NULL, "ibge" VARCHAR(255) NOT NULL);
CREATE INDEX "cep_localidade" ON "cep" ("localidade");
CREATE INDEX "cep_uf" ON "cep" ("uf");
CREATE TABLE "request_log" ("id" INTEGER NOT NULL PRIMARY KEY, "time" REAL NOT NULL, "method" VARCHAR(255) NOT NULL, "route" VARCHAR(255) NOT NULL, "status" INTEGER NOT NULL, "ms" REAL NOT NULL, "bytes" INTEGER NOT NULL);
CREATE INDEX "request_log_time_method_route_status_ms" ON "request_log" ("time", "method", "route", "status", "ms");
INSERT INTO cep VALUES ('01001000', 'Praça da Sé', 'lado ímpar', 'Sé', 'São Paulo', 'SP', '3550308');
INSERT INTO cep VALUES ('01310100', 'Avenida Paulista', 'de 612 a 1510 - lado par', 'Bela Vista', 'São Paulo', 'SP', '3550308');
INSERT INTO request_log VALUES (1, 1795000000.0, 'GET', '/ceps/<cep>', 200, 1.5, 144);
"""
OLD_STAFF_SCHEMA = """
CREATE TABLE "cep_cache_entry" ("cep" VARCHAR(8) NOT NULL PRIMARY KEY, "status" INTEGER NOT NULL, "body" TEXT NOT NULL, "etag" VARCHAR(255) NOT NULL, "fetched_at" REAL NOT NULL, "expires_at" REAL NOT NULL, "hits" INTEGER NOT NULL);
CREATE TABLE "employee" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(255) NOT NULL, "email" VARCHAR(255) NOT NULL, "email_key" VARCHAR(255) NOT NULL, "role" VARCHAR(255) NOT NULL, "cep" VARCHAR(8) NOT NULL, "number" VARCHAR(255) NOT NULL, "complement" VARCHAR(255) NOT NULL, "logradouro" VARCHAR(255) NOT NULL, "bairro" VARCHAR(255) NOT NULL, "localidade" VARCHAR(255) NOT NULL, "uf" VARCHAR(2) NOT NULL, "ibge" VARCHAR(255) NOT NULL, "created_at" VARCHAR(255) NOT NULL, "updated_at" VARCHAR(255) NOT NULL);
CREATE UNIQUE INDEX "employee_email_key" ON "employee" ("email_key");
CREATE INDEX "employee_uf" ON "employee" ("uf");
CREATE TABLE "request_log" ("id" INTEGER NOT NULL PRIMARY KEY, "time" REAL NOT NULL, "method" VARCHAR(255) NOT NULL, "route" VARCHAR(255) NOT NULL, "status" INTEGER NOT NULL, "ms" REAL NOT NULL, "bytes" INTEGER NOT NULL, "cache" VARCHAR(255) NOT NULL, "cep_ms" REAL);
CREATE INDEX "request_log_time_method_route_status_ms_cache_cep_ms" ON "request_log" ("time", "method", "route", "status", "ms", "cache", "cep_ms");
INSERT INTO employee VALUES (1, 'Ana Souza', 'ana@example.com', 'ana@example.com', 'Engineer', '01001000', '100', '', 'Praça da Sé', 'Sé', 'São Paulo', 'SP', '3550308', '2026-11-23T18:21:40Z', '2026-11-23T18:21:40Z');
"""


def old_database(path, schema):
    """A database file as the old code left it (WAL, as the services always set it)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=wal")
    conn.executescript(schema)
    conn.close()
    return path


def schema_of(path):
    """Every table and index of a database, as SQLite keeps their definitions, and the version."""
    conn = sqlite3.connect(path)
    try:
        return (sorted(conn.execute("SELECT type, name, sql FROM sqlite_master")),
                conn.execute("SELECT version FROM schema_version").fetchall())
    finally:
        conn.close()


def test_a_cep_database_from_before_migrations_keeps_its_rows_and_gets_todays_shape(tmp_path):
    from cep_api.app import create_app
    from cep_api.migrations import MIGRATIONS
    from cep_api.models import TABLES, db

    path = old_database(tmp_path / "cep.sqlite3", OLD_CEP_SCHEMA)
    client = TestApp(create_app({"cep_api.db_path": str(path), "cep_api.log": False}))
    assert client.get("/ceps/01001000").json["logradouro"] == "Praça da Sé"
    assert client.get("/ceps").json["total"] == 2 and client.get("/logs").json["total"] == 1
    assert [found["cep"] for found in client.get("/ws/sp/sao paulo/PAULISTA/json/").json] == ["01310-100"]
    assert [found["cep"] for found in client.get("/ceps", {"q": "bela vista"}).json["items"]] == ["01310-100"]
    tables, version = schema_of(path)
    names = {name for _, name, _ in tables}
    assert "request_log_time_method_route_status_ms" not in names
    assert {"request_log_time", "cep_uf_town_key_cep", "log_minute", "schema_version"} <= names
    assert version == [(len(MIGRATIONS),)]
    assert migrate(db, MIGRATIONS, TABLES) == []  # a second start changes nothing
    assert schema_of(path) == (tables, version)


def test_a_staff_database_from_before_migrations_keeps_its_rows_and_gets_todays_shape(staff_db_path,
                                                                                     make_staff_app):
    from staff_api.migrations import MIGRATIONS
    from staff_api.models import TABLES, db

    path = old_database(staff_db_path, OLD_STAFF_SCHEMA)
    client = TestApp(make_staff_app("http://127.0.0.1:9", log=False))
    assert client.get("/employees/1").json["name"] == "Ana Souza"
    assert client.get("/employees", {"q": "SOUZA"}).json["total"] == 1  # its name_key was filled
    tables, version = schema_of(path)
    names = {name for _, name, _ in tables}
    assert "request_log_time_method_route_status_ms_cache_cep_ms" not in names
    assert {"request_log_time", "log_minute"} <= names and version == [(len(MIGRATIONS),)]
    assert migrate(db, MIGRATIONS, TABLES) == []
    assert schema_of(path) == (tables, version)


def test_roll_ups_packed_as_blobs_go_and_are_made_again_from_the_rows(cep_app, cep_db_path):
    """Migration 4: log_minute as the first roll-ups made it (durations as packed doubles) is
    dropped; the table comes back with its durations as text, for the writer to fill again."""
    from cep_api.migrations import MIGRATIONS
    from cep_api.models import TABLES, db

    conn = sqlite3.connect(cep_db_path)
    with conn:
        conn.executescript("""
            DROP TABLE log_minute;
            CREATE TABLE "log_minute" ("minute" INTEGER NOT NULL, "method" VARCHAR(255) NOT NULL, "route" VARCHAR(255) NOT NULL, "ms" BLOB NOT NULL, "status_2xx" INTEGER NOT NULL, "status_3xx" INTEGER NOT NULL, "status_4xx" INTEGER NOT NULL, "status_5xx" INTEGER NOT NULL, PRIMARY KEY ("minute", "method", "route"));
            INSERT INTO log_minute VALUES (29916666, 'GET', '/health', x'000000000000f83f', 1, 0, 0, 0);
            INSERT INTO request_log (time, method, route, status, ms, bytes) VALUES (1795000000.0, 'GET', '/health', 200, 1.5, 15);
        """)
        conn.execute("UPDATE schema_version SET version = ?", (len(MIGRATIONS) - 2,))
    conn.close()
    assert migrate(db, MIGRATIONS, TABLES) == ["roll_ups_as_text", "one_request_log_for_both_services"]
    conn = sqlite3.connect(cep_db_path)
    try:
        assert conn.execute("SELECT count(*) FROM log_minute").fetchone() == (0,)
        assert ("ms", "TEXT") in [(column[1], column[2]) for column in conn.execute("PRAGMA table_info(log_minute)")]
    finally:
        conn.close()


@pytest.mark.parametrize("service, variable, schema, applied", [
    ("cep_api", "CEP_API_DB", OLD_CEP_SCHEMA, "applied index_request_log_by_time, add_search_keys, add_district_key, roll_ups_as_text, one_request_log_for_both_services;"),
    ("staff_api", "STAFF_API_DB", OLD_STAFF_SCHEMA, "applied index_request_log_by_time, add_name_key, roll_ups_as_text;"),
])
def test_two_processes_migrating_at_once_migrate_once(tmp_path, service, variable, schema, applied):
    path = old_database(tmp_path / "old.sqlite3", schema)
    env = {**os.environ, variable: str(path)}
    processes = [subprocess.Popen([sys.executable, "-m", service, "migrate"], cwd=REPO_ROOT, env=env, text=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs
    firsts = sorted(stdout.split(" the schema")[0] for stdout, _ in outputs)
    assert firsts == sorted([applied, "applied nothing;"])
