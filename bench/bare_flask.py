"""The yardstick of bench/api_throughput.py: a bare Flask app that answers a small JSON body.

Served by the same gunicorn configuration as the platform (`-c python:knowrithm.gunicorn_conf`,
--preload, the same worker count), so the difference is what the platform does per request.
"""
from flask import Flask

app = Flask(__name__)


@app.get("/hello")
def hello():
    return {"message": "hello", "ok": True}
