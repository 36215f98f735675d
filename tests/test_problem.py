"""Problem construction: validation errors name the argument; derivative sources are reported."""

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp

import lagrangian as lg
from lagrangian import ApproximateDerivativeWarning, ProblemError


def quadratic(x):
    return float(x @ x)


def gradient(x):
    return 2 * x


def line(x):
    return x[0] + x[1]


def line_jacobian(x):
    return np.array([[1.0, 1.0]])


def make(x0=(0.0, 0.0), **kwargs):
    base = dict(gradient=gradient, constraints=[lg.Equality(line, 1.0, jacobian=line_jacobian, name="line")])
    base.update(kwargs)
    return lg.Problem(quadratic, list(x0), **base)


def test_sizes_names_and_slices():
    p = lg.Problem(
        quadratic,
        [1.0, 2.0, 3.0],
        gradient=gradient,
        constraints=[
            lg.Equality(lambda x: x[:2], [0.0, 1.0], jacobian=lambda x: np.eye(2, 3), name="first"),
            lg.Inequality(lambda x: x[2], upper=4.0, jacobian=lambda x: sp.csr_array(np.array([[0.0, 0, 1]]))),
        ],
    )
    assert (p.n, p.m) == (3, 3)
    assert list(p.slices) == ["first", "c1"]
    np.testing.assert_array_equal(p.cl, [0.0, 1.0, -np.inf])
    np.testing.assert_array_equal(p.cu, [0.0, 1.0, 4.0])
    assert not p.is_equality_constrained
    assert p.split(np.array([1.0, 2.0, 3.0]))["c1"].tolist() == [3.0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(x0=[np.nan, 0.0]), r"x0: has NaN entries at positions 0"),
        (dict(x0=[[0.0, 0.0]]), r"x0: expected a 1-D array"),
        (dict(bounds=scipy.optimize.Bounds([0.0, 2.0], [1.0, 1.0])), r"bounds: An upper bound is less than the corresponding lower bound: variable 1 has lower 2.0 > upper 1.0"),
        (dict(bounds=([0.0, 0.0, 0.0], None)), r"bounds: got 2 entries \(3 numbers, None\); expected None, scipy.optimize.Bounds"),
        (dict(bounds=3.0), r"bounds: got float 3.0; expected None, scipy.optimize.Bounds"),
        (dict(constraints=[lg.Equality(line, [1.0, 2.0], jacobian=line_jacobian, name="g")]), r"constraint 'g' lower: expected 1 entries, got 2"),
        (dict(constraints=[lg.Equality(line, jacobian=lambda x: np.ones((2, 2)), name="g")]), r"constraint 'g' jacobian: returned shape \(2, 2\), expected \(1, 2\)"),
        (dict(constraints=[lg.Equality(lambda x: np.full(1, np.nan), jacobian=line_jacobian, name="g")]), r"constraint 'g' fun: has NaN entries at x0 at positions 0"),
        (dict(constraints=[lg.Equality(line, name="a", jacobian=line_jacobian), lg.Equality(line, name="a", jacobian=line_jacobian)]), r"constraints: duplicate names \['a'\]"),
        (dict(constraints=["x >= 0"]), r"constraints\[0\]: expected a Constraint, got str"),
        (dict(gradient=lambda x: np.zeros(3)), r"gradient: returned shape \(3,\), expected \(2,\)"),
        (dict(hessian=lambda x, y: np.eye(3)), r"hessian: returned shape \(3, 3\), expected \(2, 2\)"),
        (dict(quasi_newton="dfp"), r"quasi_newton: expected 'auto', 'bfgs', 'sr1' or 'l-bfgs'"),
    ],
)
def test_bad_input_names_the_argument(kwargs, match):
    with pytest.raises(ProblemError, match=match) as info:
        make(**kwargs)
    assert isinstance(info.value, ValueError)


def test_objective_must_be_finite_scalar_at_x0():
    with pytest.raises(ProblemError, match=r"objective: returned nan at x0"):
        lg.Problem(lambda x: np.nan, [0.0], gradient=lambda x: x)
    with pytest.raises(ProblemError, match=r"objective: expected a scalar, got an array of shape \(2,\)"):
        lg.Problem(lambda x: x, [0.0, 1.0], gradient=lambda x: x)


def test_scipy_bounds_and_none_entries_are_accepted():
    p = make(bounds=scipy.optimize.Bounds([0.0, -np.inf], [1.0, np.inf]))
    np.testing.assert_array_equal(p.lb, [0.0, -np.inf])
    p = make(bounds=(np.array([-np.inf, 0.0]), np.array([1.0, np.inf])))
    np.testing.assert_array_equal(p.lb, [-np.inf, 0.0])
    np.testing.assert_array_equal(p.ub, [1.0, np.inf])
    p = make(bounds=(None, [1.0, None]))
    np.testing.assert_array_equal(p.lb, [-np.inf, -np.inf])
    np.testing.assert_array_equal(p.ub, [1.0, np.inf])


def test_crossed_constraint_bounds_are_refused_when_the_constraint_is_built():
    with pytest.raises(ProblemError, match=r"constraint 'g' lower/upper: An upper bound is less than the corresponding lower bound: row 0 has lower 2.0 > upper 1.0"):
        lg.Inequality(line, lower=2.0, upper=1.0, jacobian=line_jacobian, name="g")


def test_finite_differences_warn_once_and_are_accurate():
    with pytest.warns(ApproximateDerivativeWarning, match="gradient, jacobian of 'c'") as record:
        p = lg.Problem(lambda x: np.exp(x[0]) * np.sin(x[1]), [0.3, 0.7], constraints=[lg.Equality(lambda x: x[0] * x[1] ** 2, name="c")])
        p.gradient(p.x0)
        p.jacobian(p.x0)
    assert len(record) == 1
    x = np.array([0.3, 0.7])
    np.testing.assert_allclose(p.gradient(x), [np.exp(0.3) * np.sin(0.7), np.exp(0.3) * np.cos(0.7)], rtol=1e-9)
    np.testing.assert_allclose(p.jacobian(x).toarray(), [[0.49, 2 * 0.3 * 0.7]], rtol=1e-9)
    assert p.derivative_sources["hessian"] == "quasi-Newton (bfgs)"


def test_wrong_shapes_later_are_reported_with_the_callable():
    calls = {"n": 0}

    def flaky(x):
        calls["n"] += 1
        return x[:1] if calls["n"] == 1 else x

    p = lg.Problem(quadratic, [0.0, 0.0], gradient=gradient, constraints=[lg.Equality(flaky, jacobian=lambda x: np.ones((1, 2)), name="flaky")])
    with pytest.raises(ProblemError, match=r"constraint 'flaky' fun: returned 2 values, expected 1"):
        p.constraint_values(np.zeros(2))


def test_constraint_handles_reach_multipliers():
    circle = lg.Equality(lambda x: x @ x, 2.0, jacobian=lambda x: 2 * x[None, :])
    p = lg.Problem(line, [1.0, 0.5], gradient=lambda x: np.ones(2), constraints=[circle], hessian=lambda x, y: 2 * y[0] * np.eye(2))
    s = lg.solve(p)
    assert s.multiplier(circle) == pytest.approx([0.5])
    assert s.multiplier("c0") == pytest.approx([0.5])
    with pytest.raises(KeyError, match="no constraint named 'nope'"):
        s.multiplier("nope")


def test_dense_and_sparse_derivatives_are_the_same_matrices():
    # One constraint gives a sparse Jacobian, the other a dense one; the Hessian is sparse.
    problem = lg.Problem(
        lambda x: float(x @ x),
        np.array([1.0, 2.0, 3.0]),
        gradient=lambda x: 2 * x,
        constraints=[
            lg.Equality(lambda x: x[:2] ** 2, jacobian=lambda x: sp.csr_array(np.diag(2 * x)[:2]), name="squares"),
            lg.Inequality(lambda x: x.sum(), upper=1.0, jacobian=lambda x: np.ones(3), name="total"),
        ],
        hessian=lambda x, y: sp.diags_array(np.array([2 + 2 * y[0], 2 + 2 * y[1], 2.0])),
    )
    x, y = np.array([0.5, -1.0, 2.0]), np.array([3.0, -2.0, 0.0])
    J, J_dense = problem.jacobian(x), problem.jacobian(x, dense=True)
    assert sp.issparse(J) and type(J_dense) is np.ndarray
    np.testing.assert_array_equal(J_dense, [[1.0, 0, 0], [0, -2.0, 0], [1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(J.toarray(), J_dense)
    H_dense = problem.hessian(x, y, dense=True)
    assert type(H_dense) is np.ndarray
    np.testing.assert_array_equal(H_dense, np.diag([8.0, -2.0, 2.0]))
    np.testing.assert_array_equal(problem.hessian(x, y).toarray(), H_dense)
    # A callable that turns wrong after the checks at x0 is named on the dense path too.
    rows = iter([1, 2])
    bad = lg.Problem(
        lambda x: float(x @ x), np.zeros(2), gradient=lambda x: 2 * x,
        constraints=[lg.Equality(lambda x: x[0], jacobian=lambda x: np.ones((next(rows), 2)), name="g")],
    )
    with pytest.raises(ProblemError, match=r"constraint 'g' jacobian: returned shape \(2, 2\), expected \(1, 2\)"):
        bad.jacobian(np.zeros(2), dense=True)
