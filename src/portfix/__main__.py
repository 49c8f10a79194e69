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
    from ._check import check, check_app, format_app_result, format_result

    if args.app is None:
        if args.path or args.expect is not None:
            print("portfix check: --path and --expect need --app", file=sys.stderr)
            return 2
        result = check(timeout=args.timeout)
        print(format_result(result, as_json=args.json))
        return 0 if result["ok"] else 1
    try:
        result = check_app(args.app, paths=args.path or ["/"], expect=200 if args.expect is None else args.expect,
                           timeout=args.timeout)
    except ValueError as exc:
        print("portfix check: %s" % exc, file=sys.stderr)
        return 2
    print(format_app_result(result, as_json=args.json))
    return 0 if result["ok"] else 1


def main(argv=None):
    """Run the CLI; returns the exit code (0 success, 1 check failed, 2 usage)."""
    parser = argparse.ArgumentParser(prog="portfix", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    status = commands.add_parser("status", help="print the defect table and what is patched here")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    check = commands.add_parser("check", help="serve an app on port 0 in a child process and GET it")
    check.add_argument("--app", metavar="MODULE:APP", help="your app: MODULE:APP or MODULE:create_app() "
                       "(default: a small built-in app)")
    check.add_argument("--path", action="append", metavar="/PATH", help="a path to GET (repeatable; default /)")
    check.add_argument("--expect", type=int, metavar="STATUS", help="the status every path must answer (default 200)")
    check.add_argument("--timeout", type=float, default=20.0, help="seconds (default 20)")
    check.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    if args.command == "status":
        return _status(args)
    if args.command == "check":
        return _check(args)
    parser.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
