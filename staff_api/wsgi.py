"""The staff API as a WSGI `application` (gunicorn, uWSGI, `waitress-serve staff_api.wsgi:application`),
its settings read from the environment when this module is imported."""
from staff_api.app import create_app

application = create_app()
