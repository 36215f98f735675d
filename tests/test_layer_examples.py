"""The layer examples (examples/layer_*.py) compute what they claim."""

from lagrangian.examples import layer_nonconvex_against_differences


def test_nonconvex_layer_gradient_equals_differences_and_descent_reaches_the_target():
    found = layer_nonconvex_against_differences.main()
    assert found["disc active multiplier"] > 0.1 and abs(found["disc inactive multiplier"]) < 1e-9
    assert found["disc active relative error"] <= 1e-6  # central differences of re-solves
    assert found["disc inactive relative error"] <= 1e-6
    assert found["final_loss"] <= 1e-12 < found["initial_loss"]  # the target lies on the learned disc


def test_learned_polytope_recovers_the_hidden_square():
    import pytest

    pytest.importorskip("torch")
    from lagrangian.examples import layer_learned_polytope

    found = layer_learned_polytope.main()
    # 40 Adam steps on batches of 24 projections: the test distance falls by two orders
    assert found["final_test_loss"] <= 0.02 * found["initial_test_loss"]


def test_per_feature_ridge_hypergradient_and_learned_penalties():
    from lagrangian.examples import layer_per_feature_ridge

    found = layer_per_feature_ridge.main(plot=False)
    assert found["hypergradient_error"] <= 1e-6  # dV/dt against central differences of re-solves
    assert found["closed_form_gap"] <= 1e-8  # the multipliers are the penalties of the closed form
    assert found["final_validation"] < found["grid_validation"] < found["initial_validation"]
    # on the held-out test set, separate penalties beat the best shared one (grid and leave-one-out)
    assert found["per-feature budgets"] < min(found["shared lambda, validation grid"], found["shared lambda, leave-one-out"])
