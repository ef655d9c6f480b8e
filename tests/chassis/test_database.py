"""A service's database (chassis/database.py): the SQLite file it creates is private, and a write
transaction from a thread with no connection hands the one it took back."""
import stat
import threading

from webtest import TestApp

NEW_CEP = {"cep": "01001-999", "logradouro": "Rua Nova", "localidade": "São Paulo", "uf": "SP"}
ANA = {"name": "Ana Souza", "email": "ana@example.com", "cep": "01001000"}


def assert_private(directory):
    """The directory is 0700, its files 0600, and a write has made SQLite's -wal file too."""
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    files = list(directory.iterdir())
    assert any(path.name.endswith("-wal") for path in files)
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files} == {path.name: 0o600 for path in files}


def test_the_database_the_service_creates_is_private(service_name, make_app, tmp_path, staff_db_path, request):
    path = tmp_path / "new" / f"{service_name}.sqlite3"  # a file: staff_db_path keeps this test on SQLite
    if service_name == "cep_api":
        TestApp(make_app(db_path=str(path))).post_json("/ceps", NEW_CEP)
    else:
        cep_api_url = request.getfixturevalue("cep_server").url
        TestApp(make_app(cep_api_url=cep_api_url, db_path=str(path))).post_json("/employees", ANA)
    assert_private(path.parent)


def test_a_write_from_a_thread_with_no_connection_hands_its_connection_back(tmp_path):
    """A background thread writes now and then: between two writes it holds no connection of the pool."""
    from peewee import IntegerField, Model

    from chassis.database import Database

    db = Database()
    db.open(tmp_path / "db.sqlite3")

    class Counter(Model):
        value = IntegerField()

        class Meta:
            database = db

    with db.connection_context():
        db.create_tables([Counter])
    assert db.is_postgres() is False
    held = []

    def background_write():
        with db.writing():
            Counter.create(value=1)
            held.append(not db.is_closed())
        held.append(not db.is_closed())

    thread = threading.Thread(target=background_write)
    thread.start()
    thread.join()
    assert held == [True, False]  # one connection while writing, none after
    with db.connection_context():
        assert [counter.value for counter in Counter.select()] == [1]
        with db.writing():  # a thread that has a connection keeps it
            Counter.create(value=2)
        assert not db.is_closed()
    db.close_all()
