"""What ``import portfix`` does, observed in fresh interpreters: prints nothing,
honours PORTFIX_DISABLE, and on fixed releases replaces, adds and removes
nothing in flask, werkzeug, socket, socketserver or http.server."""

import json
import re
import subprocess
import sys

import pytest

from _support import GATE, gate_patches, installed
from portfix._registry import TARGETS
from portfix._gate import decide, read_versions

WATCHED = ["flask", "flask.app", "werkzeug", "werkzeug.serving", "werkzeug._reloader", "socket", "socketserver", "http.server"]

# Describes every attribute of the watched modules and of the classes they
# define: identity within one process, and a stable description across two.
SNAPSHOT = "WATCHED = %r\n" % (WATCHED,) + """
import importlib, json, sys, types
def describe(value):
    # type() and never isinstance(): Flask's proxies (current_app) raise on __class__.
    if type(value) is types.FunctionType:
        code = value.__code__
        return "function %s %s:%d" % (value.__qualname__, code.co_filename.rsplit("/", 1)[-1], code.co_firstlineno)
    if issubclass(type(value), type):
        return "class %s.%s" % (value.__module__, value.__qualname__)
    return "value %s" % type(value).__name__
def snapshot():
    ids, text = {}, {}
    modules = []
    for name in WATCHED:  # import all first: a submodule import adds to its package
        try:
            modules.append((name, importlib.import_module(name)))
        except ImportError:
            pass
    for name, module in modules:
        spaces = [(name, vars(module))]
        for attr, value in list(vars(module).items()):
            if issubclass(type(value), type) and value.__module__ == name:
                spaces.append(("%s.%s" % (name, attr), dict(vars(value))))
        for prefix, space in spaces:
            for attr, value in space.items():
                if attr in ("__doc__", "__dict__", "__weakref__"):
                    continue
                key = "%s:%s" % (prefix, attr)
                ids[key] = id(value)
                text[key] = describe(value)
    return ids, text
"""


def run(code, env=None, flags=()):
    environ = {"PORTFIX_DISABLE": None}
    environ.update(env or {})
    import os

    full = dict(os.environ)
    for key, value in environ.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    result = subprocess.run(
        [sys.executable] + list(flags) + ["-c", code],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full, universal_newlines=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result


def fixed_cell():
    return not any(d.applies for d in GATE)


def test_import_prints_nothing():
    preload = "import flask\n" if installed("flask") else ""
    preload += "import werkzeug.serving\n"
    bare = run(preload, flags=["-W", "always"])
    with_portfix = run(preload + "import portfix\n", flags=["-W", "always"])
    assert with_portfix.stdout == bare.stdout == ""
    assert with_portfix.stderr == bare.stderr  # whatever the releases warn about themselves, nothing more


# Imported first, portfix reads the versions from the dist-info folders and
# imports neither distribution; where it has to import one to read its
# version (an egg-info install), only that module's own warnings may show.
IMPORTED_FIRST = """
import sys
import portfix
sys.stderr.flush()
print(",".join(name for name in ("flask", "werkzeug") if name in sys.modules))
"""


def test_import_prints_nothing_when_imported_first():
    result = run(IMPORTED_FIRST, flags=["-W", "always"])
    (line,) = result.stdout.splitlines()  # the child's one line: nothing else on stdout
    imported = [name for name in line.split(",") if name]
    assert set(imported) <= {"flask", "werkzeug"} and line == ",".join(imported), result.stdout
    bare = run("".join("import %s\n" % name for name in imported), flags=["-W", "always"])
    assert result.stderr == bare.stderr


@pytest.mark.parametrize("disable", [None, "1"])
def test_portfix_imported_last_replaces_nothing_on_fixed_releases(disable):
    code = SNAPSHOT + """
before_ids, before_text = snapshot()
import portfix
after_ids, after_text = snapshot()
changed = sorted(k for k in set(before_ids) | set(after_ids) if before_ids.get(k) != after_ids.get(k))
print(json.dumps(changed))
"""
    changed = json.loads(run(code, env={"PORTFIX_DISABLE": disable}).stdout)
    if fixed_cell() or disable:
        assert changed == []
    else:
        # Exactly the patched targets changed, nothing else.
        expected = set()
        for name, target in TARGETS.items():
            if name in gate_patches():
                owner = target.module + ("." + target.owner if target.owner else "")
                expected.add("%s:%s" % (owner, target.attribute))
        assert set(changed) == expected


@pytest.mark.parametrize("disable", [None, "1"])
def test_portfix_imported_first_replaces_nothing_on_fixed_releases(disable):
    show = SNAPSHOT + "\nprint(json.dumps(snapshot()[1], sort_keys=True))\n"
    first = json.loads(run("import portfix\n" + show, env={"PORTFIX_DISABLE": disable}).stdout)
    without = json.loads(run(show).stdout)
    differing = sorted(k for k in set(first) | set(without) if first.get(k) != without.get(k))
    if fixed_cell() or disable:
        assert differing == []
    else:
        assert differing and all(first[k].endswith(tuple(":%d" % n for n in range(10000))) for k in differing)
        assert all("_flask.py" in first[k] or "_werkzeug.py" in first[k] for k in differing)


STATE = """
import json, os
{before}
import portfix
{after}
from portfix._registry import TARGETS, Registry
report = {{}}
for name, target in TARGETS.items():
    try:
        owner, current = Registry().locate(target)
    except (ImportError, AttributeError):
        continue
    report[name] = hasattr(current, "__wrapped__") and current.__module__ in ("flask.app", "werkzeug.serving", "werkzeug._reloader") and "portfix" in current.__code__.co_filename
print(json.dumps({{"patched": report, "status": [[s.defect, s.applied, s.reason] for s in portfix.status()]}}))
"""


def _expected_patched():
    decisions = GATE
    return dict(
        (name, any(d.applies and name in d.defect.targets for d in decisions)) for name in TARGETS
    )


def _state(before="", after="", env=None):
    return json.loads(run(STATE.format(before=before, after=after), env=env).stdout)


@pytest.mark.parametrize("value", ["1", "true", "YES", "on", "banana"])
def test_kill_switch_set_patches_nothing(value):
    state = _state(env={"PORTFIX_DISABLE": value})
    assert not any(state["patched"].values())
    assert not any(applied for _, applied, _ in state["status"])
    for defect, _, reason in state["status"]:
        if "PORTFIX_DISABLE" not in reason:
            assert not [d for d in decide(read_versions()) if d.defect.id == defect and d.applies]


@pytest.mark.parametrize("value", [None, "0", "", "false", "off"])
def test_kill_switch_unset_patches_what_the_gate_says(value):
    state = _state(env={"PORTFIX_DISABLE": value})
    expected = _expected_patched()
    for name, is_patched in state["patched"].items():
        assert is_patched == expected[name], name


IMPORTS = ["import flask", "import werkzeug.serving", "import flask\nimport werkzeug.serving"]


@pytest.mark.parametrize("imports", IMPORTS)
@pytest.mark.parametrize("portfix_first", [True, False], ids=["portfix-first", "portfix-last"])
def test_import_order_does_not_matter(imports, portfix_first):
    if "flask" in imports and not installed("flask"):
        imports = "import werkzeug.serving"
    state = _state(after=imports) if portfix_first else _state(before=imports)
    expected = _expected_patched()
    for name, is_patched in state["patched"].items():
        assert is_patched == expected[name], name


def test_make_server_imported_before_portfix_reports_the_bound_port():
    code = """
from werkzeug.serving import make_server
import portfix
server = make_server("127.0.0.1", 0, lambda e, s: [])
real = server.socket.getsockname()[1]
print(json.dumps([real, getattr(server, "port", None), server.server_port]))
server.server_close()
"""
    real, port, server_port = json.loads(run("import json\n" + code).stdout)
    assert server_port == real
    if not fixed_cell():
        assert port == real


# ---------------------------------------------------------------- what `import portfix` loads (#11)

LOADED = """
import json, sys
{before}
serving_before = "werkzeug.serving" in sys.modules
import portfix
loaded = sorted(m for m in sys.modules if m.startswith("portfix"))
hooked = [type(f).__module__ for f in sys.meta_path if type(f).__module__.startswith("portfix")]
waiting = sorted(sys.modules["portfix._hooks"].waiting()) if "portfix._hooks" in sys.modules else []
{after}
print(json.dumps({{"loaded": loaded, "hooked": hooked, "waiting": waiting, "serving_before": serving_before,
                  "hooked_after": [type(f).__module__ for f in sys.meta_path if type(f).__module__.startswith("portfix")]}}))
"""
# Needed on no release to decide and apply the patches: loaded on first use.
ON_FIRST_USE = ["portfix._errors", "portfix._serve", "portfix._holder", "portfix._check", "portfix._check_child",
                "portfix._process", "portfix._lifeline"]


def _loaded(before="", after=""):
    preload = "import flask" if installed("flask") else "import werkzeug"
    return json.loads(run(LOADED.format(before=before or preload, after=after)).stdout)


def test_import_loads_only_what_deciding_and_patching_need():
    result = _loaded()
    assert not set(ON_FIRST_USE) & set(result["loaded"])
    if fixed_cell():
        # The policy alone says that nothing applies: not even the table is read.
        assert result["loaded"] == ["portfix", "portfix._versions"]


def test_the_import_hook_leaves_sys_meta_path_once_nothing_waits():
    result = _loaded(after=(
        "import werkzeug.serving\ntry:\n    import werkzeug._reloader\nexcept ImportError:\n    pass\n"  # Werkzeug >= 0.11
        "from portfix import _hooks\nassert _hooks.waiting() == []"))
    # It is there only while a patch waits for its module (werkzeug.serving
    # on Werkzeug < 2.1, imported by Flask only when a server starts).
    assert result["hooked"] == (["portfix._hooks"] if result["waiting"] else [])
    if any(name.startswith("werkzeug.serving.") for name in gate_patches()) and not result["serving_before"]:
        # werkzeug.serving was not imported with Flask (or Werkzeug) here, so
        # a patch waited for it: this cell does exercise the hook.
        assert result["waiting"]
    assert result["hooked_after"] == []


REVERTED = """
import json, sys
{preload}
import portfix
portfix.revert()
hooked = [type(f).__module__ for f in sys.meta_path]
import werkzeug.serving
{flask}
print(json.dumps({{"hooked": hooked, "applied": [s.defect for s in portfix.status() if s.applied]}}))
"""


# Imported first, portfix waits for Flask and Werkzeug themselves too (to read
# their versions again from the copies imported): on a fixed release that is
# all that waits, and revert() takes that hook out as well.
@pytest.mark.parametrize("first", [False, True], ids=["after-flask", "portfix-first"])
def test_revert_takes_the_waiting_hook_out_of_sys_meta_path(first):
    flask = "import flask" if installed("flask") else ""
    code = REVERTED.format(preload="" if first else (flask or "import werkzeug"), flask=flask)
    result = json.loads(run(code).stdout)
    assert "portfix._hooks" not in result["hooked"]
    assert result["applied"] == []  # nothing patched when the distributions were imported after the revert


BLOCKED = """
import json, sys
{preload}
import portfix
waiting = sorted(sys.modules["portfix._hooks"].waiting()) if "portfix._hooks" in sys.modules else []
sys.modules["werkzeug.serving"] = None  # its import now fails: ImportError
print(json.dumps({{"waiting": waiting, "records": [[s.defect, list(s.targets), s.applied, s.reason]
                                                   for s in portfix.status()]}}))
"""


def test_status_names_a_module_waited_for_that_does_not_import():
    # Werkzeug alone: some Flask releases import werkzeug.serving themselves.
    result = json.loads(run(BLOCKED.format(preload="import werkzeug")).stdout)
    if "werkzeug.serving" not in result["waiting"]:
        pytest.skip("nothing waits for werkzeug.serving here (a fixed release, or Werkzeug imports it itself)")
    waited = [r for r in result["records"] if any(t.startswith("werkzeug.serving.") for t in r[1]) and r[3] != "patched"
              and not r[3].startswith(("not affected", "off:"))]
    assert waited, result["records"]
    for defect, targets, applied, reason in waited:
        assert not applied
        # ModuleNotFoundError (an ImportError) from Python 3.6 on, for a None in sys.modules.
        assert re.match(r"not patched: werkzeug\.serving does not import: (ModuleNotFound|Import)Error: ", reason), (
            defect, reason)


PUBLIC = ["BindError", "PatchStatus", "PortFileError", "PortInUseError", "Server", "apply", "original", "revert", "serve",
          "status", "__version__"]


def test_the_public_names_import_from_portfix():
    code = """
import json, sys
import portfix
from portfix import {names}
import portfix._werkzeug  # imports _errors itself, as the server patch does
print(json.dumps({{
    "all": sorted(portfix.__all__),
    "dir": sorted(n for n in dir(portfix) if n in portfix.__all__),
    "modules": dict((n, getattr(portfix, n).__module__) for n in ("BindError", "PortFileError", "PortInUseError", "PatchStatus", "Server")),
    "same": portfix.serve is sys.modules["portfix._serve"].serve and portfix.PortInUseError is sys.modules["portfix._errors"].PortInUseError,
    "version": portfix.__version__,
}}))
""".format(names=", ".join(PUBLIC))
    result = json.loads(run(code).stdout)
    assert result["all"] == sorted(PUBLIC) == result["dir"]
    assert result["modules"] == dict((n, "portfix") for n in result["modules"])
    assert result["same"] and result["version"]


def test_a_public_error_raised_before_its_name_was_used_shows_the_public_path():
    # _errors is loaded by the server patch (or serve()), not through portfix.PortInUseError.
    code = """
import json, socket, traceback
import portfix
from portfix import _serve
blocker = socket.socket()
blocker.bind(("127.0.0.1", 0))
blocker.listen(1)
try:
    _serve.serve(lambda e, s: [], port=blocker.getsockname()[1])
except OSError as exc:
    print(json.dumps(traceback.format_exception_only(type(exc), exc)[0].split(":")[0]))
"""
    assert json.loads(run(code).stdout) == "portfix.PortInUseError"


def test_an_unknown_name_raises_attribute_error():
    code = """
import portfix
try:
    portfix.no_such_name
except AttributeError as exc:
    print(exc)
"""
    assert "no_such_name" in run(code).stdout


# The copy of Flask imported is not the one `import portfix` read the version
# of: a folder first on sys.path holds the installed Flask's own code next to
# a dist-info folder named for a release on the other side of the policy
# line (a stale folder left by an upgrade).  Read before the import, the
# folder's name is all there is; once Flask is imported its own __version__
# is, and portfix decides again on that, before the importer gets Flask.
DISAGREEING = """
import json, sys
sys.path.insert(0, sys.argv[1])
{first}
{second}
from portfix._registry import TARGETS, Registry
owner, run_now = Registry().locate(TARGETS["flask.Flask.run"])
print(json.dumps({{"installed": [s.installed for s in portfix.status() if s.distribution == "flask"][0],
                  "patched": "portfix" in run_now.__code__.co_filename,
                  "imported_from": flask.__file__}}))
"""


@pytest.mark.parametrize("portfix_first", [True, False], ids=["portfix-first", "flask-first"])
def test_a_dist_info_folder_that_disagrees_with_the_code_is_corrected_at_the_import(tmp_path, portfix_first):
    import importlib
    import os
    import shutil

    if not installed("flask"):
        pytest.skip("no Flask in this cell")
    flask = importlib.import_module("flask")
    version = vars(flask).get("__version__")
    if not isinstance(version, str):
        pytest.skip("Flask %s has no __version__ of its own: its dist-info folder is its version" % installed("flask"))
    shutil.copytree(os.path.dirname(flask.__file__), str(tmp_path / "flask"))
    other = "2.0.3" if version.startswith(("0.", "1.")) else "1.0.2"
    info = tmp_path / ("flask-%s.dist-info" % other)
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: Flask\nVersion: %s\n" % other)
    imports = ["import portfix", "import flask"]
    code = DISAGREEING.format(first=imports[not portfix_first], second=imports[portfix_first])
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, universal_newlines=True, timeout=60,
                            env=dict((k, v) for k, v in os.environ.items() if k != "PORTFIX_DISABLE"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["imported_from"].startswith(str(tmp_path))
    assert report["installed"] == version
    expected = [d for d in decide(dict(read_versions(), flask=version)) if "flask.Flask.run" in d.defect.targets]
    assert report["patched"] == any(d.applies for d in expected)
