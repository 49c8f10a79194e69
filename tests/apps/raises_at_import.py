"""A module that fails when imported, for the check's one-line import error."""

raise RuntimeError("fails at import on purpose")
