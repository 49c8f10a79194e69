"""The command line: ``portfix COMMAND`` (also ``python -m portfix COMMAND``).

The parser is built from ``COMMANDS``, one row per command: its name, a
one-line summary, a description, examples, the function that adds its
arguments and the function that runs it.  Every command follows the same
conventions: exit 0 when it succeeded, 1 when it ran and failed, 2 for a
usage error (argparse's own, or ``UsageError``), and ``portfix run`` 127 or
126 when its command cannot be found or executed, as a shell does.  Errors
go to stderr as ``portfix COMMAND: message``.

``portfix check`` given no option starts its child before anything else is
loaded (argparse included) and reads its arguments while the child starts:
see ``main``.  So that this comes first, the modules only a command or the
parser needs (argparse, json, math, platform) are imported where they are used.
"""

import sys

PROG = "portfix"

DESCRIPTION = """\
Correct port handling for the Flask/Werkzeug development server: on legacy
releases app.run(port=0) binds an OS-chosen free port, and the port that was
really bound is reported everywhere.

Exit codes: 0 ok, 1 failed, 2 usage error; portfix run exits with its
command's own status (127 when the command is not found, 126 when it cannot
be executed)."""


class UsageError(Exception):
    """A bad argument found by a command itself: exit 2, the message names it."""


class Command(object):
    """One row of the command table."""

    __slots__ = ("name", "summary", "description", "examples", "add_arguments", "handler")

    def __init__(self, name, summary, description, examples, add_arguments, handler):
        self.name = name
        self.summary = summary
        self.description = description
        self.examples = examples
        self.add_arguments = add_arguments
        self.handler = handler


def _error(args, message):
    print("%s %s: %s" % (PROG, args.name, message), file=sys.stderr)


# --- argument types: a bad value is a usage error naming it ----------------


def _seconds(text):
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if math.isnan(value) or math.isinf(value) or value < 0:
        raise argparse.ArgumentTypeError("expected a number of seconds >= 0, got %r" % (text,))
    return value


def _tcp_port(text):
    import argparse

    value = int(text) if text.isdigit() else 0
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError("expected a TCP port from 1 to 65535, got %r" % (text,))
    return value


# --- status ------------------------------------------------------------------


def _status_arguments(parser):
    parser.add_argument("--json", action="store_true",
                        help="one JSON object: portfix's version, the installed versions, the records")


def _installed_versions():
    import platform

    from ._control import _versions

    versions = {"python": platform.python_version()}
    for name, version in sorted(_versions().items()):
        versions[name] = version if version is None or isinstance(version, str) else None
    return versions


def _status(args):
    import json

    import portfix

    records = portfix.status()
    installed = _installed_versions()
    if args.json:
        print(json.dumps({
            "portfix": portfix.__version__,
            "installed": installed,
            "records": [dict(r._asdict(), targets=list(r.targets)) for r in records],
        }, indent=2, sort_keys=True))
        return 0
    print("portfix %s on Python %s" % (portfix.__version__, installed["python"]))
    rows = [("defect", "installed", "affected", "fixed in", "applied", "reason")]
    for r in records:
        shown = "%s %s" % (r.distribution, r.installed or "-")
        rows.append((r.defect, shown, r.affected, r.fixed_in or "never", "yes" if r.applied else "no", r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5])
    return 0


# --- check -------------------------------------------------------------------


def _check_arguments(parser):
    from ._check import cli_type, valid_path, valid_status, valid_timeout

    parser.add_argument("--app", metavar="MODULE:APP", help="your app: MODULE:APP or MODULE:create_app() "
                        "(default: a small built-in app)")
    parser.add_argument("--path", action="append", type=cli_type(valid_path), metavar="/PATH",
                        help="a path to GET (repeatable; default /)")
    parser.add_argument("--expect", action="append", type=cli_type(valid_status), metavar="STATUS",
                        help="the status every path must answer (default 200), or one per --path, in order")
    parser.add_argument("--timeout", type=cli_type(valid_timeout), default=20.0,
                        help="seconds for the whole check, > 0 (default 20)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("-v", "--verbose", action="store_true", help="the full traceback of an import error")


def _check(args):
    from ._check import check, check_app, exit_code, format_app_result, format_result
    from ._process import Interrupted, stop_on_signals

    if args.app is None and (args.path or args.expect):
        raise UsageError("--path and --expect need --app")
    try:
        # SIGINT/SIGTERM/SIGHUP unwind the check, which stops the child and
        # removes its folder on the way out.
        with stop_on_signals():
            if args.app is None:
                result = check(timeout=args.timeout, child=getattr(args, "child", None))
                print(format_result(result, as_json=args.json))
            else:
                result = check_app(args.app, paths=args.path or ["/"], expect=args.expect or [200],
                                   timeout=args.timeout)
                usage = exit_code(result) == 2 and not args.json
                print(format_app_result(result, as_json=args.json, verbose=args.verbose),
                      file=sys.stderr if usage else sys.stdout)
    except ValueError as exc:
        raise UsageError(str(exc))
    except Interrupted as exc:
        return _interrupted("%s %s" % (PROG, args.name), exc, stopped=True)
    return exit_code(result)


# --- run ---------------------------------------------------------------------


def _run_arguments(parser):
    import argparse

    parser.usage = "%s run [-h] [--port-file PATH] -- COMMAND [ARGS...]" % PROG
    parser.add_argument("--port-file", metavar="PATH",
                        help="set PORTFIX_PORT_FILE to PATH (made absolute): the dev server writes its port there")
    parser.add_argument("argv", nargs=argparse.REMAINDER, metavar="-- COMMAND [ARGS...]",
                        help="the command to run, after --")


def _run(args):
    import os

    from ._run import RunError, run

    command = args.argv[1:] if args.argv[:1] == ["--"] else args.argv
    if not command:
        raise UsageError("no command given: portfix run [--port-file PATH] -- COMMAND [ARGS...]")
    if args.port_file is not None and not args.port_file.strip():
        raise UsageError("--port-file is empty")
    if os.environ.get("PORTFIX_DISABLE", "").strip().lower() not in ("", "0", "false", "no", "off"):
        _error(args, "PORTFIX_DISABLE is set: the command runs without portfix")
    try:
        return run(command, port_file=args.port_file)
    except RunError as exc:
        _error(args, exc)
        return exc.exit_code
    except RuntimeError as exc:
        _error(args, exc)
        return 1


# --- wait --------------------------------------------------------------------


def _wait_arguments(parser):
    parser.add_argument("path", metavar="PATH", help="the port file (the server's PORTFIX_PORT_FILE)")
    parser.add_argument("--timeout", type=_seconds, default=30.0, metavar="S",
                        help="seconds to wait (default 30)")


def _wait(args):
    from ._wait import wait_for_port

    port, seen = wait_for_port(args.path, args.timeout)
    if port is None:
        _error(args, "timed out after %g s: %s" % (args.timeout, seen))
        return 1
    print(port)
    return 0


# --- who ---------------------------------------------------------------------


def _who_arguments(parser):
    parser.add_argument("port", type=_tcp_port, metavar="PORT", help="the TCP port, 1-65535")
    parser.add_argument("--host", metavar="H", help="only listeners that conflict with binding H "
                        "(an address, or localhost; default: every listener on PORT)")
    parser.add_argument("--json", action="store_true", help="one JSON object")


def _who(args):
    from ._who import format_who, who

    result = who(args.port, args.host)
    print(format_who(result, as_json=args.json))
    return 0 if result["listening"] else 1


COMMANDS = (
    Command(
        "status", "what portfix patches here, and why",
        "Print the defect table with the installed versions and whether each defect is patched here.",
        ["portfix status", "portfix status --json"],
        _status_arguments, _status,
    ),
    Command(
        "check", "serve an app on port 0 in a child process and GET it",
        "Start a small built-in app (or yours, with --app) on an OS-chosen port in a child process,\n"
        "GET it, print port, status and latency, and stop the child. Exit 1 on any failure.",
        ["portfix check", "portfix check --app myapp.wsgi:app --path /health"],
        _check_arguments, _check,
    ),
    Command(
        "run", "run a command with portfix loaded in every Python process it starts",
        "Run COMMAND with portfix loaded at the start of every Python process it starts (the command,\n"
        "a reloader's workers, multiprocessing children, subprocesses), without editing the app.\n"
        "The command takes the place of portfix run: same pid, same signals, same exit status.",
        ["portfix run --port-file /tmp/app.port -- flask run --port 0",
         "portfix run -- python app.py"],
        _run_arguments, _run,
    ),
    Command(
        "wait", "wait until a port file names a port that accepts connections",
        "Wait until the port file at PATH names a port that accepts a TCP connection on loopback,\n"
        "then print the port. Exit 1 on timeout, saying what was seen (no file, a stale port).",
        ["portfix wait /tmp/app.port --timeout 30",
         "portfix run --port-file /tmp/app.port -- python app.py &  PORT=$(portfix wait /tmp/app.port)"],
        _wait_arguments, _wait,
    ),
    Command(
        "who", "who listens on a TCP port",
        "Print the pid, user, address and command line of every process listening on TCP PORT\n"
        "(any server, any release). Exit 1 when nobody listens.",
        ["portfix who 5000", "portfix who 5000 --host 127.0.0.1 --json"],
        _who_arguments, _who,
    ),
)


def _examples(lines):
    return "example%s:\n%s" % ("s" if len(lines) > 1 else "", "\n".join("  " + line for line in lines))


def build_parser():
    """The argparse parser, built from ``COMMANDS``."""
    import argparse

    from . import __version__

    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=_examples([c.examples[0] for c in COMMANDS]) + "\n\n'portfix COMMAND --help' says more about each.",
    )
    parser.add_argument("--version", action="version", version="%s %s" % (PROG, __version__))
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for command in COMMANDS:
        sub = commands.add_parser(
            command.name, help=command.summary, description=command.description,
            epilog=_examples(command.examples), formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.add_arguments(sub)
        sub.set_defaults(handler=command.handler, name=command.name)
    return parser


def main(argv=None):
    """Run the CLI.

    Args:
        argv (list of str or None): the arguments after ``portfix``; default
            ``sys.argv[1:]``.

    Returns:
        int: the exit code: 0 ok, 1 failed, 2 usage error, 130 interrupted
        by Ctrl-C (SIGINT); ``run``: its command's exit code, 127 not found,
        126 not executable (on POSIX a started command replaces this
        process, and nothing returns).

    ``portfix check`` and nothing else (the arguments are exactly
    ``["check"]``) can only mean the built-in check with its defaults, so its
    child is started first, and the parser is built and run while the child
    starts (the child's start-up is most of the check's time); any other
    arguments, an option included, go through the parser first.  From the
    child's start, SIGINT, SIGTERM and SIGHUP stop it and end the check with
    ``portfix check: interrupted by SIG...; the app was stopped``.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv != ["check"]:
        return _main(argv)
    child = None
    try:
        # Inside the try: Ctrl-C while these load (tens of ms) is one line too.
        from ._check import start_early
        from ._process import Interrupted, stop_on_signals
    except KeyboardInterrupt:
        return _interrupted("%s check" % PROG)
    try:
        with stop_on_signals():
            child = start_early()
            if child is not None:
                try:
                    return _main(argv, child)
                finally:
                    child.stop()
    except Interrupted as exc:  # outside the check's own handling: while the arguments were read
        if child is not None:
            child.stop()
        return _interrupted("%s check" % PROG, exc, stopped=child is not None)
    except KeyboardInterrupt:  # Ctrl-C before the handlers were in place: nothing was started yet
        return _interrupted("%s check" % PROG)
    return _main(argv)  # no child started: the kill switch is set, or the folder is gone; check() says so


def _interrupted(who, exc=None, stopped=False):
    """One line on stderr for a signal that ended *who* (``"portfix check"``), never a traceback.

    Args:
        who (str): what was interrupted, as the line names it.
        exc (_process.Interrupted or None): the signal caught by
            ``stop_on_signals()``; None: Ctrl-C (KeyboardInterrupt) outside it.
        stopped (bool): a child was stopped: the line says so.

    Returns:
        int: the exit code a shell gives the signal (128 + its number: 130
        for SIGINT).
    """
    try:
        print("%s: %s%s" % (who, exc if exc is not None else "interrupted by SIGINT",
                            "; the app was stopped" if stopped else ""), file=sys.stderr)
    except OSError:  # SIGHUP: the terminal may be gone
        pass
    return exc.exit_code if exc is not None else 130


def _main(argv, child=None):
    """Parse *argv* and run its command; *child*: the built-in check's, already started (see main)."""
    args = None
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help and --version (0), or argparse's usage error (2)
            return exc.code if isinstance(exc.code, int) else 2
        if args.command is None:
            parser.print_help()
            return 2
        if child is not None:
            args.child = child
        try:
            return args.handler(args)
        except UsageError as exc:
            _error(args, exc)
            return 2
    except KeyboardInterrupt:  # portfix check's own handling starts after the arguments are read
        return _interrupted(PROG if args is None or args.command is None else "%s %s" % (PROG, args.name))


if __name__ == "__main__":
    sys.exit(main())
