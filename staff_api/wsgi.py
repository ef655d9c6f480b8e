"""The staff API as a WSGI `application` (PythonAnywhere, gunicorn, `waitress-serve staff_api.wsgi:application`).

The settings (STAFF_API_DB, CEP_API_URL, ...) are read from the environment once, at import.
"""
from staff_api.app import create_app

application = create_app()
