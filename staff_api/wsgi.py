"""The staff API as a WSGI `application`, for servers that import one instead of `python -m staff_api`.

Used by a PythonAnywhere WSGI file, gunicorn, uWSGI, or `waitress-serve staff_api.wsgi:application`
run from the repository root. The settings (STAFF_API_DB, CEP_API_URL, ...) are read from the
environment once, when this module is imported: set them before the server starts.
"""
from staff_api.app import create_app

application = create_app()
