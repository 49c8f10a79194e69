"""``portfix run [--port-file PATH] -- COMMAND [ARGS...]``: a command with portfix in every Python it starts.

COMMAND runs with this package's ``_boot`` folder first on ``PYTHONPATH``
(the user's entries kept after it), so every Python process of its tree --
the command itself, a reloader's workers, ``multiprocessing`` children,
``subprocess`` grandchildren -- runs the ``sitecustomize`` there at
interpreter start, before any of its own code.  That file loads portfix
right after Flask or Werkzeug is first imported and chains to the
``sitecustomize`` the environment already had; nothing is written to disk.
The instrumentation tools of the ecosystem (``ddtrace-run``,
``opentelemetry-instrument``) use the same mechanism.

On POSIX the runner *replaces itself* with COMMAND (``execvpe``), as a
shell's ``exec``, ``env`` and ``nice`` do.  So COMMAND has the runner's pid
(``portfix run ... &`` then ``kill $!`` signals the server itself), every
signal reaches it directly (SIGINT, SIGTERM, SIGHUP, SIGKILL: nothing to
forward, no window where a signal is lost), its exit status is the runner's
exit status, a death by signal included (the parent sees the real signal, not
a 128+N imitation), and no runner process is left to outlive or orphan it.
Elsewhere (Windows, where ``exec`` starts a new process and returns at once)
the runner waits for COMMAND and returns its exit code.
"""

import errno
import os
import subprocess
import sys

from ._defects import PORT_FILE_ENV
from ._text import escape

BOOT_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_boot")

# Exit codes a POSIX shell uses when it cannot run a command.
NOT_FOUND = 127
NOT_EXECUTABLE = 126


class RunError(Exception):
    """COMMAND could not be started.

    Attributes:
        exit_code (int): 127 when it was not found, 126 when it was found but
            could not be executed (as a POSIX shell exits).
    """

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


def environment(port_file=None, environ=None):
    """The environment COMMAND runs with.

    Args:
        port_file (str or None): sets ``PORTFIX_PORT_FILE`` to this path,
            made absolute (COMMAND may change its working folder).  It is
            validated by the server process, before it binds.  None keeps
            the variable as it is.
        environ (dict or None): the base environment, default ``os.environ``.

    Returns:
        dict: *environ* with ``BOOT_FOLDER`` first on ``PYTHONPATH``, the
        previous entries kept after it exactly (an empty entry means the
        current folder to Python), and not added twice when ``portfix run``
        runs inside ``portfix run``.

    Raises:
        RuntimeError: the shipped sitecustomize is missing (a broken install).
    """
    if not os.path.isfile(os.path.join(BOOT_FOLDER, "sitecustomize.py")):
        raise RuntimeError("%s has no sitecustomize.py: reinstall portfix" % BOOT_FOLDER)
    env = dict(os.environ if environ is None else environ)
    current = env.get("PYTHONPATH", "")
    if current.split(os.pathsep)[0] != BOOT_FOLDER:
        env["PYTHONPATH"] = BOOT_FOLDER + (os.pathsep + current if current else "")
    if port_file is not None:
        env[PORT_FILE_ENV] = os.path.abspath(port_file)
    return env


def _start_error(command, exc):
    name = escape(command)
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        if os.sep in command:
            return RunError("%s: no such file" % name, NOT_FOUND)
        return RunError("%s: command not found" % name, NOT_FOUND)
    return RunError("%s: cannot execute: %s" % (name, exc.strerror or exc), NOT_EXECUTABLE)


def run(argv, port_file=None):
    """Run *argv* with portfix loaded in every Python process it starts.

    Args:
        argv (list of str): COMMAND and its arguments; COMMAND is looked up
            on ``PATH`` unless it contains a slash.
        port_file (str or None): see ``environment``.

    Returns:
        int: COMMAND's exit code, where the runner waits for it (not POSIX).
        On POSIX this function does not return when COMMAND starts: the
        process becomes COMMAND.

    Raises:
        RunError: COMMAND was not found (exit code 127) or cannot be
            executed (126).
        RuntimeError: as ``environment``.
    """
    env = environment(port_file)
    sys.stdout.flush()  # exec discards Python's buffers
    sys.stderr.flush()
    if os.name == "posix":
        try:
            os.execvpe(argv[0], argv, env)
        except OSError as exc:
            raise _start_error(argv[0], exc) from None
    return _wait(argv, env)  # pragma: no cover - not POSIX: not exercised here


def _wait(argv, env):  # pragma: no cover - not POSIX: not exercised here
    import signal

    try:
        child = subprocess.Popen(argv, env=env)
    except OSError as exc:
        raise _start_error(argv[0], exc) from None
    # The console delivers Ctrl-C to COMMAND as well: the runner only waits.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
