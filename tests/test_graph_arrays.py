"""Array nodes, fixed-point cycles and the graph as a Problem, against independent truths."""

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.sparse.linalg import spsolve

import lagrangian as lg
from lagrangian import graph as G
from lagrangian import linalg
from lagrangian.examples import fixed_point_layer
from lagrangian.testing import check_derivative

RNG_SHAPE = (3, 4)


def _point(kind, shape, seed):
    rng = np.random.default_rng(seed)
    if kind == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if kind == "unit":
        return rng.uniform(-0.8, 0.8, shape)
    return rng.standard_normal(shape)


UNARY = {
    "neg": (lambda a: -a, "normal"),
    "exp": (np.exp, "normal"),
    "log": (np.log, "positive"),
    "sin": (np.sin, "normal"),
    "cos": (np.cos, "normal"),
    "tan": (np.tan, "unit"),
    "sqrt": (np.sqrt, "positive"),
    "tanh": (np.tanh, "normal"),
    "sigmoid": (G.sigmoid, "normal"),
    "softplus": (G.softplus, "normal"),
    "relu": (G.relu, "normal"),
    "abs": (abs, "normal"),
    "asin": (np.arcsin, "unit"),
    "erf": (G.erf, "normal"),
}

C = np.random.default_rng(7).standard_normal((4, 5))
OTHER = np.random.default_rng(8).uniform(0.5, 1.5, (3, 4))
MAPS = {
    "add broadcast row": lambda a: a + np.arange(4.0),
    "radd scalar": lambda a: 2.0 + a,
    "sub column": lambda a: np.ones((3, 1)) - a,
    "mul arrays": lambda a: a * a[::-1],
    "div by array": lambda a: OTHER / (a * a + 1.0),
    "pow scalar exponent": lambda a: (a * a + 1.0) ** 1.5,
    "pow array exponent": lambda a: OTHER**a,
    "matmul 2-D": lambda a: a @ C,
    "rmatmul 2-D": lambda a: C.T[:2, :3] @ a,
    "matmul vector": lambda a: a @ C[:, 0],
    "vector matmul": lambda a: a[0] @ a.T,
    "index slice": lambda a: a[1:, ::2],
    "index fancy with repeats": lambda a: a[[0, 2, 0], [1, 1, 1]],
    "index integer": lambda a: a[2],
    "reshape": lambda a: a.reshape(2, 6) * np.arange(12.0).reshape(2, 6),
    "transpose": lambda a: a.T @ C[:3, :2],
    "sum axis 0": lambda a: np.sum(a * a, axis=0),
    "mean axis 1": lambda a: (a * a).mean(axis=1),
    "concatenate": lambda a: G.concatenate([a, np.ones((3, 2)), 2.0 * a], axis=1),
    "ravel": lambda a: np.ravel(np.tanh(a)),
}


def _dot_product_test(fn, x0):
    """<u, J v> by central differences vs <J^T u, v> through the multiplier solve."""
    shape = x0.shape

    def fun(x):
        return np.ravel(np.asarray(fn(x.reshape(shape)), dtype=float))

    def vjp(x, u):
        out_shape = np.shape(fn(x.reshape(shape)))
        weights = u.reshape(out_shape)
        return np.ravel(G.grad(lambda a: np.sum(fn(a) * weights))(x.reshape(shape)))

    check_derivative(fun, x0.ravel(), vjp=vjp, rtol=1e-7)


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_array_ops_pass_the_dot_product_test(name):
    op, kind = UNARY[name]
    _dot_product_test(op, _point(kind, RNG_SHAPE, seed=1))


@pytest.mark.parametrize("name", sorted(MAPS))
def test_structured_ops_pass_the_dot_product_test(name):
    _dot_product_test(MAPS[name], _point("normal", RNG_SHAPE, seed=2))


@pytest.mark.parametrize("name", sorted(MAPS))
def test_formed_local_jacobians_are_the_same_map_as_their_vjps(name):
    """``matrix()`` (for assembling I - J) and ``vjp`` (for backprop) of every block agree."""
    a = _point("normal", RNG_SHAPE, seed=3)
    graph = G.trace(lambda x: np.sum(MAPS[name](x) ** 2), a)
    rng = np.random.default_rng(4)
    checked = 0
    for i, jacobians in enumerate(graph.tape.jacobians):
        for jacobian in jacobians:
            g = rng.standard_normal(np.shape(graph.tape.values[i]))
            np.testing.assert_allclose(jacobian.matrix().T @ np.ravel(g), np.ravel(jacobian.vjp(g)), rtol=1e-13, atol=1e-13)
            checked += 1
    assert checked >= 2


def test_array_multipliers_equal_the_triangular_solve_of_the_formed_system():
    """Block substitution with VJPs is the triangular solve of I - J, entry by entry."""
    rng = np.random.default_rng(5)
    W1, W2, x = rng.standard_normal((6, 4)), rng.standard_normal((2, 6)), rng.standard_normal((4, 3))
    graph = G.trace(lambda W1, W2: G.squared_loss(W2 @ np.tanh(W1 @ x), 1.0), W1, W2)
    M = graph.multiplier_matrix()
    factor = linalg.factorize(M)
    assert factor.kind == "triangular"
    e_m = np.zeros(M.shape[0])
    e_m[graph.tape.offsets()[graph.output]] = 1.0
    np.testing.assert_allclose(factor.solve(e_m, transpose=True), graph.multipliers(), rtol=1e-13, atol=1e-14)
    # and the scalar-node trace of the same function (every entry its own node) agrees
    scalar = G.trace(lambda W1, W2: G.squared_loss(W2 @ G.tanh(W1 @ x), 1.0), W1, W2, nodes="scalar")
    for by_arrays, by_scalars in zip(graph.gradients(), scalar.gradients()):
        np.testing.assert_allclose(by_arrays, by_scalars, rtol=1e-13)


def mlp_backprop(weights, X, T):
    """Hand-written backprop of 0.5 ||W3 tanh(W2 tanh(W1 X)) - T||^2 (columns are samples)."""
    W1, W2, W3 = weights
    Z1 = np.tanh(W1 @ X)
    Z2 = np.tanh(W2 @ Z1)
    R = W3 @ Z2 - T
    D2 = (W3.T @ R) * (1 - Z2**2)
    D1 = (W2.T @ D2) * (1 - Z1**2)
    return 0.5 * np.sum(R * R), [D1 @ X.T, D2 @ Z1.T, R @ Z2.T]


def test_lecture_mlp_on_a_batch_equals_hand_written_backprop():
    rng = np.random.default_rng(6)
    weights = [rng.standard_normal((16, 12)) / 4, rng.standard_normal((16, 16)) / 4, rng.standard_normal((3, 16)) / 4]
    X, T = rng.standard_normal((12, 32)), rng.standard_normal((3, 32))
    loss = lambda W1, W2, W3, X, T: G.squared_loss(W3 @ np.tanh(W2 @ np.tanh(W1 @ X)), T)  # noqa: E731
    value, grads = G.value_and_grad(loss, argnums=(0, 1, 2))(*weights, X, T)
    expected_value, expected = mlp_backprop(weights, X, T)
    assert value == pytest.approx(expected_value, rel=1e-14)
    for got, want in zip(grads, expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * np.abs(want).max())


def test_float32_stays_float32_and_data_arguments_are_not_traced():
    rng = np.random.default_rng(9)
    W, X = rng.standard_normal((4, 5)).astype(np.float32), rng.standard_normal((5, 8)).astype(np.float32)
    graph = G.trace(lambda W, X: np.sum(np.tanh(W @ X) * 0.5), W, X, argnums=0)
    (gradient, untraced) = graph.gradients()
    assert gradient.dtype == np.float32 and untraced is None
    assert graph.tape.inputs == [0]


def test_errors_name_the_op_and_refuse_to_detach():
    with pytest.raises(G.NonFiniteValueError, match="log"):
        G.grad(lambda x: np.sum(np.log(x)))(np.array([1.0, -1.0]))
    with pytest.raises(TypeError, match="detach"):
        G.grad(lambda x: float(np.sum(x)))(np.ones(2))
    with pytest.raises(TypeError, match="detach"):
        G.grad(lambda x: np.asarray(x).sum())(np.ones(2))
    with pytest.raises(TypeError, match="must return a scalar"):
        G.trace(lambda x: x * 2.0, np.ones(2))


# -- fixed points: the cyclic case ------------------------------------------------------
def _deq_loss(W, U, b, target):
    def loss(x):
        z = G.fixed_point(lambda z, x: np.tanh(W @ z + U @ x + b), np.zeros(W.shape[0]), x)
        r = z - target
        return 0.5 * np.sum(r * r)

    return loss


def test_fixed_point_gradient_equals_implicit_unrolled_and_differences():
    W, U, b, target = fixed_point_layer.layer()
    x = np.array([0.3, -0.8, 0.5])
    loss = _deq_loss(W, U, b, target)
    value, gradient = G.value_and_grad(loss)(x)
    _, implicit, _ = fixed_point_layer.implicit_gradient(W, U, b, target, x)
    _, unrolled = G.value_and_grad(lambda v: fixed_point_layer.unrolled_loss(W, U, b, target, v))(x)
    np.testing.assert_allclose(gradient, implicit, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gradient, unrolled, rtol=1e-10, atol=1e-14)
    check_derivative(lambda v: G.trace(loss, v).value, x, vjp=lambda v, u: u[0] * G.grad(loss)(v), rtol=1e-7)


def test_a_cyclic_graph_is_a_program_whose_kkt_solve_is_the_implicit_backward_pass():
    # The fixed-point layer's graph as min z_m s.t. F(z) - z = 0, with the cycle's inner
    # nodes as variables: its constraint Jacobian is -(I - J) of the multiplier matrix,
    # cycle included, and Newton-KKT returns the forward pass and the multipliers that a
    # general sparse solve of (I - J)^T y = e_m gives (no triangular order exists).
    W, U, b, target = fixed_point_layer.layer()
    graph = G.trace(_deq_loss(W, U, b, target), np.array([0.3, -0.8, 0.5]))
    problem = graph.as_problem()
    M = graph.multiplier_matrix()
    assert problem.n == M.shape[0] > graph.multipliers().size  # the cycle's nodes were added
    z = problem.x0
    np.testing.assert_allclose(problem.constraints[0].jacobian(z).toarray(), -M.toarray(), atol=1e-15)
    assert np.abs(problem.constraint_values(z)).max() <= 1e-12  # the traced point is the fixed point
    e_m = np.zeros(problem.n)
    e_m[int(graph.tape.offsets()[graph.output])] = 1.0
    reference = spsolve(M.T.tocsc(), e_m)
    solution = lg.solve(problem, method="newton_kkt")
    assert solution.status == lg.Status.SUCCESS
    np.testing.assert_allclose(solution.x, z, atol=1e-12)
    np.testing.assert_allclose(solution.multipliers["graph"], reference, rtol=1e-10, atol=1e-13)
    outer = graph.multipliers()
    np.testing.assert_allclose(solution.multipliers["graph"][: outer.size], outer, rtol=1e-10, atol=1e-13)


def test_fixed_point_parameters_get_their_multipliers_too():
    W, U, b, target = fixed_point_layer.layer(seed=1)
    x = np.array([0.1, 0.2, -0.3])

    def loss(W, b):
        z = G.fixed_point(lambda z, W, b: np.tanh(W @ z + U @ x + b), np.zeros(len(b)), W, b)
        return 0.5 * np.sum((z - target) ** 2)

    flat = lambda v: loss(v[: W.size].reshape(W.shape), v[W.size :])  # noqa: E731
    gradient = lambda v, u: u[0] * np.concatenate([g.ravel() for g in G.grad(loss, argnums=(0, 1))(v[: W.size].reshape(W.shape), v[W.size :])])  # noqa: E731
    check_derivative(lambda v: G.trace(flat, v).value, np.concatenate([W.ravel(), b]), vjp=gradient, rtol=1e-7)


def test_the_formed_system_of_a_cyclic_graph_is_block_triangular_and_agrees():
    W, U, b, target = fixed_point_layer.layer()
    graph = G.trace(_deq_loss(W, U, b, target), np.array([0.3, -0.8, 0.5]))
    M = graph.multiplier_matrix()
    factor = linalg.factorize(M)
    assert factor.kind == "block_triangular"  # the cycle is one strongly connected block
    e_m = np.zeros(M.shape[0])
    e_m[graph.tape.offsets()[graph.output]] = 1.0
    y = factor.solve(e_m, transpose=True)
    outer = graph.tape.offsets()[-1]
    np.testing.assert_allclose(y[:outer], graph.multipliers(), rtol=1e-12, atol=1e-14)


def test_a_singular_cycle_names_its_nodes_and_a_divergent_one_says_so():
    with pytest.raises(lg.SingularMatrixError, match=r"cycle z = F\(z, p\) through nodes #0 z, #1 p0"):
        G.grad(lambda x: np.sum(G.fixed_point(lambda z, x: z + 0.0 * x, np.zeros(2), x)))(np.ones(2))
    with pytest.raises(G.FixedPointError, match="did not converge in 5 steps"):
        G.grad(lambda x: np.sum(G.fixed_point(lambda z, x: 3.0 * np.cos(z) + x, np.zeros(2), x, max_iterations=5)))(np.ones(2))


# -- the graph as a Problem -------------------------------------------------------------
@pytest.mark.parametrize("nodes", ["scalar", "array"])
def test_newton_kkt_on_the_graph_program_returns_the_forward_pass_and_backprop(nodes):
    A = np.array([[1.0, 2.0], [3.0, -1.0]])
    graph = G.trace(lambda x: np.sum(G.tanh(A @ x) ** 2) + x[0] * x[1], np.array([0.3, -0.2]), nodes=nodes)
    problem = graph.as_problem()
    z = problem.x0
    # the constraint Jacobian the core sees is J - I: the multiplier system, transposed and negated
    jacobian = sp.csr_array(problem.constraints[0].jacobian(z))
    np.testing.assert_allclose(jacobian.toarray(), -graph.multiplier_matrix().toarray(), atol=1e-15)
    solution = lg.solve(problem, method="newton_kkt")
    assert solution.status == lg.Status.SUCCESS
    np.testing.assert_allclose(solution.x, z, atol=1e-14)
    np.testing.assert_allclose(solution.multipliers["graph"], graph.multipliers(), rtol=1e-12, atol=1e-14)


def test_as_problem_refuses_a_fixed_point_nested_in_another():
    def loss(x):
        inner = lambda z, x: G.fixed_point(lambda u, z, x: np.tanh(0.5 * u + 0.3 * z + x), np.zeros(2), z, x)  # noqa: E731
        return np.sum(G.fixed_point(inner, np.zeros(2), x) ** 2)

    graph = G.trace(loss, np.array([0.2, -0.1]))
    with pytest.raises(lg.errors.ProblemError, match="nested"):
        graph.as_problem()


def _wide_layer(width, seed=0, contraction=0.6):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((width, width))
    W *= contraction / np.linalg.norm(W, 2)  # tanh is 1-Lipschitz: F is a contraction
    U = rng.standard_normal((width, 3)) / np.sqrt(3)
    b = 0.1 * rng.standard_normal(width)
    return W, U, b, rng.standard_normal(width)


def test_wide_fixed_point_uses_anderson_and_gmres_and_agrees_with_newton_and_unrolling():
    W, U, b, target = _wide_layer(300)
    x = np.array([0.3, -0.8, 0.5])

    def loss(x, method):
        z = G.fixed_point(lambda z, x: np.tanh(W @ z + U @ x + b), np.zeros(len(b)), x, method=method)
        return 0.5 * np.sum((z - target) ** 2)

    graph = G.trace(lambda x: loss(x, "auto"), x)
    assert all(cycle.iterative for cycle in graph.tape.cycles.values())  # 300 > NEWTON_SIZE_LIMIT (100)
    value, gradient = G.value_and_grad(lambda x: loss(x, "auto"))(x)
    newton_value, newton_gradient = G.value_and_grad(lambda x: loss(x, "newton"))(x)
    assert value == pytest.approx(newton_value, rel=1e-12)
    np.testing.assert_allclose(gradient, newton_gradient, rtol=1e-10, atol=1e-13)

    def unrolled(x):
        z = np.zeros(len(b))
        for _ in range(80):  # 0.6^80 ~ 1e-18
            z = np.tanh(W @ z + U @ x + b)
        return 0.5 * np.sum((z - target) ** 2)

    np.testing.assert_allclose(gradient, G.grad(unrolled)(x), rtol=1e-9, atol=1e-13)


def test_anderson_reports_a_map_without_a_fixed_point_and_gmres_a_singular_block():
    with pytest.raises(G.FixedPointError, match="Anderson acceleration did not converge"):
        G.grad(lambda x: np.sum(G.fixed_point(lambda z, x: z + 1.0 + 0.0 * x, np.zeros(3), x, method="anderson", max_iterations=20)))(np.ones(3))
    # z = 1 is a fixed point of F(z) = z - (z - 1)^3 where dF/dz = I: the block is zero.
    with pytest.raises(G.FixedPointError, match="GMRES.*through nodes"):
        G.grad(lambda x: np.sum(G.fixed_point(lambda z, x: z - (z - 1.0) ** 3 + 0.0 * x, np.ones(3), x, method="anderson")))(np.ones(3))
    with pytest.raises(ValueError, match="method"):
        G.fixed_point(lambda z: z, np.zeros(2), method="broyden")


def test_finite_entries_whose_sum_overflows_are_not_reported_as_non_finite():
    # x * 1e300 is finite entrywise (1e308) though its sum overflows: the finiteness
    # check's sum prefilter must fall back to the entrywise test, not raise.
    x = np.array([1e8, 1e8])
    value, gradient = G.value_and_grad(lambda x: np.sum((x * 1e300) * 1e-300))(x)
    assert value == pytest.approx(2e8) and np.allclose(gradient, 1.0)
    with pytest.raises(G.NonFiniteValueError, match="mul"):
        G.grad(lambda x: np.sum((x * 1e300) * 1e300))(x)


def test_sparse_jacobian_by_forward_accumulation_matches_differences():
    from lagrangian.derivatives import central_difference_jacobian

    A = np.random.default_rng(2).normal(size=(4, 12))

    def c(x):
        pairs = x[0::2] ** 2 + x[1::2] ** 2
        slopes = np.tanh(x[1:] - x[:-1]) * np.exp(0.1 * x[:-1])
        return np.concatenate([pairs, np.sum(x * x).reshape(1), slopes, A @ x])

    x = np.random.default_rng(3).normal(size=12)
    values, J = G.value_and_sparse_jacobian(c)(x)
    assert sp.issparse(J) and J.shape == (6 + 1 + 11 + 4, 12)
    np.testing.assert_allclose(values, c(x), rtol=1e-15)
    np.testing.assert_allclose(J.toarray(), central_difference_jacobian(c, x), rtol=1e-7, atol=1e-8)
    # the pairs' rows have exactly their two entries: the accumulation kept them sparse
    assert np.all(np.diff(J.indptr)[:6] == 2)
    # an output that does not depend on x has an empty Jacobian
    values, J = G.value_and_sparse_jacobian(lambda x: np.ones(3))(x)
    assert J.shape == (3, 12) and J.nnz == 0
    with pytest.raises(ValueError, match="fixed-point"):
        G.value_and_sparse_jacobian(lambda x: G.fixed_point(lambda z, x: 0.5 * np.tanh(z + x), np.zeros(12), x))(x)


def _flat_layout(sizes):
    """``(start, stop, shape)`` of each weight matrix of an MLP in one parameter vector."""
    layout, start = [], 0
    for n, m in zip(sizes[:-1], sizes[1:]):
        layout.append((start, start + m * n, (m, n)))
        start += m * n
    return layout


@pytest.mark.parametrize("compile", [False, True])
def test_mlp_on_one_flat_parameter_vector_equals_hand_written_backprop(compile):
    """Weights as reshaped slices of one vector: the gradient is the three backprop gradients, laid end to end."""
    rng = np.random.default_rng(31)
    layout = _flat_layout((12, 16, 16, 3))
    theta = rng.standard_normal(layout[-1][1]) / 4
    X, T = rng.standard_normal((12, 32)), rng.standard_normal((3, 32))

    def loss(theta, X, T):
        W1, W2, W3 = (theta[start:stop].reshape(shape) for start, stop, shape in layout)
        return G.squared_loss(W3 @ np.tanh(W2 @ np.tanh(W1 @ X)), T)

    gradient_of = G.value_and_grad(loss, compile=compile)
    weights = [theta[start:stop].reshape(shape) for start, stop, shape in layout]
    for X, T in ((X, T), (X[:, ::-1].copy(), T[:, ::-1].copy())):  # the second call runs compiled code
        value, gradient = gradient_of(theta, X, T)
        expected_value, expected = mlp_backprop(weights, X, T)
        assert value == pytest.approx(expected_value, rel=1e-14)
        np.testing.assert_allclose(gradient, np.concatenate([g.ravel() for g in expected]), rtol=1e-12, atol=1e-14)
    if compile:
        assert gradient_of.compiled is not None and "scatter_add" in gradient_of.compiled.source
    # a slice or reshape is not checked again (its entries are its parent's): a NaN parameter
    # is reported by the first op that computes with it, as for separate weight arrays
    poisoned = theta.copy()
    poisoned[layout[1][0]] = np.nan
    with pytest.raises(G.NonFiniteValueError, match="matmul"):
        gradient_of(poisoned, X, T)


def test_multipliers_of_overlapping_repeated_and_shared_slices_equal_the_formed_solve():
    """A vector read by overlapping slices, a repeated fancy index and whole: every node's multiplier is the triangular solve's.

    The whole-vector use comes last, so its multiplier reaches the vector first and is
    a child's own array: the slices' multipliers must be added to a copy of it, and
    every other node's multiplier left as it was.
    """
    rng = np.random.default_rng(32)
    theta, c = rng.standard_normal(6), rng.standard_normal(6)

    def f(theta):
        a, b, d = theta[0:4], theta[2:6].reshape(2, 2), theta[[0, 0, 5]]
        u = theta + 0.0  # its multiplier passes to theta unchanged (the same array)
        return np.sum(np.tanh(a) * a) + np.sum(b @ b) + np.sum(d * d * d) + np.sum(u * u * c)

    graph = G.trace(f, theta)
    M = graph.multiplier_matrix()
    e_m = np.zeros(M.shape[0])
    e_m[graph.tape.offsets()[graph.output]] = 1.0
    np.testing.assert_allclose(graph.multipliers(), linalg.factorize(M).solve(e_m, transpose=True), rtol=1e-13, atol=1e-14)
    check_derivative(lambda t: np.array([f(t)]), theta, jacobian=lambda t: G.grad(f)(t)[None, :], rtol=1e-6)
    compiled = G.value_and_grad(f, compile=True)
    compiled(theta)
    other = rng.standard_normal(6)
    np.testing.assert_array_equal(compiled(other)[1], G.grad(f)(other))
