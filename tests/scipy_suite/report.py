"""Count scipy's constrained-minimize tests on lagrangian by outcome and by cause.

Usage::

    python tests/scipy_suite/report.py [--json out.json] [pytest args...]

Runs ``tests/scipy_suite`` once and prints, for the tests that made at least one
routed call (``bounds`` or ``constraints`` given), how many pass, are skipped as
scipy internals, are known interior-point failures, and fail, the failures grouped by
a cause read off the exception (the first matching rule of :data:`CAUSES`).
"""

from __future__ import annotations

import collections
import json
import re
import sys
import time

import pytest

#: (cause, regular expression on "ExceptionType: message") in order of precedence.
CAUSES = (
    ("jac=False refused", r"ProblemError: jac: expected a callable, True, None"),
    ("constraints=None refused", r"NoneType' object is not iterable|constraints.*None"),
    ("scalar or unbroadcast Bounds refused", r"bounds (lower|upper).*expected|expected scipy.optimize.Bounds|expected \d+ entries"),
    ("hessp refused", r"unexpected keyword argument 'hessp'"),
    ("callable method refused", r"ProblemError: method"),
    ("objective returning an array", r"objective: must return a scalar"),
    ("traced branch (float() of a traced value)", r"traced value"),
    ("result field missing", r"KeyError|AttributeError: .*(constr_violation|maxcv|optimality|cg_niter|tr_radius|execution_time|constr|v\b|niter|lagrangian_grad|jac)"),
    ("status numbers", r"assert_equal\(res.status|status|Items are not equal"),
    ("evaluated outside the bounds", r"outside|out of bounds|bounds violated|x (<|>)=?|ValueError: math domain|sqrt|log"),
    ("nfev/njev counts", r"nfev|njev|nhev|nit"),
    ("not converged (success False)", r"\.success|success"),
    ("answer not within the test's tolerance", r"Not equal to tolerance|Arrays are not almost equal|assert_allclose|allclose"),
    ("warning not raised", r"DID NOT WARN|warns"),
    ("exception not raised", r"DID NOT RAISE"),
)


class Recorder:
    def __init__(self):
        self.rows = {}

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        row = self.rows.setdefault(report.nodeid, {"nodeid": report.nodeid, "outcome": "passed", "detail": "", "routed": 0, "duration": 0.0})
        row["duration"] += report.duration
        for key, value in report.user_properties:
            if key == "routed_calls":
                row["routed"] = value
        if report.when == "call" and hasattr(report, "wasxfail"):
            row["outcome"] = "xpassed" if report.passed else "xfailed"
            row["detail"] = report.wasxfail
        elif report.failed:
            row["outcome"] = "failed"
            row["detail"] = _exception_line(report)
        elif report.skipped and row["outcome"] == "passed":
            row["outcome"] = "skipped"
            row["detail"] = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)


def _exception_line(report) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return " ".join(text.split())[:400]


def cause(detail: str) -> str:
    for name, pattern in CAUSES:
        if re.search(pattern, detail):
            return name
    return "other"


def main(argv):
    out = None
    if "--json" in argv:
        i = argv.index("--json")
        out = argv[i + 1]
        argv = argv[:i] + argv[i + 2 :]
    recorder = Recorder()
    start = time.perf_counter()
    pytest.main(["-q", "-p", "no:cacheprovider", "--no-header", "-rN", "tests/scipy_suite", *argv], plugins=[recorder])
    elapsed = time.perf_counter() - start
    rows = list(recorder.rows.values())
    ours = [r for r in rows if r["routed"] or r["outcome"] == "failed" or "scipy internals" in r["detail"] or "interior-point numerics" in r["detail"]]
    counts = collections.Counter(r["outcome"] for r in ours)
    print(f"\n{len(ours)} tests make a routed call (or are listed); {elapsed:.0f} s")
    for outcome, k in counts.most_common():
        print(f"  {outcome:10s} {k}")
    causes = collections.Counter(cause(r["detail"]) for r in ours if r["outcome"] == "failed")
    print("failures by cause:")
    for name, k in causes.most_common():
        print(f"  {k:4d}  {name}")
    if out:
        for r in rows:
            r["cause"] = cause(r["detail"]) if r["outcome"] == "failed" else ""
        with open(out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
