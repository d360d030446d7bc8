"""A WSGI app that answers 200: gunicorn's own refusals are what the edge test looks at."""


def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [b'{"ok": true}']
