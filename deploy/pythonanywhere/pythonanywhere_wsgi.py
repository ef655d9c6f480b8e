"""PythonAnywhere's WSGI configuration file for cep-staff: both services in one web app.

Paste this whole file over the one that the Web tab links to as the WSGI configuration file,
and replace USERNAME below with your PythonAnywhere username. Guide: deploy/pythonanywhere/README.md
"""
import os
import secrets
import sys

# Where you cloned the repository.
REPO = "/home/USERNAME/cep-staff"
TOKEN_NAMES = ("CEP_API_TOKEN", "STAFF_API_TOKEN")


def load_tokens(path):
    """Put the tokens from `path` (NAME=value lines) into the environment; make the file if missing."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        # O_EXCL: never replace a file that exists; 0o600: only your account may read it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass  # made on an earlier start: kept, so that the tokens you saved keep working
    else:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("".join(f"{name}={secrets.token_urlsafe(32)}\n" for name in TOKEN_NAMES))
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, _, value = line.strip().partition("=")
            if value and not name.startswith("#"):
                os.environ.setdefault(name, value)  # a token set above (or by a test) wins
    missing = [name for name in TOKEN_NAMES if not os.environ.get(name)]
    if missing:  # on the internet, a service without its token would take writes from anyone
        raise RuntimeError(f"{path} has no {' and no '.join(missing)}: "
                           "delete it to get new tokens, then reload")


# A web app does not read your .bashrc: its settings are set here, before the apps are built.
# setdefault: a value the environment already has wins (the test of this file relies on that).
# The two SQLite files (these are the defaults too; a console command must use the same paths):
os.environ.setdefault("CEP_API_DB", REPO + "/var/cep.sqlite3")
os.environ.setdefault("STAFF_API_DB", REPO + "/var/staff.sqlite3")
# The address your web app answers at: any other Host header gets a 400 (DNS rebinding).
os.environ.setdefault("CEP_API_ALLOWED_HOSTS", "USERNAME.pythonanywhere.com")
os.environ.setdefault("STAFF_API_ALLOWED_HOSTS", "USERNAME.pythonanywhere.com")
# Any other setting from docs/configuration.md's table goes here the same way, for example:
# os.environ.setdefault("STAFF_CEP_CACHE_TTL", "3600")
# The API tokens: on the internet, writes to the CEP API and every staff API route but /health
# and /docs need one. Made on the first start into var/tokens.env (read them there), unless
# set above; the staff API calls the CEP API in-process with GETs, so it needs no token there.
load_tokens(REPO + "/var/tokens.env")

sys.path.insert(0, REPO)  # so that cep_api, staff_api and deploy can be imported

from deploy.pythonanywhere.one_app import create_app  # noqa: E402 (needs sys.path above)

application = create_app()  # the server looks for the name `application`
