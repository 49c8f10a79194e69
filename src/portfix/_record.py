"""A light record type for portfix's tables.

``collections.namedtuple`` builds each class by ``exec`` of a source template
on Python 3.6: about 1 ms per class, measured, and portfix defines five on
the import path of every process (issue 5's import target is 3% of
``import flask``).  These records keep what portfix uses of a namedtuple --
positional or keyword construction, attribute access, equality, ``repr``,
``_asdict()`` and ``_replace()`` -- for the cost of a ``class`` statement.
"""

import collections


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
