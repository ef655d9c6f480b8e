"""Fixtures shared by the whole suite: fresh apps on temporary databases, real servers on loopback."""
import shutil
import socket
import sys
from pathlib import Path

import pytest
from webtest.http import StopableWSGIServer

REPO_ROOT = Path(__file__).resolve().parent.parent
# The services are run from the repo root (python -m cep_api), not installed.
sys.path.insert(0, str(REPO_ROOT))


@pytest.fixture(scope="session")
def seeded_cep_db(tmp_path_factory):
    """A CEP database with the bundled 2,711-row sample, built once; tests use copies."""
    from cep_api.models import init_db
    from cep_api.seed import seed

    path = tmp_path_factory.mktemp("template") / "cep.sqlite3"
    init_db(path)
    seed()
    from cep_api.models import db
    db.close_all()  # checkpoints the WAL into the file so a plain copy is complete
    return path


@pytest.fixture
def cep_db_path(seeded_cep_db, tmp_path):
    """A private copy of the seeded CEP database for one test."""
    path = tmp_path / "cep.sqlite3"
    shutil.copy(seeded_cep_db, path)
    return path


@pytest.fixture
def cep_app(cep_db_path):
    """A fresh CEP API app over a seeded database."""
    from cep_api.app import create_app

    return create_app({"cep_api.db_path": str(cep_db_path)})


class LoopbackServer:
    """A WSGI app served by real waitress on 127.0.0.1 and an ephemeral port, in a thread.

    WebTest's StopableWSGIServer is a waitress server that can also be shut down cleanly
    (listening socket, open connections and worker threads), which plain waitress cannot.
    """

    def __init__(self, app, threads=4):
        self.server = StopableWSGIServer.create(
            app, host="127.0.0.1", port=0, threads=threads, expose_tracebacks=False)
        self.port = self.server.effective_port
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        """Stop listening, close every connection and worker; the port is free afterwards."""
        self.server.shutdown()
        self.server.runner.join(timeout=5)


@pytest.fixture
def serve():
    """serve(app) -> a running LoopbackServer, stopped when the test ends."""
    servers = []

    def start(app, threads=4):
        server = LoopbackServer(app, threads)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def free_port():
    """A port nobody listens on right now (bound and released at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
