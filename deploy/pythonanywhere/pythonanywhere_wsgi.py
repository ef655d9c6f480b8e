"""PythonAnywhere's WSGI configuration file for cep-staff: both services in one web app.

Paste this whole file over the one that the Web tab links to as the WSGI configuration file,
and replace USERNAME below with your PythonAnywhere username. Guide: deploy/pythonanywhere/README.md
"""
import os
import sys

# Where you cloned the repository.
REPO = "/home/USERNAME/cep-staff"

# A web app does not read your .bashrc: its settings are set here, before the apps are built.
# setdefault: a value the environment already has wins (the test of this file relies on that).
# The two SQLite files (these are the defaults too; a console command must use the same paths):
os.environ.setdefault("CEP_API_DB", REPO + "/var/cep.sqlite3")
os.environ.setdefault("STAFF_API_DB", REPO + "/var/staff.sqlite3")
# Any other setting from the README's Configuration table goes here the same way, for example:
# os.environ.setdefault("STAFF_CEP_CACHE_TTL", "3600")

sys.path.insert(0, REPO)  # so that cep_api, staff_api and deploy can be imported

from deploy.pythonanywhere.one_app import create_app  # noqa: E402 (needs sys.path above)

application = create_app()  # the server looks for the name `application`
