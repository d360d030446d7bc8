"""WSGI entry point for gunicorn: `gunicorn knowrithm.wsgi:app`."""
from knowrithm.app import create_app

app = create_app()
