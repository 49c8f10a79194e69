"""The defect table: every port-handling defect portfix knows, as data.

One record per upstream defect.  The gate (``_gate``), ``portfix status``,
the README's compatibility table (checked by ``tests/test_defects.py``) and the
reproduction tests all read this table; nothing else decides what is patched.

Release ranges were measured on the real releases from PyPI and traced in the
upstream history; see ``shared/defects.md`` in the project's planning notes.
"""

import collections

from ._versions import EXCLUSIVE_BIND_ENV, MODULES, NO_OP_FROM, PORT_FILE_ENV, SUPPORTED  # noqa: F401 - read here too


# ``collections.namedtuple`` builds each class by ``exec`` of a source template
# on Python 3.6: about 1 ms per class, measured, and portfix defines five on
# the import path of every process.  ``Record`` keeps what portfix uses of a
# namedtuple -- positional or keyword construction, attribute access,
# equality, ``repr``, ``_asdict()`` and ``_replace()`` -- for the cost of a
# ``class`` statement.  The tables below, the gate's decisions, the registry's
# targets and ``status()``'s records are Records.
class Record(object):
    """Base class: subclasses list their fields in ``__slots__``, in order."""

    __slots__ = ()

    def __init__(self, *args, **kwargs):
        if not kwargs and len(args) == len(self.__slots__):  # the tables' common case
            for name, value in zip(self.__slots__, args):
                object.__setattr__(self, name, value)
            return
        if len(args) > len(self.__slots__):
            raise TypeError("%s takes %d fields, got %d" % (type(self).__name__, len(self.__slots__), len(args)))
        values = dict(zip(self.__slots__, args))
        for name, value in kwargs.items():
            if name not in self.__slots__ or name in values:
                raise TypeError("%s: unexpected or repeated field %r" % (type(self).__name__, name))
            values[name] = value
        missing = [name for name in self.__slots__ if name not in values]
        if missing:
            raise TypeError("%s: missing fields %s" % (type(self).__name__, ", ".join(missing)))
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def __setattr__(self, name, value):
        raise AttributeError("%s records are read-only: use _replace()" % type(self).__name__)

    def _asdict(self):
        """The fields as an ``OrderedDict``, in declaration order."""
        return collections.OrderedDict((name, getattr(self, name)) for name in self.__slots__)

    def _replace(self, **changes):
        """A copy with *changes* applied (keyword fields)."""
        values = self._asdict()
        values.update(changes)
        return type(self)(**values)

    def _values(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        return type(self) is type(other) and self._values() == other._values()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash((type(self).__name__,) + self._values())

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % item for item in self._asdict().items()))




class Defect(Record):
    """One upstream defect.

    id (str): ``"D1"``...
    targets (tuple of str): dotted paths of the objects replaced to resolve it.
    distribution (str): whose installed version the specifier is matched against.
    affected (str): PEP 440 specifier of the affected releases (the truth, not the policy).
    upstream (str): the upstream issue/PR/release.
    fixed_in (str or None): first release without the defect; None when never fixed upstream.
    summary (str): one line on what goes wrong.
    """

    __slots__ = ("id", "targets", "distribution", "affected", "upstream", "fixed_in", "summary")


FLASK_RUN = "flask.Flask.run"
SERVER_INIT = "werkzeug.serving.BaseWSGIServer.__init__"
RUN_SIMPLE = "werkzeug.serving.run_simple"
RUN_WITH_RELOADER = "werkzeug._reloader.run_with_reloader"

DEFECTS = (
    Defect(
        "D1", (FLASK_RUN,), "flask", ">=1.0,<1.1.0",
        "pallets/flask#2926, fixed by PR #2928 (regression from PR #2152)", "1.1.0",
        "an explicit port=0 becomes SERVER_NAME's port or 5000 "
        "(int(port or sn_port or 5000)); start-up then dies with EADDRINUSE",
    ),
    Defect(
        "D2", (FLASK_RUN,), "flask", "<1.0",
        "Flask 1.0 coerces the port with int() (PR #2152); Werkzeug's "
        "TypeError comes from pallets/werkzeug PR #1088", "1.0",
        "a str port reaches run_simple unchanged: TypeError on Werkzeug >= 0.13, "
        "no 'Running on' line on Werkzeug <= 0.11.2",
    ),
    Defect(
        "D3", (FLASK_RUN,), "flask", ">=1.1.0,<2.0",
        "pallets/flask#3457 (closed as intended), fixed by refactor PR #3513", "2.0.0",
        "SERVER_NAME without ':port' and no port argument raises "
        "ValueError: invalid literal for int() with base 10: ''",
    ),
    Defect(
        "D5", (RUN_SIMPLE, SERVER_INIT), "werkzeug", "<0.11.3",
        "pallets/werkzeug#816, fixed in 0.11.3", "0.11.3",
        "the 'Running on' line shows the requested :0, not the bound port",
    ),
    Defect(
        "D6", (RUN_WITH_RELOADER,), "werkzeug", ">=0.11,<0.11.3",
        "pallets/werkzeug 0.11.3 changelog ('log where the server is running "
        "in all situations again')", "0.11.3",
        "no 'Running on' line at all when the reloader is on",
    ),
    Defect(
        "D7", (SERVER_INIT,), "werkzeug", "<0.11",
        "attribute added in pallets/werkzeug 0.11", "0.11",
        "the server object has no .port",
    ),
    Defect(
        "D8", (SERVER_INIT,), "werkzeug", ">=0.11,<0.12",
        "pallets/werkzeug PR #762", "0.12",
        "server.port is the requested 0, not the bound port",
    ),
    Defect(
        "D9", (SERVER_INIT,), "werkzeug", ">=0.11,<2.1",
        "pallets/werkzeug PRs #2287 and #2321", "2.1.0",
        "fd path (the reloader worker): .port and .server_port report a "
        "throwaway socket's port; only server_address is right",
    ),
    Defect(
        "D10", (RUN_SIMPLE,), "werkzeug", "<0.11",
        "socket opened in the parent and passed by WERKZEUG_SERVER_FD, "
        "pallets/werkzeug 0.11", "0.11",
        "with the reloader, every restart binds a new random port",
    ),
    Defect(
        "D11", (RUN_SIMPLE, SERVER_INIT), "werkzeug", ">=0.14",
        "pallets/werkzeug PR #1150 (bind through getaddrinfo); not fixed upstream", None,
        "port=70000 silently serves on 4464: getaddrinfo truncates the port to 16 bits",
    ),
)

# The supported releases, the no-op line and the switches: see _versions.

# Behaviours portfix adds rather than repairs: the same shape as a defect, but
# `affected` is where the feature is installed, `enabled_by` names what turns
# it on (None: always on, like a defect's patch; an environment variable or an
# apply() argument otherwise), and `needs` names the socket option it cannot
# work without and where that option exists (None: none needed).  The gate
# reads both tables; it is told which options the platform has.
class Feature(Record):
    """One feature: id, targets, distribution, affected (where installed), upstream, enabled_by, summary, needs.

    needs (tuple of str or None): ``(socket option name, where it exists)``,
    e.g. ``("SO_EXCLUSIVEADDRUSE", "Windows")``; where the ``socket`` module
    has no such name, the feature is not installed.
    """

    __slots__ = ("id", "targets", "distribution", "affected", "upstream", "enabled_by", "summary", "needs")

FEATURES = (
    Feature(
        "port-in-use", (SERVER_INIT,), "werkzeug", "<2.1",
        "the raw traceback of pallets/flask#2926; Werkzeug >= 2.1 prints its own hint "
        "and exits (pallets/werkzeug#2687, #2866)", None,
        "EADDRINUSE raises portfix.PortInUseError naming the holder and the remedies", None,
    ),
    Feature(
        "port-in-use-reloader", (RUN_SIMPLE,), "werkzeug", "<2.1",
        "the reloader parent binds in run_simple itself: a test socket before 0.11, "
        "the socket it passes to the workers (WERKZEUG_SERVER_FD) from 0.11", None,
        "the same error when the reloader parent's bind fails", None,
    ),
    Feature(
        "port-file", (SERVER_INIT, RUN_SIMPLE), "werkzeug", ">=0.9",
        "no release tells other processes the bound port (uvicorn#761, pallets/flask#4205)",
        PORT_FILE_ENV,
        "the process's first dev server claims $PORTFIX_PORT_FILE before it binds, writes the "
        "bound port there once listening, and removes it when it closes", None,
    ),
    Feature(
        "port-file-reloader", (RUN_WITH_RELOADER,), "werkzeug", ">=0.11,<2.1",
        "from 0.11 to 2.0 the reloader parent binds in run_simple and builds no server", PORT_FILE_ENV,
        "the reloader parent publishes the port file once, for the socket it passes to its workers", None,
    ),
    Feature(
        "exclusive-bind", (SERVER_INIT,), "werkzeug", ">=0.9",
        "SO_REUSEADDR lets a second server bind the same port on Windows; "
        "declined upstream (pallets/werkzeug#1597)", EXCLUSIVE_BIND_ENV,
        "Windows: listening sockets use SO_EXCLUSIVEADDRUSE instead of SO_REUSEADDR",
        # The option exists only in Winsock: on POSIX, SO_REUSEADDR never lets
        # two sockets listen on one port, so there is nothing to install.
        ("SO_EXCLUSIVEADDRUSE", "Windows"),
    ),
)
