"""A small legacy-style Flask app for ``portfix check --app`` tests.

It runs on every Flask release of the matrix: no decorators newer than 0.10,
no app.json, no blueprints.  ``/health`` answers 200, ``/broken`` raises (500),
``/missing`` is not routed (404).
"""

import os

from flask import Flask, jsonify

app = Flask(__name__)


@app.route("/health")
def health():
    return jsonify(status="ok", pid=os.getpid())


@app.route("/broken")
def broken():
    raise RuntimeError("this route fails on purpose")


def create_app():
    """A factory, for ``legacy_app:create_app()``."""
    return app


def crash():
    """A factory that fails, for the crash case."""
    raise RuntimeError("the factory fails on purpose")
