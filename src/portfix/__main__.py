"""The command line: ``portfix status`` and ``portfix check`` (also ``python -m portfix``)."""

import argparse
import json
import sys


def _status(args):
    import portfix

    records = portfix.status()
    if args.json:
        print(json.dumps([dict(r._asdict(), targets=list(r.targets)) for r in records], indent=2, sort_keys=True))
        return 0
    print("portfix %s" % portfix.__version__)
    rows = [("defect", "installed", "affected", "fixed in", "applied", "reason")]
    for r in records:
        installed = "%s %s" % (r.distribution, r.installed or "-")
        rows.append((r.defect, installed, r.affected, r.fixed_in or "never", "yes" if r.applied else "no", r.reason))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[5])
    return 0


def _check(args):
    from ._check import check, check_app, exit_code, format_app_result, format_result
    from ._process import Interrupted, stop_on_signals

    if args.app is None and (args.path or args.expect):
        print("portfix check: --path and --expect need --app", file=sys.stderr)
        return 2
    try:
        # SIGINT/SIGTERM/SIGHUP unwind the check, which stops the child and
        # removes its folder on the way out.
        with stop_on_signals():
            if args.app is None:
                result = check(timeout=args.timeout)
                print(format_result(result, as_json=args.json))
            else:
                result = check_app(args.app, paths=args.path or ["/"], expect=args.expect or [200],
                                   timeout=args.timeout)
                usage = exit_code(result) == 2 and not args.json
                print(format_app_result(result, as_json=args.json, verbose=args.verbose),
                      file=sys.stderr if usage else sys.stdout)
    except ValueError as exc:
        print("portfix check: %s" % exc, file=sys.stderr)
        return 2
    except Interrupted as exc:
        try:
            print("portfix check: %s; the app was stopped" % exc, file=sys.stderr)
        except OSError:  # SIGHUP: the terminal may be gone
            pass
        return exc.exit_code
    return exit_code(result)


def main(argv=None):
    """Run the CLI; returns the exit code (0 success, 1 check failed, 2 usage)."""
    from ._check import cli_type, valid_path, valid_status, valid_timeout

    parser = argparse.ArgumentParser(prog="portfix", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    status = commands.add_parser("status", help="print the defect table and what is patched here")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    check = commands.add_parser("check", help="serve an app on port 0 in a child process and GET it")
    check.add_argument("--app", metavar="MODULE:APP", help="your app: MODULE:APP or MODULE:create_app() "
                       "(default: a small built-in app)")
    check.add_argument("--path", action="append", type=cli_type(valid_path), metavar="/PATH",
                       help="a path to GET (repeatable; default /)")
    check.add_argument("--expect", action="append", type=cli_type(valid_status), metavar="STATUS",
                       help="the status every path must answer (default 200), or one per --path, in order")
    check.add_argument("--timeout", type=cli_type(valid_timeout), default=20.0,
                       help="seconds for the whole check, > 0 (default 20)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    check.add_argument("-v", "--verbose", action="store_true", help="the full traceback of an import error")
    args = parser.parse_args(argv)
    if args.command == "status":
        return _status(args)
    if args.command == "check":
        return _check(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
