"""apply(), revert(), status() on the real targets of this cell, in a fresh
interpreter each (they change process-wide state)."""

import json
import os
import subprocess
import sys

from _support import CAPTURE_LOG
from portfix._registry import TARGETS
from portfix._gate import decide, decide_features, read_versions


def run(code, env=None):
    environ = dict(os.environ)
    environ.pop("PORTFIX_DISABLE", None)
    environ.update(env or {})
    result = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=environ, universal_newlines=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


# Defects that apply, and the features that are on without any switch.
DECISIONS = decide(read_versions()) + decide_features(read_versions(), set())
EXPECTED = sorted(name for name in TARGETS if any(d.applies and name in d.defect.targets for d in DECISIONS))

CURRENT = """
import json, threading
import portfix
from portfix._registry import TARGETS, Registry
def current():
    found = {}
    for name, target in sorted(TARGETS.items()):
        try:
            found[name] = Registry().locate(target)[1]
        except (ImportError, AttributeError):
            pass
    return found
"""


def test_revert_restores_the_very_same_objects_and_apply_again_works():
    code = CURRENT + """
patched = current()
originals = dict((n, portfix.original(n)) for n in patched)
portfix.revert()
reverted = current()
same = dict((n, reverted[n] is originals[n]) for n in patched if originals[n] is not None)
untouched = [n for n in patched if originals[n] is None and reverted[n] is patched[n]]
portfix.apply()
again = current()
wrapped_once = dict((n, getattr(again[n], "__wrapped__", None) is originals[n]) for n in patched if originals[n] is not None)
print(json.dumps({"same": same, "untouched": untouched, "wrapped_once": wrapped_once,
                  "applied": sorted(s.defect for s in portfix.status() if s.applied)}))
"""
    result = run(code)
    assert sorted(result["same"]) == EXPECTED and all(result["same"].values())
    assert sorted(result["wrapped_once"]) == EXPECTED and all(result["wrapped_once"].values())
    assert sorted(result["untouched"]) == sorted(set(TARGETS) - set(EXPECTED) & set(result["untouched"]))
    assert result["applied"] == sorted(d.defect.id for d in DECISIONS if d.applies)


def test_a_fresh_state_after_revert_applies_as_import_did():
    # _control.State is all of apply()'s memory: a new one is a process as
    # `import portfix` found it, which is how a test resets portfix.
    code = CURRENT + """
from portfix import _control
before = current()
portfix.revert()
_control.state = _control.State()
assert [s.defect for s in portfix.status() if s.applied] == []
portfix.apply()
after = current()
print(json.dumps({"applied": sorted(s.defect for s in portfix.status() if s.applied),
                  "same": dict((n, after[n] is not before[n] and after[n].__wrapped__ is before[n].__wrapped__)
                               for n in before if hasattr(before[n], "__wrapped__"))}))
"""
    result = run(code)
    assert result["applied"] == sorted(d.defect.id for d in DECISIONS if d.applies)
    assert sorted(result["same"]) == EXPECTED and all(result["same"].values())


def test_apply_from_eight_threads_patches_each_target_once():
    code = CURRENT + """
portfix.revert()
barrier = threading.Barrier(8)
def worker():
    barrier.wait()
    portfix.apply()
threads = [threading.Thread(target=worker) for _ in range(8)]
[t.start() for t in threads]
[t.join(20) for t in threads]
now = current()
print(json.dumps(dict((n, getattr(now[n], "__wrapped__", None) is portfix.original(n)) for n in now if portfix.original(n) is not None)))
"""
    result = run(code)
    assert sorted(result) == EXPECTED and all(result.values())


def test_status_records_are_typed_and_complete():
    import portfix
    from portfix._defects import DEFECTS, FEATURES

    records = portfix.status()
    assert [r.defect for r in records] == [d.id for d in DEFECTS + FEATURES]
    for record in records:
        assert isinstance(record, portfix.PatchStatus)
        assert isinstance(record.applied, bool) and record.reason
        assert record.installed is None or isinstance(record.installed, str)


def test_a_target_wrapped_before_import_is_reported_not_patched():
    code = CAPTURE_LOG + """
import functools, json
import werkzeug.serving
theirs = werkzeug.serving.BaseWSGIServer.__init__
@functools.wraps(theirs)
def wrapper(self, *args, **kwargs):
    return theirs(self, *args, **kwargs)
werkzeug.serving.BaseWSGIServer.__init__ = wrapper
import portfix
status = dict((s.defect, s.reason) for s in portfix.status())
print(json.dumps({"kept": werkzeug.serving.BaseWSGIServer.__init__ is wrapper, "warnings": records, "status": status}))
"""
    result = run(code)
    assert result["kept"]
    server_defects = [d.defect.id for d in decide(read_versions()) if d.applies and "werkzeug.serving.BaseWSGIServer.__init__" in d.defect.targets]
    for defect in server_defects:
        assert "not the pristine" in result["status"][defect]
    assert len(result["warnings"]) == (1 if server_defects else 0)


def test_apply_never_raises_when_a_patch_fails():
    # import portfix runs this same apply(); the package is loaded disabled so
    # that the failure can be put in place before apply() runs.
    code = CAPTURE_LOG + """
import json, os
import portfix
import portfix._registry as registry
def broken(original, active):
    raise RuntimeError("simulated patch failure")
for name in list(registry.TARGETS):
    registry.TARGETS[name] = registry.TARGETS[name]._replace(make=broken)
del os.environ["PORTFIX_DISABLE"]
portfix.apply()
print(json.dumps({"applied": [s.defect for s in portfix.status() if s.applied], "warnings": records}))
"""
    result = run(code, env={"PORTFIX_DISABLE": "1"})
    assert result["applied"] == []
    assert len(result["warnings"]) == len(EXPECTED)
    assert all("simulated patch failure" in w for w in result["warnings"])
