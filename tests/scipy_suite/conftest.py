"""Run scipy's own constrained-minimization tests against :func:`lagrangian.minimize`.

scipy ships its test suite inside the wheel (``scipy/optimize/tests``). The modules
in this directory import those test files from the *installed* scipy at test time
(nothing of scipy's is copied here), and the fixture below routes every call of
``scipy.optimize.minimize`` that passes ``bounds`` or ``constraints`` to
``lagrangian.minimize``; calls without either still go to scipy.

What is reported:

- a test that made at least one routed call passes or fails on our code;
- a test that made none is reported as skipped ("exercises scipy itself"): it says
  nothing about this package;
- the tests in :data:`SKIPPED` check scipy internals (an exact warning class or
  error text, a private function, Powell's direction set) and are skipped with the
  reason given there;
- the tests in :data:`KNOWN_FAILURES` fail for a cause inside the interior-point
  numerics that is tracked separately; they run as ``xfail(strict=False)`` so the
  day they pass shows up as XPASS and the entry can be removed.

``python tests/scipy_suite/report.py`` prints the counts by cause.
"""

from __future__ import annotations

import inspect
import sys

import pytest
import scipy.optimize

import lagrangian

from .routing import ROUTED_MODULES, is_constrained_call
from .skip_table import KNOWN_FAILURES, SKIPPED, lookup

_MARKERS = (
    "slow: very slow test (scipy's marker)",
    "xslow: extremely slow test (scipy's marker)",
    "xfail_on_32bit: fails on 32-bit platforms (scipy's marker)",
    "fail_slow(duration): non-default slowness limit (scipy's marker)",
    "timeout(seconds): non-default timeout (scipy's marker)",
    "thread_unsafe: single-threaded test (scipy's marker)",
    "parallel_threads(n): scipy's marker",
    "parallel_threads_limit(n): scipy's marker",
    "iterations(n): scipy's marker",
    "array_api_backends: scipy's marker",
    "skip_xp_backends(*args, **kwargs): scipy's marker",
    "xfail_xp_backends(*args, **kwargs): scipy's marker",
    "filterwarnings(warning): pytest's marker, registered again for runs with -p no:warnings",
)


def pytest_configure(config):
    for line in _MARKERS:
        config.addinivalue_line("markers", line)


def _source_mentions_constraints(item) -> bool:
    """True when the test function's own source names bounds or constraints."""
    try:
        source = inspect.getsource(item.function).lower()
    except (OSError, TypeError):
        return True
    return "bounds" in source or "constraint" in source


def _calls_minimize(item) -> bool:
    """False when neither the test function nor its class mentions ``minimize(``: such a
    test (``fmin_slsqp``, ``fmin_cobyla``, ...) cannot make a routed call."""
    targets = [getattr(item, "function", None)] + ([item.cls] if item.cls is not None else [])
    for target in targets:
        try:
            if "minimize(" in inspect.getsource(target):
                return True
        except (OSError, TypeError):
            return True
    return False


def pytest_collection_modifyitems(config, items):
    kept, deselected = [], []
    for item in items:
        if "scipy_suite" not in item.nodeid:
            kept.append(item)
            continue
        # A test that never calls minimize cannot be routed; test_optimize.py is mostly
        # unconstrained: keep its tests that state bounds or constraints (the "constrained parts").
        if not _calls_minimize(item) or (item.module.__name__.endswith("test_scipy_optimize") and not _source_mentions_constraints(item)):
            deselected.append(item)
            continue
        name = _scipy_name(item)
        reason = lookup(SKIPPED, name)
        if reason is not None:
            item.add_marker(pytest.mark.skip(reason=f"scipy internals: {reason}"))
        known = lookup(KNOWN_FAILURES, name)
        if known is not None:
            item.add_marker(pytest.mark.xfail(reason=f"interior-point numerics: {known}", strict=False))
        kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _scipy_name(item) -> str:
    """``file::Class::test[param]`` with scipy's file name, the key of the skip tables."""
    module = item.module.__name__.rsplit(".", 1)[-1].replace("test_scipy_", "test_")
    parts = item.nodeid.split("::")[1:]
    return "::".join([f"{module}.py", *parts])


@pytest.fixture(autouse=True)
def route_constrained_minimize(request, monkeypatch):
    """Send ``scipy.optimize.minimize(..., bounds= or constraints=)`` to ``lagrangian.minimize``."""
    original = scipy.optimize._minimize.minimize
    signature = inspect.signature(original)
    calls = []

    def minimize(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        if not is_constrained_call(bound.arguments):
            return original(*args, **kwargs)
        calls.append(bound.arguments.get("method"))
        return lagrangian.minimize(*args, **kwargs)

    monkeypatch.setattr(scipy.optimize, "minimize", minimize)
    for name in ROUTED_MODULES:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "minimize"):
            monkeypatch.setattr(module, "minimize", minimize)
    request.node.routed_calls = calls
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or "scipy_suite" not in item.nodeid:
        return
    if not getattr(item, "routed_calls", None) and report.outcome != "skipped":
        # Neither pass nor fail is ours: every minimize call went to scipy.
        report.outcome = "skipped"
        # One location for all of them, so that the summary (-ra) counts them on one line.
        report.longrepr = (__file__, 0, "Skipped: no minimize call with bounds or constraints (exercises scipy itself)")
        if hasattr(report, "wasxfail"):
            del report.wasxfail
    report.user_properties.append(("routed_calls", len(getattr(item, "routed_calls", []) or [])))
