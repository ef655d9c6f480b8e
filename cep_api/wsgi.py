"""The CEP API as a WSGI `application`, for servers that import one instead of `python -m cep_api`.

Used by PythonAnywhere's WSGI file, gunicorn, uWSGI, or `waitress-serve cep_api.wsgi:application`
run from the repository root. The settings (CEP_API_DB, ...) are read from the environment once,
when this module is imported: set them before the server starts.
"""
from cep_api.app import create_app

application = create_app()
