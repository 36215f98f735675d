"""The worked examples compute what they claim, and `lagrangian demo` runs them all."""

import subprocess
import sys

from lagrangian import examples
from lagrangian.examples import solve_kkt_from_a_script


def test_largest_box_against_closed_form(capsys):
    found = solve_kkt_from_a_script.main()
    assert found["x_error"] <= 1e-12
    assert found["multiplier_error"] <= 1e-12  # y* = -df*/dS = 1/4
    assert found["newton_steps_error"] <= 1e-12  # six hand-taken Newton steps
    assert found["kkt"] <= 1e-12
    out = capsys.readouterr().out
    assert "(3, 1, 0)" in out  # the inertia of a convex-on-the-tangent-space KKT matrix


def test_demo_command_runs_every_example():
    done = subprocess.run([sys.executable, "-m", "lagrangian", "demo"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    for name in examples.DEMOS:
        assert f"[{name}: done in" in done.stdout


def test_ridge_example_reads_the_penalty_off_the_multiplier():
    from lagrangian.examples import ridge_penalty_is_a_multiplier

    found = ridge_penalty_is_a_multiplier.main()
    assert found["worst_relative_multiplier_error"] <= 1e-8
    assert found["price_error"] <= 1e-8  # d f*/d t = -lambda
    assert found["cvxpy_dual_error"] <= 1e-5  # Clarabel (second-order cone form) at tolerance 1e-10: ~1e-6


def test_network_gradients_are_hand_written_backprop_and_sgd_learns():
    from lagrangian.examples import network_as_a_kkt_system

    found = network_as_a_kkt_system.main()
    assert found["backprop_relative_difference"] <= 1e-12
    assert found["final_loss"] <= 0.5 * found["initial_loss"]
    assert found["accuracy"] >= 0.9  # a disc against its outside, 160 points


def test_regression_is_lstsq_and_factorization_reaches_eckart_young():
    from lagrangian.examples import regression_and_factorization_as_networks

    found = regression_and_factorization_as_networks.main()
    assert found["regression_weight_error"] <= 1e-8  # against numpy.linalg.lstsq
    assert found["factorization_relative_gap"] <= 1e-6  # against the truncated SVD's optimum


def test_fixed_point_layer_implicit_gradient_matches_unrolling_and_differences():
    from lagrangian.examples import fixed_point_layer

    found = fixed_point_layer.main()
    assert found["block_kind"] == "lu"  # the fixed-point block is one cycle, not triangular
    assert found["unrolled_gap"] <= 1e-12  # 200 iterations of a 0.5-contraction
    assert found["difference_gap"] <= 1e-7
    assert found["graph_gap"] <= 1e-12 and found["graph_value_gap"] <= 1e-14  # graph.fixed_point: same solve
    assert found["formed_kind"] == "block_triangular"  # I - J formed: the cycle is one SCC block
