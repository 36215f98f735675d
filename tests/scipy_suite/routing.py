"""Which scipy test modules call ``minimize`` and which calls are routed to lagrangian."""

from __future__ import annotations

#: scipy's test modules that bind ``minimize`` at import (``from scipy.optimize import minimize``).
ROUTED_MODULES = (
    "scipy.optimize.tests.test_minimize_constrained",
    "scipy.optimize.tests.test_slsqp",
    "scipy.optimize.tests.test_constraint_conversion",
    "scipy.optimize.tests.test_cobyla",
    "scipy.optimize.tests.test_optimize",
)


def is_constrained_call(arguments: dict) -> bool:
    """True when scipy's ``minimize`` was given bounds or at least one constraint."""
    if arguments.get("bounds") is not None:
        return True
    constraints = arguments.get("constraints", ())
    if constraints is None:
        return False
    if isinstance(constraints, (list, tuple)):
        return len(constraints) > 0
    return True  # a single dict, LinearConstraint or NonlinearConstraint
