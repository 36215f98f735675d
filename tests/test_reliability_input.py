"""Bad input is refused with a ProblemError that names the argument; valid input is read one way.

Every case of issue 19's input part: complex numbers, non-numeric values, the
two readings of bounds, NaN derivatives at the start, evaluations outside the
bounds, the inertia of a singular matrix, and what tracing cannot record. Then
property-based tests: random garbage given to Problem, linalg.factorize and the
constraint constructors always ends in a ProblemError naming an argument, never
in another exception type or a silently accepted value.
"""

import math

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sp
import scipy.sparse.linalg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lagrangian as lg
from lagrangian import graph as G
from lagrangian import linalg
from lagrangian.bounds import push_inside, read_bounds
from lagrangian.errors import ProblemError

pytestmark = pytest.mark.filterwarnings("ignore::lagrangian.errors.ApproximateDerivativeWarning")


def quadratic(x):
    return float((x - 1.0) @ (x - 1.0))


def problem(objective=quadratic, x0=(0.0, 0.0), **kwargs):
    kwargs.setdefault("gradient", lambda x: 2 * (x - 1.0))
    return lg.Problem(objective, list(x0) if isinstance(x0, tuple) else x0, **kwargs)


def refused(fn, argument):
    """``fn()`` raises a ProblemError whose argument and message name ``argument``."""
    with pytest.raises(ProblemError) as info:
        fn()
    assert argument in info.value.argument, info.value
    assert str(info.value).startswith(info.value.argument + ": ")
    return str(info.value)


def line_constraint(**kwargs):
    kwargs.setdefault("jacobian", lambda x: np.array([[1.0, 1.0]]))
    return lg.Equality(lambda x: x[0] + x[1], 1.0, **kwargs)


# -- complex numbers are refused, never cast to real -----------------------------------
@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: problem(x0=[1 + 1j, 0.0]), "x0"),
        (lambda: problem(objective=lambda x: (x[0] - 1) ** 2 + 1j * x[1]), "objective"),
        (lambda: problem(gradient=lambda x: 2 * (x - 1.0) + 1j), "gradient"),
        (lambda: problem(constraints=[lg.Equality(lambda x: x[0] + 1j, jacobian=lambda x: np.ones((1, 2)), name="c")]), "constraint 'c' fun"),
        (lambda: problem(constraints=[lg.Equality(lambda x: x[0], jacobian=lambda x: np.array([[1.0, 1j]]), name="c")]), "constraint 'c' jacobian"),
        (lambda: problem(constraints=[lg.Equality(lambda x: x[0], jacobian=lambda x: sp.csr_array(np.array([[1.0, 1j]])), name="c")]), "constraint 'c' jacobian"),
        (lambda: problem(hessian=lambda x, y: (2 + 1j) * np.eye(2)), "hessian"),
        (lambda: problem(hessian_product=lambda x, y, v: (2 + 1j) * v), "hessian_product"),
        (lambda: problem(bounds=([0.0, 1j], [1.0, 2.0])), "bounds"),
        (lambda: lg.Equality(lambda x: x[0], 1 + 2j), "value"),
        (lambda: lg.Inequality(lambda x: x[0], upper=[1.0, 2j]), "upper"),
        (lambda: linalg.factorize(np.array([[2.0, 1j], [-1j, 2.0]])), "A"),
        (lambda: linalg.factorize(sp.csc_array(np.eye(2) * (1 + 1j))), "A"),
        (lambda: linalg.solve(np.eye(2), [1.0, 1j]), "b"),
        (lambda: linalg.factorize(np.eye(2)).solve(np.ones((2, 2)) * 1j), "b"),
    ],
)
def test_complex_input_is_refused_naming_the_argument(make, argument):
    message = refused(make, argument)
    assert "complex" in message


def test_complex_objective_at_x0_is_refused_by_minimize():
    # before: SUCCESS, the imaginary part dropped by a cast to float
    refused(lambda: lg.minimize(lambda x: (x[0] - 1) ** 2 + 1j * x[1], [0.0, 0.0]), "fun")


def test_an_objective_that_turns_complex_during_the_solve_is_refused_there():
    p = lg.Problem(
        lambda x: (x[0] - 1) ** 2 + (x[1] - 1) ** 2 + (1j if x[0] < 2 else 0.0),
        [3.0, 3.0],
        gradient=lambda x: 2 * (x - 1.0),
        hessian=lambda x, y: 2 * np.eye(2),
    )
    refused(lambda: lg.solve(p), "objective")


def test_a_factorization_of_a_complex_system_cannot_return_a_wrong_answer():
    # before: the imaginary parts were dropped and |A x - b| = 1 came back without complaint
    A, b = np.array([[1.0, 1j], [0.0, 1.0]]), np.array([1.0, 1.0])
    refused(lambda: linalg.solve(A, b), "A")


# -- bounds: one reading everywhere ------------------------------------------------------
@pytest.mark.parametrize(
    "bounds, n, lower, upper",
    [
        (None, 2, [-np.inf] * 2, [np.inf] * 2),
        ([(0, 1), (2, 3), (4, 5)], 3, [0, 2, 4], [1, 3, 5]),  # scipy's pairs
        (np.array([[0, 1], [2, 3], [4, 5]]), 3, [0, 2, 4], [1, 3, 5]),  # an (n, 2) array
        ([(0, None), (None, 3), (None, None)], 3, [0, -np.inf, -np.inf], [np.inf, 3, np.inf]),
        ([(0, 1)], 3, [0, 0, 0], [1, 1, 1]),  # one pair for every variable, as scipy broadcasts
        ([(0, 1), (0, 1)], 2, [0, 0], [1, 1]),  # the [(lo, hi)] * n idiom at n = 2
        ([(0, None), (0, None)], 2, [0, 0], [np.inf, np.inf]),  # scipy's tutorial
        (([0, 0], [5, 5]), 2, [0, 0], [5, 5]),  # the ([lo] * n, [hi] * n) idiom at n = 2
        (([0.0, -np.inf], [np.inf, np.inf]), 2, [0, -np.inf], [np.inf, np.inf]),  # as pairs, x0 in [0, -inf]: no box
        ((np.array([0.0, 1.0]), np.array([2.0, 3.0])), 2, [0, 1], [2, 3]),  # two arrays are (lb, ub)
        ([(0, 1), (1, 2)], 2, [0, 1], [1, 2]),  # both readings agree
        ((0, 1), 3, [0, 0, 0], [1, 1, 1]),  # (lb, ub) numbers broadcast
        ((None, [1, 2, 3]), 3, [-np.inf] * 3, [1, 2, 3]),
        (([0, 0, 0], [1, 2, 3]), 3, [0, 0, 0], [1, 2, 3]),
        (scipy.optimize.Bounds(0, [1, 2]), 2, [0, 0], [1, 2]),
        ([(0, 1)], 1, [0], [1]),
        ((0, 1), 1, [0], [1]),
        ((np.array([0.6, 1.0]), None), 2, [0.6, 1], [np.inf, np.inf]),  # a NumPy array next to None is lb
        (([0, 0], None), 2, [0, 0], [np.inf, np.inf]),  # (0, 0) as a pair would fix x0: lb
        ([(None, None), None], 2, [-np.inf] * 2, [np.inf] * 2),  # both readings agree
        (([0.6, 1], None), 2, [0.6, 1], [np.inf, np.inf]),  # a tuple is (lb, ub), the form's own spelling
    ],
)
def test_accepted_bound_forms_read_one_way(bounds, n, lower, upper):
    lb, ub = read_bounds(bounds, n)
    np.testing.assert_array_equal(lb, lower)
    np.testing.assert_array_equal(ub, upper)


@pytest.mark.parametrize(
    "bounds, n, words",
    [
        ([(0, 1), (2, 3)], 2, "reads two ways"),
        ([(None, 0), (1, None)], 2, "reads two ways"),
        (np.array([[0, 1], [2, 3]]), 2, "reads two ways"),
        ([(0, 1), (2, 3)], 3, "got 2 entries"),
        ([(0, 1), (2, 3), (4,)], 3, "got 3 entries"),
        ("0, 1", 2, "got str"),
        ({"lb": 0, "ub": 1}, 2, "got dict"),
        (3.0, 2, "got float"),
        ([(0, 1), ("a", 2)], 2, "entry 1"),
        ((None, [0, "a"]), 2, "entry 1"),
        (scipy.optimize.Bounds([0, np.nan], [1, 2]), 2, "NaN"),
        (([0, 2], [1, 1], [3, 3]), 2, "got 3 entries"),
        (scipy.optimize.Bounds([0, 2], [1, 1]), 2, "less than the corresponding lower bound: variable 1 has lower"),
        ((np.inf, None), 2, "lower bound of +inf"),
        ([[[0, 1]], [[2, 3]]], 2, "entry 0"),
        # a pair next to None at n = 2: one pair per variable (x0 in [0.6, 1]) or (lb, ub) (x0 >= 0.6, x1 >= 1)
        ([(0.6, 1), None], 2, "reads two ways"),
        ([None, (0.6, 1)], 2, "reads two ways"),
    ],
)
def test_unaccepted_or_ambiguous_bounds_are_refused(bounds, n, words):
    message = refused(lambda: read_bounds(bounds, n), "bounds")
    assert words in message


@pytest.mark.parametrize("bounds", [[(0.6, 1), None], [None, (0.6, 1)]])
def test_minimize_refuses_a_pair_next_to_none_as_problem_does(bounds):
    # before: read as (lb, ub) at n = 2 only (x1 >= 1, success=True); scipy raises TypeError
    objective = lambda x: float((x - 0.5) @ (x - 0.5))  # noqa: E731
    for call in (lambda: lg.minimize(objective, [0.65, 0.65], bounds=bounds), lambda: lg.Problem(objective, [0.65, 0.65], bounds=bounds)):
        assert "(lb, ub) (x0 in [" in refused(call, "bounds")


@pytest.mark.parametrize(
    "bounds, lower, upper",
    [
        ([(0, 1), (2, 3)], [0, 2], [1, 3]),
        ([(0, 1), (0, 2)], [0, 0], [1, 2]),
        ([(-0.8, 1.0), (-1, 0.8)], [-0.8, -1], [1, 0.8]),  # scipy's test_slsqp
        (np.array([[0, 1], [2, 3]]), [0, 2], [1, 3]),
    ],
)
def test_scipy_callers_read_every_sequence_of_pairs_as_pairs(bounds, lower, upper):
    # lagrangian.minimize's contract is scipy.optimize.minimize's: no second reading
    lb, ub = read_bounds(bounds, 2, pairs=True)
    np.testing.assert_array_equal(lb, lower)
    np.testing.assert_array_equal(ub, upper)
    # and the arrays read back as (lb, ub) by Problem
    np.testing.assert_array_equal(read_bounds((lb, ub), 2)[0], lower)


def test_the_issue_example_is_an_error_and_three_pairs_are_pairs():
    # before: read as lb = (0, 1), ub = (2, 3) by Problem, as pairs by minimize
    message = refused(lambda: problem(bounds=[(0, 1), (2, 3)]), "bounds")
    assert "x0 in [0, 1], x1 in [2, 3]" in message and "x0 in [0, 2], x1 in [1, 3]" in message
    p = lg.Problem(lambda x: float((x - 9) @ (x - 9)), np.zeros(3), gradient=lambda x: 2 * (x - 9), bounds=[(0, 1), (2, 3), (4, 5)])
    s = lg.solve(p)
    np.testing.assert_allclose(s.x, [1.0, 3.0, 5.0], atol=1e-7)  # each variable at its own upper bound


def test_the_pairs_idiom_bounds_every_variable_in_problem_as_in_scipy():
    # before: [(0, 1)] * 2 was lb = (0, 1), ub = (0, 1): both variables fixed, x* = (0, 1)
    p = lg.Problem(lambda x: float((x - 5) @ (x - 5)), [0.5, 0.5], gradient=lambda x: 2 * (x - 5), bounds=[(0, 1)] * 2)
    reference = scipy.optimize.minimize(lambda x: float((x - 5) @ (x - 5)), [0.5, 0.5], bounds=[(0, 1)] * 2)
    np.testing.assert_allclose(lg.solve(p).x, reference.x, atol=1e-7)


# -- non-numeric input ------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, argument",
    [
        (lambda: problem(x0=["a", "b"]), "x0"),
        (lambda: problem(x0=None), "x0"),
        (lambda: problem(x0=[[1.0, 2.0], [3.0]]), "x0"),
        (lambda: problem(x0=[1.0, None]), "x0"),
        (lambda: problem(x0=3.0), "x0"),
        (lambda: problem(objective=lambda x: "1.0"), "objective"),
        (lambda: problem(objective=lambda x: None), "objective"),
        (lambda: problem(objective=lambda x: x > 0), "objective"),
        (lambda: problem(objective=lambda x: x), "objective"),
        (lambda: problem(gradient=lambda x: "grad"), "gradient"),
        (lambda: problem(gradient=lambda x: [1.0, [2.0]]), "gradient"),
        (lambda: problem(constraints=[lg.Equality(lambda x: None, jacobian=lambda x: np.ones((1, 2)), name="c")]), "constraint 'c' fun"),
        (lambda: problem(constraints=[lg.Equality(lambda x: x[0], jacobian=lambda x: None, name="c")]), "constraint 'c' jacobian"),
        (lambda: problem(hessian=lambda x, y: None), "hessian"),
        (lambda: problem(hessian_product=lambda x, y, v: "Hv"), "hessian_product"),
        (lambda: problem(constraints="x >= 0"), "constraints"),
        (lambda: problem(name=3), "name"),
        (lambda: problem(quasi_newton=["bfgs"]), "quasi_newton"),
        (lambda: lg.Equality(lambda x: x[0], "one"), "value"),
        (lambda: lg.Equality(lambda x: x[0], None), "value"),
        (lambda: lg.Equality(lambda x: x[0], np.ones((2, 2))), "value"),
        (lambda: lg.Inequality(lambda x: x[0], lower=[0.0, "x"]), "lower"),
        (lambda: lg.Inequality(lambda x: x[0], lower=np.nan), "lower"),
        (lambda: lg.Inequality(lambda x: x, lower=[1.0, 2.0], upper=[0.0, 3.0]), "lower/upper"),
        (lambda: lg.Inequality(lambda x: x, lower=[1.0, 2.0], upper=[3.0, 4.0, 5.0]), "lower/upper"),
        (lambda: linalg.factorize(None), "A"),
        (lambda: linalg.factorize([[1.0, 2.0], [3.0]]), "A"),
        (lambda: linalg.factorize([["a", "b"], ["c", "d"]]), "A"),
        (lambda: linalg.factorize(np.ones((2, 3))), "A"),
        (lambda: linalg.factorize(np.eye(2), pivot_tol="x"), "pivot_tol"),
        (lambda: linalg.factorize(np.eye(2), raise_singular="no"), "raise_singular"),
        (lambda: linalg.factorize(np.eye(2), structure="symmetric", ordering=[0, 0]), "ordering"),
        (lambda: linalg.factorize(np.eye(2), reference=np.eye(3)), "reference"),
        (lambda: linalg.solve(np.eye(2), None), "b"),
        (lambda: linalg.solve(np.eye(2), np.ones(3)), "b"),
        (lambda: linalg.solve(np.eye(2), ["a", "b"]), "b"),
    ],
)
def test_non_numeric_input_names_the_argument(make, argument):
    refused(make, argument)


@pytest.mark.parametrize("objective", [lambda x: "abc", lambda x: None])
def test_minimize_and_problem_refuse_a_non_numeric_objective_alike(objective):
    # Each entry point names its own parameter (Problem's objective, scipy's fun); the fault is told alike.
    from_problem = refused(lambda: lg.Problem(objective, [0.0, 0.0], gradient=lambda x: x), "objective")
    from_minimize = refused(lambda: lg.minimize(objective, [0.0, 0.0], jac=lambda x: x), "fun")
    assert from_problem.removeprefix("objective: ") == from_minimize.removeprefix("fun: ")


def test_minimize_and_problem_refuse_unaccepted_bounds_alike():
    from_problem = refused(lambda: lg.Problem(quadratic, [0.0, 0.0], bounds="0, 1"), "bounds")
    from_minimize = refused(lambda: lg.minimize(quadratic, [0.0, 0.0], bounds=scipy.optimize.Bounds([0, 2], [1, 1])), "bounds")
    assert "got str" in from_problem and "less than the corresponding lower bound: variable 1 has lower" in from_minimize


# -- NaN or inf in derivatives at the start: named, not found inside linalg ----------------
@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(gradient=lambda x: np.array([np.nan, 0.0])), "gradient"),
        (dict(gradient=lambda x: np.array([np.inf, 0.0])), "gradient"),
        (dict(constraints=[line_constraint(jacobian=lambda x: np.array([[np.nan, 1.0]]), name="c")]), "constraint 'c' jacobian"),
        (dict(constraints=[line_constraint(jacobian=lambda x: sp.csr_array(np.array([[np.inf, 1.0]])), name="c")]), "constraint 'c' jacobian"),
        (dict(hessian=lambda x, y: np.full((2, 2), np.nan)), "hessian"),
        # the constraint's curvature term is NaN: seen with every multiplier 1
        (dict(constraints=[line_constraint(name="c")], hessian=lambda x, y: 2 * np.eye(2) + y[0] * np.diag([np.nan, 0.0])), "hessian"),
        (dict(hessian_product=lambda x, y, v: np.full(2, np.nan)), "hessian_product"),
    ],
)
def test_non_finite_derivatives_at_the_start_name_the_callable(kwargs, argument):
    # before: "b: contains NaN", LAPACK's "SVD did not converge" or "KKT matrix contains NaN"
    message = refused(lambda: problem(**kwargs), argument)
    assert "at x0" in message and ("NaN" in message or "inf" in message)


def _ball(hess=None):
    """``x^T x <= 1`` for scipy, with its curvature ``2 v I`` or the term given."""
    hess = hess if hess is not None else (lambda x, v: 2 * v[0] * np.eye(x.size))
    return scipy.optimize.NonlinearConstraint(lambda x: [x @ x], -np.inf, 1.0, jac=lambda x: [2 * x], hess=hess)


@pytest.mark.parametrize(
    "kwargs, argument, shape",
    [
        # numpy would broadcast each of these into an (n, n) matrix that is not the Hessian
        (dict(hess=lambda x: 2 * np.ones(3), constraints=[_ball()]), "hess", "(3,)"),
        (dict(hess=lambda x: 2 * np.ones((3, 1)), constraints=[_ball()]), "hess", "(3, 1)"),
        (dict(hess=lambda x: sp.csr_array(np.ones((1, 3))), constraints=[_ball()]), "hess", "(1, 3)"),
        (dict(hess=lambda x: 2 * np.eye(3), constraints=[_ball(lambda x, v: 2 * v[0] * np.ones(3))]), "constraints[0].hess", "(3,)"),
        (dict(hess=lambda x: 2 * np.eye(3), constraints=[_ball(lambda x, v: 2 * v[0] * np.eye(4))]), "constraints[0].hess", "(4, 4)"),
        (dict(hess=lambda x: scipy.sparse.linalg.aslinearoperator(np.eye(2))), "hess", "(2, 2)"),
        (dict(hessp=lambda x, p: np.ones(2)), "hessp", "(2,)"),
    ],
)
def test_minimize_refuses_a_hessian_of_the_wrong_shape_naming_it(kwargs, argument, shape):
    # before: accepted and broadcast (the solve ran on a wrong Hessian), or numpy's ValueError
    message = refused(
        lambda: lg.minimize(lambda x: float((x - 1) @ (x - 1)), np.zeros(3), jac=lambda x: 2 * (x - 1), method="trust-constr", **kwargs),
        argument,
    )
    assert shape in message and "expected (3" in message


def test_minimize_refuses_a_hessian_product_that_is_a_matrix_of_n_entries():
    # (2, 2) at n = 4 has the right number of entries but is not a vector: read row by row it
    # would be some other product (before: accepted, as only the size was checked)
    message = refused(lambda: lg.minimize(lambda x: float(x @ x), np.ones(4), jac=lambda x: 2 * x, hessp=lambda x, p: 2 * p.reshape(2, 2), method="trust-constr"), "hessp")
    assert "(2, 2)" in message and "expected (4,)" in message


def test_minimize_takes_a_scalar_hessian_as_that_multiple_of_the_identity():
    result = lg.minimize(lambda x: float((x - 1) @ (x - 1)), np.zeros(3), jac=lambda x: 2 * (x - 1), hess=lambda x: 2.0, constraints=[_ball()], method="trust-constr")
    assert result.success and result.derivatives["hessian"] == "exact"
    np.testing.assert_allclose(result.x, np.full(3, 1 / np.sqrt(3)), rtol=1e-10)


def test_a_differenced_gradient_that_is_not_finite_says_so():
    objective = lambda x: float(np.sqrt(x[0]) + x[1] ** 2) if x[0] >= 0 else np.nan  # noqa: E731
    message = refused(lambda: lg.Problem(objective, [0.0, 1.0]), "gradient")
    assert "central differences" in message


# -- interior means interior ------------------------------------------------------------
def recording(points, lower, upper):
    def objective(x):
        points.append(np.array(x))
        if np.any(x < lower) or np.any(x > upper):
            raise ValueError(f"evaluated outside the bounds at {x!r}")
        return float((x - 2.0) @ (x - 2.0))

    return objective


def test_problem_never_evaluates_outside_the_bounds_and_starts_where_the_solver_does():
    points, lower, upper = [], np.array([0.0, -1.0, 5.0]), np.array([3.0, 0.5, 5.0])
    p = lg.Problem(recording(points, lower, upper), [-5.0, 7.0, 0.0], gradient=lambda x: 2 * (x - 2.0), bounds=(lower, upper))
    assert points and all(np.all(x >= lower) and np.all(x <= upper) for x in points)
    np.testing.assert_array_equal(p.x_start, push_inside(p.x0, p.lb, p.ub))
    assert p.x_start[2] == 5.0  # a fixed variable sits at its value
    np.testing.assert_array_equal(p.x0, [-5.0, 7.0, 0.0])  # as given


def test_differenced_derivatives_at_construction_stay_inside_bounds_that_leave_room():
    # The differences step about 6e-6 max(1, |x_j|) from x_start, which is at least 1e-2 of
    # the interval's width inside: room enough unless a variable is fixed (then pass exact
    # derivatives).
    points, lower, upper = [], np.array([0.0, -1.0]), np.array([3.0, 0.5])
    lg.Problem(recording(points, lower, upper), [-5.0, 7.0], bounds=(lower, upper),
               constraints=[lg.Inequality(lambda x: x[0] - x[1], upper=1.0)])
    assert len(points) > 3 and all(np.all(x >= lower) and np.all(x <= upper) for x in points)


def test_a_start_outside_the_domain_of_the_objective_is_moved_inside_first():
    # min (x - 3)^2 - sqrt(x - 1) on x >= 1 from x0 = -1, where math.sqrt raises; convex, so
    # the minimizer is the root of f'(x) = 2 (x - 3) - 1 / (2 sqrt(x - 1))
    p = lg.Problem(
        lambda x: (x[0] - 3) ** 2 - math.sqrt(x[0] - 1),
        [-1.0],
        gradient=lambda x: np.array([2 * (x[0] - 3) - 0.5 / math.sqrt(x[0] - 1)]),
        bounds=([1.0], [np.inf]),
    )
    root = scipy.optimize.brentq(lambda x: 2 * (x - 3) - 0.5 / math.sqrt(x - 1), 1.5, 4.0, xtol=1e-14)
    assert lg.solve(p).x[0] == pytest.approx(root, abs=1e-7)


def test_messages_say_when_the_start_was_moved_inside():
    message = refused(lambda: lg.Problem(lambda x: np.nan, [-3.0], gradient=lambda x: x, bounds=([0.0], [1.0])), "objective")
    assert "moved inside the bounds" in message


# -- linalg: the inertia of a singular symmetric matrix ----------------------------------
@pytest.mark.parametrize(
    "A",
    [
        np.diag([1.0, 0.0]),
        np.array([[1.0, 1.0], [1.0, 1.0]]),
        np.array([[2.0, 0, 1], [0, 0, 0], [1, 0, -3]]),
        np.zeros((3, 3)),
        np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),  # KKT-like: a zero diagonal
    ],
)
def test_singular_symmetric_factorization_reports_its_inertia(A):
    F = linalg.factorize(A, structure="symmetric", raise_singular=False)
    eigenvalues = np.linalg.eigvalsh(A)
    tol = 1e-12
    expected = (int((eigenvalues > tol).sum()), int((eigenvalues < -tol).sum()), int((np.abs(eigenvalues) <= tol).sum()))
    assert F.singular and F.inertia == expected
    with pytest.raises(lg.SingularMatrixError):
        F.solve(np.ones(A.shape[0]))


# -- graph tracing: unsupported functions and argnums ----------------------------------------
@pytest.mark.parametrize(
    "fn, x, name, advice",
    [
        (lambda x: np.maximum(x, 0).sum(), np.array([1.0, -2.0]), "numpy.maximum", "relu"),
        (lambda x: np.exp2(x).sum(), np.array([1.0, -2.0]), "numpy.exp2", "2 ** x"),
        (lambda x: np.exp2(x), 1.0, "numpy.exp2", "2 ** x"),
        (lambda x: x.max(), np.array([1.0, -2.0]), "ndarray.max", "argmax"),
        (lambda x: np.max(x), np.array([1.0, -2.0]), "numpy.max", "argmax"),
        (lambda x: np.cumsum(x).sum(), np.array([1.0, -2.0]), "numpy.cumsum", "np.tril"),
        (lambda x: np.add.reduce(x), np.array([1.0, -2.0]), "numpy.add.reduce", "np.sum"),
        (lambda x: np.floor(x).sum(), np.array([1.0, -2.0]), "numpy.floor", "zero almost everywhere"),
        (lambda x: np.exp(x, out=np.zeros(2)).sum(), np.array([1.0, -2.0]), "numpy.exp", "without them"),
    ],
)
def test_unsupported_numpy_functions_are_named_with_what_to_write_instead(fn, x, name, advice):
    message = refused(lambda: G.grad(fn)(x), name)
    assert advice in message


@pytest.mark.parametrize("compile", [False, True])
@pytest.mark.parametrize("x", [1 + 1j, np.array([1 + 1j, 2.0]), "a", None, ["a", "b"]])
def test_traced_arguments_must_be_real_numbers(x, compile):
    # before: np.array([1 + 1j, 2]) was traced as (1, 2), its imaginary part dropped
    f = (lambda x: (x * x).sum()) if np.ndim(x) else (lambda x: x * x)
    refused(lambda: G.value_and_grad(f, compile=compile)(x), "traced argument")


def test_unsupported_numpy_functions_in_jacobians_are_named():
    refused(lambda: G.value_and_jacobian(lambda x: np.exp2(x))(np.array([1.0, 2.0])), "numpy.exp2")
    refused(lambda: G.value_and_sparse_jacobian(lambda x: np.exp2(x))(np.array([1.0, 2.0])), "numpy.exp2")


def test_unsupported_ndarray_methods_leave_hasattr_working():
    seen = {}

    def fn(x):
        seen["max"] = hasattr(x, "max")
        return x.sum()

    assert G.grad(fn)(np.array([1.0, 2.0])).tolist() == [1.0, 1.0]
    assert seen["max"] is False


@pytest.mark.parametrize("compile", [False, True])
@pytest.mark.parametrize("x", [1.0, np.ones(2)])
def test_argnums_naming_no_argument_is_a_problem_error(compile, x):
    message = refused(lambda: G.grad(lambda x: (x * x).sum() if np.ndim(x) else x * x, argnums=1, compile=compile)(x), "argnums")
    assert "called with 1 argument" in message


def test_argnums_of_the_wrong_type_is_a_problem_error():
    refused(lambda: G.grad(lambda x: x * x, argnums="x"), "argnums")
    assert G.grad(lambda x, y: x * y, argnums=-1)(2.0, 3.0) == 2.0  # counted from the end, as before


# -- property-based: garbage in, a ProblemError naming an argument out --------------------
_finite = st.floats(-1e3, 1e3, allow_nan=False)
_not_a_number = st.one_of(
    st.none(),
    st.text(max_size=3),
    st.complex_numbers(max_magnitude=1e3, allow_nan=False, allow_infinity=False).filter(lambda z: z.imag != 0),
    st.just(float("nan")),
    st.booleans(),
    st.dictionaries(st.text(max_size=2), _finite, max_size=2),
    st.just(object()),
)
# Values that cannot be a vector of n = 2 real, finite numbers.
_garbage_vector = st.one_of(
    _not_a_number,
    st.lists(_not_a_number, min_size=1, max_size=3).map(lambda v: [0.0, *v]),  # a bad entry among numbers
    st.lists(st.lists(_finite, min_size=1, max_size=3), min_size=2, max_size=3).filter(lambda v: len({len(r) for r in v}) > 1),  # ragged
    st.lists(_finite, min_size=3, max_size=4),  # wrong length
    st.lists(_finite, min_size=2, max_size=2).map(lambda v: np.array([v, v])),  # wrong shape
    st.lists(_finite, min_size=2, max_size=2).map(lambda v: np.array(v) + 1j),  # complex array
    st.lists(_finite, min_size=2, max_size=2).map(lambda v: [v[0], float("inf")]),
)
_property = settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def _names_an_argument(fn, *expected):
    with pytest.raises(ProblemError) as info:
        fn()
    assert any(word in info.value.argument for word in expected), info.value
    assert str(info.value).startswith(info.value.argument + ": ")


def _finite_list(v):
    return isinstance(v, list) and all(isinstance(e, float) and math.isfinite(e) for e in v)


@_property
@given(_garbage_vector.filter(lambda v: not _finite_list(v)))  # any length is a valid x0
def test_problem_refuses_garbage_x0(x0):
    _names_an_argument(lambda: lg.Problem(lambda x: float(np.sum(x)), x0, gradient=lambda x: np.ones_like(x)), "x0")


@_property
@given(_garbage_vector)
def test_problem_refuses_garbage_returned_by_any_callable(value):
    make = [
        ("objective", lambda: lg.Problem(lambda x: value, [0.0, 0.0], gradient=lambda x: x)),
        ("gradient", lambda: lg.Problem(quadratic, [0.0, 0.0], gradient=lambda x: value)),
        ("constraint 'c' fun", lambda: problem(constraints=[lg.Equality(lambda x: value, jacobian=lambda x: np.ones((1, 2)), name="c")])),
        ("constraint 'c' jacobian", lambda: problem(constraints=[lg.Equality(lambda x: x[0], jacobian=lambda x: value, name="c")])),
        ("hessian", lambda: problem(hessian=lambda x, y: value)),
    ]
    named = [argument for argument, _ in make]
    for argument, fn in make:
        try:
            fn()
        except ProblemError as exc:
            # this callable, or (for a value of a usable shape) the one that then disagrees with it
            assert exc.argument in named, exc
        else:
            # accepted only when the value is a usable array of real, finite numbers (a 2x2
            # Hessian, say), and then read exactly, never cast
            assert isinstance(value, (list, np.ndarray)) and np.asarray(value).dtype.kind == "f"
            assert np.all(np.isfinite(value))


_garbage_bounds = st.one_of(
    _not_a_number.filter(lambda v: v is not None),
    st.lists(_not_a_number, min_size=2, max_size=2).filter(lambda v: any(e is not None for e in v)),
    st.lists(st.tuples(_finite, _not_a_number.filter(lambda v: v is not None)), min_size=2, max_size=2),
    st.lists(st.lists(_finite, min_size=1, max_size=3), min_size=3, max_size=4),
    st.tuples(_finite, _finite).filter(lambda t: t[0] > t[1]).map(lambda t: [t] * 2),  # crossed
    st.lists(st.tuples(_finite, _finite), min_size=2, max_size=2).filter(  # read two ways
        lambda v: v[0][0] <= v[0][1] and v[1][0] <= v[1][1] and v[0][0] <= v[1][0] and v[0][1] <= v[1][1]
        and v[0][1] != v[1][0] and v[0] != v[1] and not (v[0][0] == v[0][1] and v[1][0] == v[1][1])
    ),
)


@_property
@given(_garbage_bounds)
def test_problem_refuses_garbage_bounds(bounds):
    _names_an_argument(lambda: lg.Problem(quadratic, [0.0, 0.0], gradient=lambda x: 2 * (x - 1.0), bounds=bounds), "bounds")


_garbage_matrix = st.one_of(
    _not_a_number,
    st.lists(st.lists(_finite, min_size=1, max_size=3), min_size=2, max_size=3).filter(lambda v: len({len(r) for r in v}) > 1),
    st.lists(_finite, min_size=1, max_size=4),  # 1-D
    st.integers(1, 3).map(lambda k: np.ones((k, k + 1))),  # not square
    st.integers(1, 3).map(lambda k: np.eye(k) * (1 + 1j)),
    st.integers(1, 3).map(lambda k: np.full((k, k), np.nan)),
    st.integers(1, 3).map(lambda k: np.full((k, k), "x")),
    st.integers(1, 3).map(lambda k: np.ones((k, k, 2))),
)


@_property
@given(_garbage_matrix, st.sampled_from(["auto", "symmetric", "general", "triangular", "iterative"]))
def test_factorize_refuses_garbage_matrices(A, structure):
    _names_an_argument(lambda: linalg.factorize(A, structure=structure), "A")


@_property
@given(_garbage_vector.filter(lambda v: not (isinstance(v, np.ndarray) and v.shape == (2, 2) and v.dtype.kind == "f")))  # (n, k): k right-hand sides
def test_factorization_solve_refuses_garbage_right_hand_sides(b):
    F = linalg.factorize(np.array([[2.0, 1.0], [1.0, 3.0]]))
    _names_an_argument(lambda: F.solve(b), "b")


@_property
@given(_not_a_number.filter(lambda v: v is not None), st.sampled_from(["value", "lower", "upper"]))
def test_constraint_constructors_refuse_garbage_bounds(value, which):
    if which == "value":
        make = lambda: lg.Equality(lambda x: x, value)  # noqa: E731
    else:
        make = lambda: lg.Inequality(lambda x: x, **{which: value})  # noqa: E731
    _names_an_argument(make, which)


@_property
@given(_not_a_number.filter(lambda v: not callable(v)), st.sampled_from(["fun", "jacobian", "name"]))
def test_constraint_constructors_refuse_garbage_callables_and_names(value, which):
    if which == "name" and (value is None or isinstance(value, str)):
        return  # a valid name
    if which == "jacobian" and value is None:
        return  # no Jacobian: differences
    kwargs = {"fun": lambda x: x, which: value}
    _names_an_argument(lambda: lg.Equality(kwargs.pop("fun"), **kwargs) if which != "fun" else lg.Equality(value), which)


@pytest.mark.parametrize("A", [np.ones((1, 3)), np.ones(3), sp.csr_array(np.ones((2, 3)))])
def test_minimize_refuses_a_linear_constraint_with_the_wrong_number_of_columns(A):
    # before: numpy's "matmul: Input operand 1 has a mismatch in its core dimension"
    message = refused(lambda: lg.minimize(lambda x: float(x @ x), [1.0, 1.0], constraints=scipy.optimize.LinearConstraint(A, 0, 1)), "constraints[0]")
    assert "expected (rows, 2)" in message
