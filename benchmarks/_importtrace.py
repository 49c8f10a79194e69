"""``-X importtime`` for Python 3.6, which lacks it: ``python _importtrace.py MODULE...``.

Imports each MODULE in turn and writes one line per module loaded, in
``-X importtime``'s format and order, to stderr:

    import time: self [us] | cumulative | imported package
    import time:       412 |       1630 |   portfix._ports

A finder placed first on ``sys.meta_path`` starts a module's clock when the
module is looked up and stops it when the module's code has run; a module's
self time is its cumulative time minus that of the modules it imported.  Like
``-X importtime``, the cumulative time includes finding the module.  Modules
loaded by legacy loaders (no ``exec_module``) are not shown.  The tracer's own
bookkeeping adds a few microseconds per module.
"""

import sys
import time

_clock = time.perf_counter
_stack = []  # [name, start, time spent in the modules it imported], innermost last
_write = sys.stderr.write


def _timed(name, start, exec_module, restore):
    def exec_timed(module):
        frame = [name, start, 0.0]
        _stack.append(frame)
        try:
            exec_module(module)
        finally:
            restore()
            _stack.pop()
            cumulative = _clock() - start
            if _stack:
                _stack[-1][2] += cumulative
            _write(
                "import time: %9d | %10d | %s%s\n"
                % ((cumulative - frame[2]) * 1e6, cumulative * 1e6, "  " * len(_stack), name)
            )

    return exec_timed


class _Proxy(object):
    """Stands in for a loader that is a class (builtin, frozen): never patch a class."""

    def __init__(self, loader, exec_timed):
        self._loader = loader
        self.exec_module = exec_timed

    def __getattr__(self, attribute):
        return getattr(self._loader, attribute)


class TimingFinder(object):
    def __init__(self):
        self._finding = set()

    def find_spec(self, name, path, target=None):
        if name in self._finding:
            return None
        start = _clock()
        self._finding.add(name)
        try:
            spec = None
            for finder in sys.meta_path:
                find_spec = getattr(finder, "find_spec", None)
                if finder is self or find_spec is None:
                    continue
                spec = find_spec(name, path, target)
                if spec is not None:
                    break
        finally:
            self._finding.discard(name)
        loader = getattr(spec, "loader", None)
        if loader is None or getattr(loader, "exec_module", None) is None:
            return spec
        if isinstance(loader, type):
            spec.loader = _Proxy(loader, _timed(name, start, loader.exec_module, lambda: None))
        else:
            # An attribute on this module's own loader instance keeps the
            # loader's type (pkgutil and friends look at it); removed once run.
            def restore(loader=loader):
                loader.__dict__.pop("exec_module", None)

            loader.exec_module = _timed(name, start, loader.exec_module, restore)
        return spec


def main(modules):
    import importlib

    sys.meta_path.insert(0, TimingFinder())
    _write("import time: self [us] | cumulative | imported package\n")
    for module in modules:
        importlib.import_module(module)


if __name__ == "__main__":
    main(sys.argv[1:])
