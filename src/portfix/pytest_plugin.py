"""An opt-in pytest plugin: a live dev server for the test's app on an ephemeral port.

It is not registered as an entry point, so it never loads itself into a
pytest run.  Turn it on with ``pytest -p portfix.pytest_plugin``, or in a
``conftest.py`` at the root of your tests::

    pytest_plugins = ["portfix.pytest_plugin"]

Then give it the app by defining a fixture named ``portfix_app``::

    @pytest.fixture
    def portfix_app():
        return create_app()

    def test_home(portfix_server):
        assert requests.get(portfix_server.url).status_code == 200

``portfix_server`` is a ``portfix.Server``: the socket is bound before the
test starts (no bind-close-rebind race between parallel workers), and it is
stopped after the test.  Server options (``threaded``, ``ssl_context``...)
come from an optional ``portfix_server_options`` fixture returning a dict.
"""

import pytest

from ._serve import serve


@pytest.fixture
def portfix_app():
    """The WSGI app to serve: override this fixture in your conftest.py."""
    raise pytest.UsageError(
        "portfix_server needs your app: define a fixture named 'portfix_app' that returns it"
    )


@pytest.fixture
def portfix_server_options():
    """Keyword arguments for ``portfix.serve()``; override to change them (default: none)."""
    return {}


@pytest.fixture
def portfix_server(portfix_app, portfix_server_options):
    """A running ``portfix.Server`` for ``portfix_app`` on 127.0.0.1, stopped after the test."""
    server = serve(portfix_app, **portfix_server_options)
    try:
        yield server
    finally:
        server.stop()
