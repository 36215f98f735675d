"""The worked examples compute what they claim, and `lagrangian demo` runs them all.

Each example's claims are the checks of its entry in ``lagrangian.examples.DEMOS``
(what ``lagrangian demo`` prints as pass/FAIL lines), each against an independent
truth: a closed form, a hand-written derivative or cvxpy.
"""

import importlib
import subprocess
import sys

import pytest

from lagrangian import examples

RUN = {}


def found_by(name):
    """What ``main()`` of an example returned (each example runs once per test session)."""
    if name not in RUN:
        RUN[name] = importlib.import_module(f"lagrangian.examples.{name}").main()
    return RUN[name]


@pytest.mark.parametrize("demo", examples.DEMOS, ids=lambda d: d.name)
def test_every_claim_of_every_example_holds(demo):
    found = found_by(demo.name)
    failed = [f"{check.claim}: {check.measured(found)}" for check in demo.checks if not check.holds(found)]
    assert not failed, failed


def test_the_checks_compare_with_the_truths_they_name():
    # The catalogue is the specification; a loosened bound would pass silently, so pin
    # the tight ones (closed forms to rounding, hand-written backprop bit for bit).
    bounds = {(d.name, c.key): c.bound for d in examples.DEMOS for c in d.checks}
    assert bounds[("solve_kkt_from_a_script", "multiplier_error")] <= 1e-12  # y* = -df*/dS = 1/4
    assert bounds[("backprop_is_a_kkt_solve", "max_relative_difference")] <= 1e-12
    assert bounds[("network_as_a_kkt_system", "backprop_relative_difference")] <= 1e-12
    assert bounds[("fixed_point_layer", "unrolled_gap")] <= 1e-12
    assert bounds[("ridge_penalty_is_a_multiplier", "worst_relative_multiplier_error")] <= 1e-8


def test_largest_box_shows_the_inertia(capsys):
    from lagrangian.examples import solve_kkt_from_a_script

    solve_kkt_from_a_script.main()
    out = capsys.readouterr().out
    assert "(3, 1, 0)" in out  # the inertia of a convex-on-the-tangent-space KKT matrix
    assert out.count("SUCCESS") == 1  # the log says it once; the example does not repeat it


def test_demo_command_runs_every_example_and_every_check_passes():
    done = subprocess.run([sys.executable, "-m", "lagrangian", "demo"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    checks = sum(len(d.checks) for d in examples.DEMOS)
    assert done.stdout.count("  pass  ") == checks and "FAIL" not in done.stdout
    assert f"All {checks} checks of {len(examples.DEMOS)} examples passed." in done.stdout
