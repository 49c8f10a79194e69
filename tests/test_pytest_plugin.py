"""The opt-in pytest plugin: loaded with -p or pytest_plugins, never by itself."""

import os
import subprocess
import sys
import textwrap

CONFTEST = textwrap.dedent('''
    import pytest
    {plugins}

    def wsgi(environ, start_response):
        start_response("200 OK", [("Content-Length", "5")])
        return [b"hello"]

    @pytest.fixture
    def portfix_app():
        return wsgi
''')

TESTS = textwrap.dedent('''
    from http.client import HTTPConnection

    def test_live(portfix_server):
        assert portfix_server.port not in (0, 5000)
        connection = HTTPConnection("127.0.0.1", portfix_server.port, timeout=10)
        connection.request("GET", "/")
        assert connection.getresponse().read() == b"hello"
        with open("ports.txt", "a") as f:
            f.write("%d\\n" % portfix_server.port)
''')


def run_pytest(tmp_path, *args, plugins=""):
    (tmp_path / "conftest.py").write_text(CONFTEST.format(plugins=plugins))
    (tmp_path / "test_live.py").write_text(TESTS)
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"] + list(args),
                          cwd=str(tmp_path), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)


def _stopped_afterwards(tmp_path):
    from _support import is_listening

    ports = [int(line) for line in (tmp_path / "ports.txt").read_text().split()]
    return ports and not any(is_listening(port) for port in ports)


def test_loaded_with_dash_p(tmp_path):
    result = run_pytest(tmp_path, "-p", "portfix.pytest_plugin")
    assert result.returncode == 0, result.stdout
    assert "1 passed" in result.stdout
    assert _stopped_afterwards(tmp_path)


def test_loaded_with_pytest_plugins_in_a_conftest(tmp_path):
    result = run_pytest(tmp_path, plugins='pytest_plugins = ["portfix.pytest_plugin"]')
    assert result.returncode == 0, result.stdout
    assert _stopped_afterwards(tmp_path)


def test_not_loaded_unless_asked(tmp_path):
    result = run_pytest(tmp_path)
    assert result.returncode != 0
    assert "fixture 'portfix_server' not found" in result.stdout


def test_without_an_app_fixture_the_error_says_what_to_define(tmp_path):
    (tmp_path / "test_noapp.py").write_text(u"def test_x(portfix_server):\n    pass\n")
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             "-p", "portfix.pytest_plugin", "test_noapp.py"], cwd=str(tmp_path), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120)
    assert result.returncode != 0
    assert "define a fixture named 'portfix_app'" in result.stdout
