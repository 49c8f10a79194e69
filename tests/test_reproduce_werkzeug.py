"""Werkzeug defects D5-D11, reproduced on the real release with portfix disabled
and gone with portfix on: the same test, both ways."""

import json
import re

import pytest

from _support import BOUND_SPY, MODES, affected, gate_patches, ipv6_loopback, http_get, patched, probe, shows_defect, start

WSGI = """
def app(environ, start_response):
    body = ("pid %d" % os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
import werkzeug.serving
"""


@pytest.mark.parametrize("disabled", MODES)
def test_d5_running_on_line_shows_the_bound_port(disabled):
    code = WSGI + BOUND_SPY + """
werkzeug.serving.run_simple("127.0.0.1", 0, app)
"""
    ports = {}
    with start(code, disabled) as child:
        while len(ports) < 2:
            seen = child.wait_for(re.compile(r"Running on https?://[^:]+:(\d+)|BOUND (\d+) PID"), 30)
            ports["logged" if seen.group(1) else "bound"] = int(seen.group(1) or seen.group(2))
        logged, bound = ports["logged"], ports["bound"]
        if shows_defect("D5", disabled):
            assert logged == 0
        else:
            assert logged == bound != 0
            assert http_get(bound)[0] == 200


PORT_ATTRIBUTES = WSGI + """
server = CONSTRUCTION
real = server.socket.getsockname()[1]
report(real=real, port=getattr(server, "port", "missing"), server_port=server.server_port,
       server_address=list(server.server_address)[:2])
"""

# make_server, and servers built directly (code that imported make_server or
# the classes before portfix was imported, or never calls make_server).
CONSTRUCTIONS = [
    'werkzeug.serving.make_server("127.0.0.1", 0, app)',
    'werkzeug.serving.BaseWSGIServer("127.0.0.1", 0, app)',
    'werkzeug.serving.ThreadedWSGIServer("127.0.0.1", 0, app)',
    'werkzeug.serving.ForkingWSGIServer("127.0.0.1", 0, app)',
    'werkzeug.serving.make_server("::1", 0, app)',
]


@pytest.mark.parametrize("construction", CONSTRUCTIONS, ids=["make_server", "Base", "Threaded", "Forking", "make_server-ipv6"])
@pytest.mark.parametrize("disabled", MODES)
def test_d7_d8_server_port_attributes(disabled, construction):
    host = "::1" if "::1" in construction else "127.0.0.1"
    if host == "::1" and not ipv6_loopback():
        pytest.skip("no IPv6 loopback on this machine")
    result = probe(PORT_ATTRIBUTES.replace("CONSTRUCTION", construction), disabled)
    real = result["real"]
    assert result["server_address"] == [host, real]
    assert result["server_port"] == real
    if shows_defect("D7", disabled):
        assert result["port"] == "missing"
    elif shows_defect("D8", disabled):
        assert result["port"] == 0
    else:
        assert result["port"] == real


FD_PATH = WSGI + """
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(5)
real = listener.getsockname()[1]
server = werkzeug.serving.make_server("127.0.0.1", 0, app, fd=listener.fileno())
report(real=real, port=getattr(server, "port", "missing"), server_port=getattr(server, "server_port", "missing"),
       server_address=list(server.server_address)[:2])
"""


@pytest.mark.parametrize("disabled", MODES)
def test_d9_fd_path_reports_the_passed_socket(disabled):
    import inspect

    import werkzeug.serving

    if "fd" not in inspect.signature(werkzeug.serving.make_server).parameters:
        pytest.skip("make_server has no fd path before Werkzeug 0.11")
    result = probe(FD_PATH, disabled)
    real = result["real"]
    assert result["server_address"] == ["127.0.0.1", real]
    if shows_defect("D9", disabled):
        assert result["port"] != real and result["server_port"] != real
    elif affected("D8") and disabled:
        assert result["port"] == 0
    else:
        assert result["port"] == real
        # Werkzeug >= 2.1 no longer sets server_port on the fd path: missing, never wrong.
        assert result["server_port"] in (real, "missing")


OUT_OF_RANGE = WSGI + """
try:
    server = werkzeug.serving.make_server("127.0.0.1", 70000, app)
    report(outcome="bound", port=server.socket.getsockname()[1])
except (TypeError, ValueError, OverflowError) as exc:
    report(outcome=type(exc).__name__, message=str(exc))
except OSError as exc:
    report(outcome="OSError", message=str(exc))
except SystemExit as exc:  # Werkzeug >= 2.1 exits on EADDRINUSE (pallets/werkzeug#2687)
    report(outcome="SystemExit", message="address in use (exit %s)" % (exc.code,))
"""


@pytest.mark.parametrize("disabled", MODES)
def test_d11_out_of_range_port_is_rejected(disabled):
    result = probe(OUT_OF_RANGE, disabled)
    if shows_defect("D11", disabled):
        # 70000 wrapped to 70000 - 65536 = 4464 (bound, or busy there).
        assert result["outcome"] == "bound" and result["port"] == 4464 or "in use" in result.get("message", "")
    elif not disabled and any(patched(d) for d in ("D7", "D8", "D9", "D11")):  # the server patch validates
        assert result["outcome"] == "ValueError" and "70000" in result["message"]
    else:
        assert result["outcome"] == "OverflowError", result


@pytest.mark.parametrize("disabled", MODES)
def test_d11_run_simple_with_reloader_rejects_before_binding(disabled, tmp_path):
    code = WSGI + """
try:
    werkzeug.serving.run_simple("127.0.0.1", 70000, app, use_reloader=True)
except (TypeError, ValueError, OverflowError) as exc:
    report(outcome=type(exc).__name__, message=str(exc))
"""
    with start(code, disabled, path=tmp_path / "app.py") as child:
        seen = child.wait_for(re.compile(r"^RESULT (.*)|Running on \S+:4464\b|in use"), 30)
        if shows_defect("D11", disabled):
            # the reloader parent bound 70000 - 65536 = 4464 (or found it busy:
            # another test run may hold it)
            assert seen.group(1) is None, child.output()
            return
        result = json.loads(seen.group(1))
    if not disabled and "werkzeug.serving.run_simple" in gate_patches():  # it validates where patched
        assert result["outcome"] == "ValueError" and "70000" in result["message"]
    else:
        assert result["outcome"] == "OverflowError", result
