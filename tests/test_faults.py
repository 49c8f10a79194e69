"""Faults: a server stopped by a signal, twenty reloads in a row, apply() raced
from eight threads, and ``import portfix`` in broken environments.

Every child runs on loopback, every wait has a deadline, and every child is
stopped by its pid (``Child`` signals its own process group).
"""

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import time
import textwrap

import pytest

from portfix._registry import TARGETS
from portfix._portfile import read_port_file
from portfix._process import ChildTimeout

from _support import BOUND, BOUND_SPY, gate_patches, http_get, installed, probe, serve_pid_program, start


# The test runner may itself run with SIGINT ignored (a background job), and
# a child inherits that; restore what an interactive Ctrl+C would meet.
SIGINT_AS_USUAL = """
import signal
signal.signal(signal.SIGINT, signal.default_int_handler)
"""


def _program(options=""):
    """app.run(host="127.0.0.1", port=0) -- run_simple in a cell without Flask."""
    return SIGINT_AS_USUAL + BOUND_SPY + serve_pid_program(options)


def _refused(port, host="127.0.0.1"):
    sock = socket.socket()
    try:
        sock.settimeout(5)
        return sock.connect_ex((host, port)) == errno.ECONNREFUSED
    finally:
        sock.close()


def _targets_the_gate_patches():
    """Sorted names of the targets portfix patches on this cell (defects and always-on features)."""
    return gate_patches()


# ---------------------------------------------------------------- shutdown

@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_nothing_listens_after_the_server_is_stopped_by(signum):
    with start(_program(), disabled=False) as child:
        port, pid = (int(n) for n in child.wait_for(BOUND, 30).groups())
        assert pid == child.pid and port != 0
        assert http_get(port) == (200, "pid %d" % pid)
        os.kill(child.pid, signum)
        code = child.wait_exit(15)
        # SIGINT: Werkzeug's serve_forever stops on KeyboardInterrupt and the
        # child exits on its own; SIGTERM: the default action kills it.
        assert code == (-signal.SIGTERM if signum == signal.SIGTERM else 0), child.output()
        assert _refused(port), "port %d still accepts connections after %s" % (port, signum)


# ---------------------------------------------------------------- reloader

RELOADS = 20


def _reloader_options():
    import inspect

    import werkzeug.serving

    accepted = inspect.signature(werkzeug.serving.run_simple).parameters
    options = ", use_reloader=True"
    if "reloader_type" in accepted:  # Werkzeug >= 0.10
        options += ", reloader_type='stat'"
    if "reloader_interval" in accepted:
        options += ", reloader_interval=0.1"
    return options


def _next_worker(child, timeout):
    """(port, pid) of the next server a reloader worker builds.

    The reloader parent is the child itself; Werkzeug >= 2.1 builds a server
    object there too (without serving), earlier releases a bare socket.
    """
    deadline = time.monotonic() + timeout
    while True:
        port, pid = (int(n) for n in child.wait_for(BOUND, max(deadline - time.monotonic(), 0.01)).groups())
        if pid != child.pid:
            return port, pid


def _reload(child, script, count):
    """Touch the script until a new worker comes up; return its (port, pid).

    The stat reloader records each file's mtime on its first scan and then
    restarts only on a newer one: a touch that lands before that first scan
    goes unnoticed, so touch again (later each time) until a worker appears.
    """
    deadline = time.monotonic() + 40
    attempt = 0
    while True:
        attempt += 1
        stamp = time.time() + 100 * count + attempt
        os.utime(str(script), (stamp, stamp))
        try:
            return _next_worker(child, min(3.0, max(deadline - time.monotonic(), 0.01)))
        except ChildTimeout:
            if child.process.poll() is not None or time.monotonic() > deadline:
                raise


def _server_may_start_before_the_first_scan():
    """Werkzeug < 2.0 starts the app thread, which builds the server, and
    then the reloader, whose first scan records the mtimes: a touch right
    after the new server's line may come before that scan and go unnoticed
    (_reload then touches again after 3 s).  From 2.0.0 run_with_reloader
    enters the reloader, which scans once, before it starts the app thread."""
    from portfix._versions import matches

    return matches(installed("werkzeug"), "<2.0")


def test_twenty_reloads_keep_the_port_and_the_port_file(tmp_path):
    script = tmp_path / "app.py"
    port_file = str(tmp_path / "port")
    env = {"PORTFIX_PORT_FILE": port_file}
    with start(_program(_reloader_options()), disabled=False, path=script, env=env) as child:
        port, pid = _next_worker(child, 40)
        assert port != 0
        assert http_get(port) == (200, "pid %d" % pid)
        assert read_port_file(port_file) == port
        inode = os.stat(port_file).st_ino
        seen = [pid]
        for count in range(1, RELOADS + 1):
            if _server_may_start_before_the_first_scan():
                time.sleep(0.3)  # let the new worker's reloader take its first scan
            new_port, new_pid = _reload(child, script, count)
            assert new_pid not in seen, "reload %d: no new worker" % count
            assert new_port == port, "reload %d moved the server from %d to %d" % (count, port, new_port)
            assert http_get(port) == (200, "pid %d" % new_pid), "reload %d" % count
            assert read_port_file(port_file) == port, "reload %d" % count
            assert os.stat(port_file).st_ino == inode, "reload %d rewrote the port file" % count
            seen.append(new_pid)
    assert len(seen) == RELOADS + 1


# ---------------------------------------------------------------- apply() raced from threads

RACE = """
import logging, threading, time
from portfix import _control, _registry
from portfix._registry import Registry

os.environ.pop("PORTFIX_DISABLE")  # imported disabled: this test makes the first apply()
assert not _control.disabled()
for name in ("flask.app", "werkzeug.serving", "werkzeug._reloader"):
    try:
        __import__(name)
    except ImportError:
        pass

records = []
class _Keep(logging.Handler):
    def emit(self, record):
        records.append((record.levelno, record.getMessage()))
logging.getLogger("portfix").addHandler(_Keep())
logging.getLogger("portfix").setLevel(logging.DEBUG)

# Count how often each replacement is built, and build slowly, so that
# threads that were not kept apart by the lock would build (and patch) twice.
builds = {}
for name, target in list(_registry.TARGETS.items()):
    def make(original, active, _make=target.make, _name=name):
        builds[_name] = builds.get(_name, 0) + 1
        time.sleep(0.05)
        return _make(original, active)
    _registry.TARGETS[name] = target._replace(make=make)

def current():
    found = {}
    for name, target in _registry.TARGETS.items():
        try:
            found[name] = Registry().locate(target)[1]
        except (ImportError, AttributeError):
            pass
    return found

def race():
    barrier = threading.Barrier(8)
    results = []
    def worker():
        barrier.wait(10)
        results.append(tuple(s.applied for s in portfix.apply()))
    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not any(thread.is_alive() for thread in threads)
    return results

def patched_records():
    return sorted(m.split()[2] for level, m in records if level == logging.DEBUG and m.startswith("portfix: patched "))

before = current()
rounds = []
for round in range(2):
    results = race()
    during = current()
    rounds.append(dict(
        results=len(results), agree=len(set(results)) == 1,
        replaced=sorted(n for n in before if during[n] is not before[n]),
        originals_kept=sorted(n for n in before if portfix.original(n) is before[n]),
        builds=dict(builds), patched=patched_records(),
    ))
    portfix.revert()
    after = current()
    rounds[-1]["restored"] = sorted(n for n in before if after[n] is before[n])
report(found=sorted(before), rounds=rounds, warnings=[m for level, m in records if level >= logging.WARNING])
"""


def test_apply_from_eight_threads_patches_each_target_once():
    result = probe(RACE, disabled=True)
    expected = _targets_the_gate_patches()
    found = result["found"]
    assert result["warnings"] == []
    for number, state in enumerate(result["rounds"], 1):
        assert state["results"] == 8 and state["agree"], state
        assert state["replaced"] == expected, state
        assert state["builds"] == dict((name, number) for name in expected), state
        assert state["patched"] == sorted(expected * number), state
        assert state["originals_kept"] == expected, state  # the first original wins, in round 2 too
        assert state["restored"] == found, state  # revert() put back the very objects


# ---------------------------------------------------------------- import in broken environments

# The targets' objects before ``import portfix``, and what they are after it;
# what portfix logged (as CAPTURE_LOG in _support, with the levels kept).
STATE = """
import importlib, json, logging, sys
records_with_levels = []
class _KeepLevels(logging.Handler):
    def emit(self, record):
        records_with_levels.append((record.levelno, record.getMessage()))
logging.getLogger("portfix").addHandler(_KeepLevels())
SPECS = {specs!r}

def current():
    found = {{}}
    for name, (module, owner, attribute) in SPECS.items():
        try:
            obj = importlib.import_module(module)
            for part in filter(None, owner.split(".")):
                obj = getattr(obj, part)
        except (ImportError, AttributeError):
            continue
        found[name] = vars(obj).get(attribute)
    return found

{setup}
before = current()
try:
    import portfix
    raised = None
except BaseException as exc:
    raised = repr(exc)
after = current()
print("RESULT " + json.dumps(dict(
    raised=raised,
    untouched=sorted(n for n in before if after.get(n) is before[n]),
    replaced=sorted(n for n in before if after.get(n) is not before[n]),
    warnings=[m for level, m in records_with_levels if level >= logging.WARNING],
    flask_module=repr(sys.modules["flask"]) if "flask" in sys.modules else "absent",
)))
"""

SPECS = dict((name, (t.module, t.owner, t.attribute)) for name, t in TARGETS.items())


def _import_in(setup):
    code = STATE.format(specs=SPECS, setup=textwrap.dedent(setup))
    environ = dict(os.environ)
    environ.pop("PORTFIX_DISABLE", None)
    done = subprocess.run(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=environ, universal_newlines=True, timeout=60,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    return json.loads(lines[-1][len("RESULT "):])


def _of(distribution):
    return sorted(name for name in TARGETS if name.startswith(distribution + "."))


def _gate_patches(distribution):
    return [name for name in _targets_the_gate_patches() if name.startswith(distribution + ".")]


# Makes the distribution's version unreadable: no __version__ in its
# namespace, no dist-info folder beside it, and the metadata reader portfix uses (importlib.metadata on 3.8+,
# the importlib_metadata backport on 3.6/3.7) knows no such distribution.
# Only this one: the other distribution's version must still be read.
NO_METADATA = """
import {module}
vars({module}).pop("__version__", None)
# No dist-info folder next to the package either (portfix reads its name first).
import os
_listdir = os.listdir
def _without_dist_info(path="."):
    return [e for e in _listdir(path) if not (e.lower().startswith("{module}-") and e.endswith(".dist-info"))]
os.listdir = _without_dist_info
try:
    from importlib import metadata as _metadata
except ImportError:
    import importlib_metadata as _metadata
_real_version = _metadata.version
def _version(name):
    if name.lower() == "{module}":
        raise _metadata.PackageNotFoundError(name)
    return _real_version(name)
_metadata.version = _version
"""

UNPARSEABLE = """
import {module}
{module}.__version__ = "not a version"
"""


@pytest.mark.parametrize("how", [UNPARSEABLE, NO_METADATA], ids=["unparseable", "no-metadata"])
@pytest.mark.parametrize("distribution", ["werkzeug", "flask"])
def test_import_with_an_unknown_version_leaves_that_distribution_alone(distribution, how):
    if not installed(distribution):
        pytest.skip("%s is not installed in this cell" % distribution)
    other = "flask" if distribution == "werkzeug" else "werkzeug"
    setup = ""
    if installed(other):
        setup = "import flask\n" if other == "flask" else "import werkzeug.serving\n"
    setup += how.format(module=distribution)
    result = _import_in(setup)
    assert result["raised"] is None
    found = result["untouched"] + result["replaced"]
    assert set(_of(distribution)) & set(found) <= set(result["untouched"]), result
    assert sorted(n for n in result["replaced"] if n.startswith(other + ".")) == _gate_patches(other), result
    assert len(result["warnings"]) == 1, result["warnings"]
    assert distribution in result["warnings"][0] and "version" in result["warnings"][0], result["warnings"]


def test_import_without_flask_patches_werkzeug_as_usual():
    """Flask's import blocked: one warning where Flask is installed (its
    metadata says so: a broken or blocked import), none where it is not
    (a Werkzeug-only deployment has nothing to be warned about)."""
    result = _import_in('sys.modules["flask"] = None\nimport werkzeug.serving\n')
    assert result["raised"] is None
    assert result["flask_module"] == "None"  # portfix did not bring it back
    assert result["replaced"] == _gate_patches("werkzeug"), result
    if installed("flask") and _has_metadata_reader():
        assert len(result["warnings"]) == 1, result["warnings"]
        assert "flask" in result["warnings"][0] and "does not import" in result["warnings"][0], result["warnings"]
    else:
        assert result["warnings"] == []


def _has_metadata_reader():
    try:
        from importlib import metadata  # noqa: F401
    except ImportError:
        try:
            import importlib_metadata  # noqa: F401
        except ImportError:
            return False
    return True


WRAPPED = """
import functools, {module}
_theirs = {path}
@functools.wraps(_theirs)
def _wrapper(*args, **kwargs):
    return _theirs(*args, **kwargs)
{path} = _wrapper
"""


@pytest.mark.parametrize(
    "name, module, path",
    [
        ("flask.Flask.run", "flask", "flask.Flask.run"),
        ("werkzeug.serving.run_simple", "werkzeug.serving", "werkzeug.serving.run_simple"),
    ],
)
def test_import_leaves_a_target_someone_else_wrapped(name, module, path):
    if not installed(name.split(".")[0]):
        pytest.skip("%s is not installed in this cell" % name.split(".")[0])
    result = _import_in(WRAPPED.format(module=module, path=path))
    assert result["raised"] is None
    assert name in result["untouched"], result  # their wrapper, not ours, and not unwrapped
    assert name not in result["replaced"]
    if name in _targets_the_gate_patches():
        assert len(result["warnings"]) == 1, result["warnings"]
        assert name in result["warnings"][0], result["warnings"]
    else:  # a fixed release: portfix does not even look
        assert result["warnings"] == []


# The patch builder for run_simple reads the original's signature (to bind
# the caller's arguments the way run_simple does).  A function carrying a
# bogus __signature__ -- as a careless decorator may leave -- still looks
# pristine (right module and qualname, no __wrapped__) but makes
# inspect.signature() raise TypeError inside make_run_simple: a real failure
# inside a patch, provoked without touching portfix's source.
BROKEN_SIGNATURE = """
import werkzeug.serving
werkzeug.serving.run_simple.__signature__ = "not a signature"
"""


def test_import_survives_a_patch_that_raises():
    name = "werkzeug.serving.run_simple"
    result = _import_in(BROKEN_SIGNATURE)
    assert result["raised"] is None
    assert name in result["untouched"], result
    others = [n for n in _targets_the_gate_patches() if n != name]
    assert sorted(result["replaced"]) == others, result  # the other patches still apply
    if name in _targets_the_gate_patches():
        assert len(result["warnings"]) == 1, result["warnings"]
        assert name in result["warnings"][0] and "signature" in result["warnings"][0], result["warnings"]
    else:
        assert result["warnings"] == []
