"""scipy tests that do not apply to lagrangian, and known failures with their cause.

Keys are ``file.py::Class::test`` (a prefix matches every parametrization, or a
whole class when it ends at the class name); ``*`` in a key matches anything.
"""

from __future__ import annotations

import re


#: Tests that check scipy internals: skipped, with the reason.
SKIPPED: dict[str, str] = {
    "test_optimize.py::test_bounded_powell_vs_powell": (
        "asserts that bounded Powell reaches the global minimum 0 of a nonconvex function; the interior "
        "point (like scipy's SLSQP and trust-constr) stops at the local minimum f = 0.5156, a KKT point; "
        "it then asserts Powell's nfev with infinite bounds equals unbounded Powell's"
    ),
    "test_optimize.py::test_bounded_powell_outsidebounds": (
        "asserts Powell's failure with a degenerate direction set (options['direc']: x stays at -4 "
        "and status 4); the interior point takes no direction set and reaches the minimum x = 0"
    ),
    "test_minimize_constrained.py::TestTrustRegionConstr::test_raise_exception": (
        "scipy refuses jac='2-point' with hess='2-point' (ValueError text); lagrangian accepts it "
        "and uses a quasi-Newton Hessian"
    ),
    "test_minimize_constrained.py::test_gh20665_too_many_constraints": (
        "scipy's default factorization refuses 3 consistent equality rows in 2 variables (ValueError "
        "text); lagrangian's regularized KKT solve handles them"
    ),
    "test_constraint_conversion.py::TestNewToOldSLSQP::test_warn_mixed_constraints": (
        "warns about scipy's own conversion of a two-sided NonlinearConstraint to old-style dicts, "
        "which lagrangian does not do"
    ),
    "test_cobyla.py::TestCobyla::test_minimize_constraint_violation": (
        "COBYLA's catol declares success at an infeasible point (maxcv 0.5 < catol 0.6); the "
        "trust invariant reports the conflicting constraints as not successful"
    ),
}

#: Tests that fail for a cause inside the interior point's numerics
#: (src/lagrangian/solvers/): run as non-strict xfail, so a fix shows as XPASS.
#: (Nine tests once listed here, a bound active with a zero multiplier reached only to
#: about sqrt(tol), pass since the interior point polishes its answer onto the active set;
#: COBYLA's test_minimize_simple, an equality written as two opposite inequalities, passes
#: since inequality rows are relaxed by IPOPT's bound_relax_factor, min(1e-8, tol).)
KNOWN_FAILURES: dict[str, str] = {
    "test_optimize.py::test_onesided_bounded_powell_stability": (
        "-|sum x|^10 on a box of half-width 1e6 (minimum -5.9e64 at a corner): no longer declared "
        "UNBOUNDED, but the Hessian grows like s^8 past the largest regularization and the run "
        "ends SINGULAR_KKT before the corner"
    ),
}


def lookup(table: dict[str, str], name: str):
    """The reason for ``name`` in ``table``: an exact key, else the longest key that is a prefix
    ending at ``::`` or ``[`` or that matches with its ``*`` wildcards; None if none does."""
    if name in table:
        return table[name]
    best = None
    for key, reason in table.items():
        if "*" in key:
            matched = re.fullmatch(".*".join(map(re.escape, key.split("*"))), name) is not None
        else:
            matched = name.startswith(key) and name[len(key) : len(key) + 1] in (":", "[")
        if matched and (best is None or len(key) > len(best[0])):
            best = (key, reason)
    return None if best is None else best[1]
