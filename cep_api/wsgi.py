"""The CEP API as a WSGI `application` (gunicorn, uWSGI, `waitress-serve cep_api.wsgi:application`),
its settings read from the environment when this module is imported."""
from cep_api.app import create_app

application = create_app()
