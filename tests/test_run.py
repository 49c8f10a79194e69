"""``portfix run``: portfix in every Python process a command starts, without editing the app.

Real interpreters, real apps that never import portfix, real signals; every
process is checked gone by its pid.
"""

import glob
import json
import os
import re
import signal
import site
import subprocess
import sys
import textwrap

import pytest

from _runner import (BOOT, PORTFIX_PARENT, START_TIMEOUT, alive, finish, portfix_run, wait_port_file,
                     write_app)
from _support import GATE, RESULT, http_get, installed, wait_running_on
from portfix._process import Child
from portfix._run import environment

PROBE = textwrap.dedent(
    """
    import json, os, sys
    before = ["portfix" in sys.modules, "flask" in sys.modules]
    boot_on_path = [p for p in sys.path if os.path.abspath(p) == %r]
    import werkzeug
    after = "portfix" in sys.modules
    import portfix
    sys.stdout.write("RESULT " + json.dumps(dict(
        before=before, after=after, boot_on_path=boot_on_path, pid=os.getpid(),
        applied=sorted(r.defect for r in portfix.status() if r.applied),
        sitecustomize=getattr(sys.modules.get("sitecustomize"), "__file__", None),
        pythonpath=os.environ["PYTHONPATH"])) + "\\n")
    """
) % (BOOT,)


def result_of(child, timeout=START_TIMEOUT):
    return json.loads(child.wait_for(RESULT, timeout).group(1))


# --- the environment ---------------------------------------------------------------


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
def test_environment_puts_the_boot_folder_first_and_keeps_the_rest(tmp_path):
    env = environment(port_file="rel/port", environ={"PYTHONPATH": "a" + os.pathsep + "b", "X": "1"})
    assert env["PYTHONPATH"] == os.pathsep.join([BOOT, "a", "b"])
    assert env["PORTFIX_PORT_FILE"] == os.path.join(os.getcwd(), "rel", "port")
    assert env["X"] == "1"
    assert environment(environ={})["PYTHONPATH"] == BOOT
    # An empty entry means the current folder to Python: kept as it is.
    assert environment(environ={"PYTHONPATH": os.pathsep + "a"})["PYTHONPATH"] == BOOT + os.pathsep + os.pathsep + "a"
    nested = environment(environ=environment(environ={"PYTHONPATH": "a"}))
    assert nested["PYTHONPATH"] == BOOT + os.pathsep + "a"  # portfix run inside portfix run
    assert "PORTFIX_PORT_FILE" not in environment(environ={})
    assert environment(environ={"PORTFIX_PORT_FILE": "/kept"})["PORTFIX_PORT_FILE"] == "/kept"


def test_portfix_loads_after_the_first_flask_or_werkzeug_import_only():
    with portfix_run(["--", sys.executable, "-c", PROBE]) as child:
        result = result_of(child)
        assert child.wait_exit(START_TIMEOUT) == 0
    # Nothing before (a process that never imports them, pip for one, pays
    # nothing); loaded right after the first import; patched as the gate says.
    assert result["before"] == [False, False]
    assert result["after"] is True
    assert result["applied"] == sorted(d.defect.id for d in GATE if d.applies)
    assert result["boot_on_path"] == []  # this process's sys.path is the program's own
    assert result["pythonpath"].split(os.pathsep)[0] == BOOT  # children get it
    assert result["pid"] == child.pid  # the runner became the command


def test_portfix_disable_keeps_portfix_out():
    program = "import sys, werkzeug; print('RESULT %s' % ('portfix' in sys.modules))"
    with portfix_run(["--", sys.executable, "-c", program], env={"PORTFIX_DISABLE": "1"}) as child:
        loaded = child.wait_for(RESULT, START_TIMEOUT).group(1)
        code, lines = finish(child)
    assert (loaded, code) == ("False", 0)
    assert "portfix run: PORTFIX_DISABLE is set: the command runs without portfix" in lines


# --- apps that do not import portfix ------------------------------------------------


@pytest.mark.parametrize("reloader", [False, True], ids=["plain", "reloader"])
def test_unmodified_app_run_port_zero(tmp_path, reloader):
    app = write_app(tmp_path, flask=bool(installed("flask")))
    port_file = str(tmp_path / "port")
    env = {"APP_RELOADER": "1" if reloader else "0"}
    with portfix_run(["--port-file", "port", "--", sys.executable, app], env=env, cwd=str(tmp_path)) as child:
        announced = wait_running_on(child, START_TIMEOUT)
        port = wait_port_file(child, port_file)
        status, body = http_get(port)
        assert status == 200
        served_by = int(body.split()[1])
    assert port == announced and port not in (0, 5000)
    # Without the reloader the app's process is the runner's own pid (exec).
    assert (served_by == child.pid) != reloader
    assert not alive(served_by)


MULTIPROCESSING_MAIN = textwrap.dedent(
    """
    import multiprocessing, os, sys

    def serve():
        sys.stdout.write("CHILD %d\\n" % os.getpid())
        sys.stdout.flush()
        from app import app  # flask or werkzeug: imported in the child only
        if hasattr(app, "run"):
            app.run(host="127.0.0.1", port=0)
        else:
            from werkzeug.serving import run_simple
            run_simple("127.0.0.1", 0, app)

    if __name__ == "__main__":
        sys.stdout.write("PARENT portfix=%s flask=%s\\n" % ("portfix" in sys.modules, "flask" in sys.modules))
        sys.stdout.flush()
        child = multiprocessing.get_context("spawn").Process(target=serve)
        child.start()
        child.join()
    """
)


def test_multiprocessing_spawn_child_runs_app_run_port_zero(tmp_path):
    write_app(tmp_path, flask=bool(installed("flask")))
    (tmp_path / "main.py").write_text(MULTIPROCESSING_MAIN)
    with portfix_run(["--port-file", "port", "--", sys.executable, "main.py"], cwd=str(tmp_path)) as child:
        parent = child.wait_for(re.compile(r"PARENT portfix=(\w+) flask=(\w+)"), START_TIMEOUT)
        spawned = int(child.wait_for(re.compile(r"CHILD (\d+)"), START_TIMEOUT).group(1))
        announced = wait_running_on(child, START_TIMEOUT)
        port = wait_port_file(child, str(tmp_path / "port"))
        assert http_get(port) == (200, "pid %d" % spawned)
    # The parent never imported Flask, so portfix came to the spawned child
    # through its own interpreter start, not by inheritance.
    assert parent.groups() == ("False", "False")
    assert spawned != child.pid and port == announced and port not in (0, 5000)
    assert not alive(spawned)


# --- the environment's own sitecustomize ----------------------------------------------

MARKING_SITECUSTOMIZE = textwrap.dedent(
    """
    import os
    with open(os.environ["MARKER"], "a") as f:
        f.write("ran in %d, boot first: %s\\n" % (os.getpid(), "/portfix/_boot" in os.environ.get("PYTHONPATH", "").split(os.pathsep)[0]))
    """
)


def _pythonpath(*first):
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join(list(first) + ([rest] if rest else []))


def test_the_users_sitecustomize_still_runs(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "sitecustomize.py").write_text(MARKING_SITECUSTOMIZE)
    marker = tmp_path / "marker"
    env = {"MARKER": str(marker), "PYTHONPATH": _pythonpath(str(user))}
    with portfix_run(["--", sys.executable, "-c", PROBE], env=env) as child:
        result = result_of(child)
        assert child.wait_exit(START_TIMEOUT) == 0
    # portfix run is a Python process too: it ran it for itself, then the
    # command ran it (through portfix's sitecustomize) in the same process.
    assert marker.read_text() == "ran in %d, boot first: False\nran in %d, boot first: True\n" % (child.pid, child.pid)
    assert result["sitecustomize"] == str(user / "sitecustomize.py")  # `import sitecustomize` gives it
    assert result["after"] is True
    assert result["pythonpath"] == os.pathsep.join([BOOT, env["PYTHONPATH"]])  # the user's PYTHONPATH kept


def test_a_failing_sitecustomize_is_reported_as_without_portfix(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "sitecustomize.py").write_text("raise RuntimeError('boom from the user sitecustomize')\n")
    env = dict(os.environ, PYTHONPATH=_pythonpath(str(user)))
    env.pop("PORTFIX_DISABLE", None)
    program = [sys.executable, "-c", "print('the program ran')"]
    plain = subprocess.run(program, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
    under = subprocess.run([sys.executable, "-m", "portfix", "run", "--"] + program, env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True, timeout=60)
    assert "boom from the user sitecustomize" in plain.stderr
    # Reported twice in the same words: by portfix run's own interpreter, a
    # Python process of the environment too, then by the command.
    assert (under.returncode, under.stdout, under.stderr) == (plain.returncode, plain.stdout, plain.stderr * 2)


def test_a_site_packages_sitecustomize_still_runs(tmp_path):
    """The distribution's kind: a sitecustomize in site-packages, after PYTHONPATH on sys.path."""
    base = os.path.join(sys.base_prefix, "bin", "python%d.%d" % sys.version_info[:2])
    venv = tmp_path / "venv"
    subprocess.run([base, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    (packages,) = glob.glob(str(venv / "lib" / "python*" / "site-packages"))
    with open(os.path.join(packages, "sitecustomize.py"), "w") as f:
        f.write(MARKING_SITECUSTOMIZE)
    with open(os.path.join(packages, "cell.pth"), "w") as f:  # this cell's flask, werkzeug, portfix
        f.write("\n".join(site.getsitepackages() + [PORTFIX_PARENT]) + "\n")
    marker = tmp_path / "marker"
    with portfix_run(["--", str(venv / "bin" / "python"), "-c", PROBE], env={"MARKER": str(marker)}) as child:
        result = result_of(child)
        assert child.wait_exit(START_TIMEOUT) == 0
    assert marker.read_text() == "ran in %d, boot first: True\n" % child.pid
    assert result["sitecustomize"] == os.path.join(packages, "sitecustomize.py")
    assert result["after"] is True


# --- another interpreter -------------------------------------------------------------


def _python2():
    found = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python2.7"))
                   + glob.glob("/usr/bin/python2.7") + glob.glob("/usr/local/bin/python2.7"))
    return found[0] if found else None


def _runner_without_pythonpath(args, env):
    """``portfix run ARGS`` started with no PYTHONPATH of its own (portfix found through sys.path)."""
    code = "import sys; sys.path.insert(0, %r); from portfix.__main__ import main; sys.exit(main())" % PORTFIX_PARENT
    return Child(["-c", code, "run"] + list(args), env=env)


WARNING = re.compile(r"^portfix: not active in this Python \(.*\): (.*); it runs on without portfix$")


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
@pytest.mark.skipif(_python2() is None, reason="no Python 2.7 on this machine")
def test_python_2_runs_on_with_one_warning():
    with _runner_without_pythonpath(["--", _python2(), "-c", "import sys; print('ran ' + sys.version[:3])"],
                                    env={"PYTHONPATH": None, "PORTFIX_DISABLE": None}) as child:
        code, lines = finish(child)
    assert code == 0
    assert "ran 2.7" in lines
    warnings = [line for line in lines if line.startswith("portfix")]
    assert len(warnings) == 1 and WARNING.match(warnings[0]).group(1) == "portfix needs Python 3.6 or newer", lines


def test_a_python_without_portfix_runs_on_with_one_warning(tmp_path):
    """The base interpreter of this venv, given this cell's packages but not portfix."""
    base = os.path.join(sys.base_prefix, "bin", "python%d.%d" % sys.version_info[:2])
    packages = tmp_path / "packages"
    packages.mkdir()
    for folder in site.getsitepackages():
        if not os.path.isdir(folder):  # Debian's builds list dist-packages folders a venv does not have
            continue
        for entry in os.listdir(folder):
            if not entry.startswith("portfix") and not entry.endswith(".pth") and not (packages / entry).exists():
                os.symlink(os.path.join(folder, entry), str(packages / entry))
    program = "import sys, werkzeug; print('ran with portfix=%s' % ('portfix' in sys.modules))"
    with _runner_without_pythonpath(["--", base, "-c", program],
                                    env={"PYTHONPATH": str(packages), "PORTFIX_DISABLE": None}) as child:
        code, lines = finish(child)
    assert code == 0
    assert "ran with portfix=False" in lines
    warnings = [line for line in lines if line.startswith("portfix")]
    assert len(warnings) == 1 and WARNING.match(warnings[0]).group(1).startswith("cannot import portfix: "), lines


# --- exit status, signals, errors ----------------------------------------------------------


def cli(*args, **kwargs):
    env = dict(os.environ)
    env.pop("PORTFIX_DISABLE", None)
    return subprocess.run([sys.executable, "-m", "portfix"] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=60, env=env, **kwargs)


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
def test_the_exit_status_comes_back_unchanged():
    assert cli("run", "--", sys.executable, "-c", "import sys; sys.exit(7)").returncode == 7
    assert cli("run", sys.executable, "-c", "pass").returncode == 0  # "--" is optional


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
def test_a_command_not_found_exits_127(tmp_path):
    result = cli("run", "--", "portfix-no-such-command")
    assert result.returncode == 127
    assert result.stderr == "portfix run: portfix-no-such-command: command not found\n"
    result = cli("run", "--", str(tmp_path / "missing"))
    assert result.returncode == 127
    assert result.stderr == "portfix run: %s: no such file\n" % (tmp_path / "missing")


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
def test_a_command_that_cannot_execute_exits_126(tmp_path):
    script = tmp_path / "not-executable"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    result = cli("run", "--", str(script))
    assert result.returncode == 126
    assert result.stderr.startswith("portfix run: %s: cannot execute: " % script)


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
@pytest.mark.parametrize("args", [[], ["--"], ["--port-file", "", "--", "true"]])
def test_usage_errors_exit_2(args):
    result = cli("run", *args)
    assert result.returncode == 2 and result.stderr.startswith("portfix run: ")


SIGNALLED = textwrap.dedent(
    """
    import os, signal, sys
    def caught(signum, frame):
        sys.stdout.write("GOT %d\\n" % signum)
        sys.stdout.flush()
        os._exit(40 + signum)
    if sys.argv[1] == "handle":
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, caught)
    sys.stdout.write("READY %d\\n" % os.getpid())
    sys.stdout.flush()
    while True:
        signal.pause()
    """
)
READY = re.compile(r"READY (\d+)")


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["INT", "TERM", "HUP"])
def test_signals_reach_the_command(signum):
    with portfix_run(["--", sys.executable, "-c", SIGNALLED, "handle"]) as child:
        pid = int(child.wait_for(READY, START_TIMEOUT).group(1))
        os.kill(child.pid, signum)
        code, lines = finish(child)
    assert pid == child.pid  # the command is the process that was started: nothing to forward
    assert "GOT %d" % signum in lines and code == 40 + signum
    assert not alive(pid)


@pytest.mark.cell_independent  # the runner and plain commands, no Flask/Werkzeug
def test_a_death_by_signal_is_the_exit_status():
    with portfix_run(["--", sys.executable, "-c", SIGNALLED, "default"]) as child:
        pid = int(child.wait_for(READY, START_TIMEOUT).group(1))
        os.kill(pid, signal.SIGTERM)
        assert child.wait_exit(START_TIMEOUT) == -signal.SIGTERM  # as the shell's wait sees it: 143
    assert not alive(pid)
