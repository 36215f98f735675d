"""scipy tests that do not apply to lagrangian, and known failures with their cause.

Keys are ``file.py::Class::test`` (a prefix matches every parametrization, or a
whole class when it ends at the class name).
"""

from __future__ import annotations

#: Tests that check scipy internals: skipped, with the reason.
SKIPPED: dict[str, str] = {}

#: Tests that fail for a cause inside the interior point's numerics
#: (src/lagrangian/solvers/interior_point.py): run as non-strict xfail.
KNOWN_FAILURES: dict[str, str] = {}


def lookup(table: dict[str, str], name: str):
    """The reason for ``name`` in ``table``: an exact key, or the longest key that is a prefix
    ending at ``::`` or ``[``."""
    if name in table:
        return table[name]
    best = None
    for key, reason in table.items():
        if name.startswith(key) and name[len(key)] in ":[" and (best is None or len(key) > len(best[0])):
            best = (key, reason)
    return None if best is None else best[1]
