"""Computation graphs: every op's derivative, Theorem 15.1, an MLP against hand-written backprop."""

import math

import numpy as np
import pytest

import lagrangian as lg
from lagrangian import graph as G
from lagrangian.examples import backprop_is_a_kkt_solve
from lagrangian.testing import check_derivative

UNARY_CASES = {
    "exp": (G.exp, 0.3),
    "log": (G.log, 1.7),
    "sin": (G.sin, 0.4),
    "cos": (G.cos, 0.4),
    "tan": (G.tan, 0.4),
    "sqrt": (G.sqrt, 2.3),
    "tanh": (G.tanh, -0.6),
    "sigmoid": (G.sigmoid, 0.8),
    "relu": (G.relu, 0.8),
    "abs": (G.absolute, -0.8),
    "asin": (G.asin, 0.35),
    "erf": (G.erf, 0.35),
}


@pytest.mark.parametrize("name", sorted(UNARY_CASES))
def test_unary_op_dot_product_test(name):
    op, x0 = UNARY_CASES[name]
    fun = lambda x: float(op(x[0]) if not isinstance(op(x[0]), np.ndarray) else op(x[0]))  # noqa: E731
    check_derivative(fun, np.array([x0]), vjp=lambda x, u: u[0] * lg.graph.grad(lambda t: op(t))(x[0]) * np.ones(1), rtol=1e-7)


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: a + b,
        lambda a, b: a - b,
        lambda a, b: a * b,
        lambda a, b: a / b,
        lambda a, b: a**b,
        lambda a, b: 2.5**a * b,
        lambda a, b: 3.0 - a / (1.0 + b),
        lambda a, b: -(a**3) + abs(b),
    ],
)
def test_binary_ops_dot_product_test(fn):
    f = lambda x: fn(x[0], x[1])  # noqa: E731
    check_derivative(lambda x: float(f(x)), np.array([1.3, 0.7]), vjp=lambda x, u: u[0] * lg.graph.grad(f)(x), rtol=1e-7)


def test_theorem_15_1_on_the_blog_example(capsys):
    found = backprop_is_a_kkt_solve.main(0.1)
    assert found["max_relative_difference"] <= 1e-14
    assert "largest relative difference" in capsys.readouterr().out


def test_every_multiplier_is_the_derivative_of_the_output_wrt_its_node():
    # Perturb one intermediate node at a time by re-running the graph's tail by hand.
    x = 0.2
    graph = G.trace(backprop_is_a_kkt_solve.blog_function, x)
    mu = graph.multipliers()
    values = dict(zip("xabcdef", graph.tape.values))
    tails = {  # f as a function of one node, everything downstream recomputed
        "a": lambda a: math.exp(a + a * a) + math.sin(a + a * a),
        "b": lambda b: math.exp(values["a"] + b) + math.sin(values["a"] + b),
        "c": lambda c: math.exp(c) + math.sin(c),
        "d": lambda d: d + values["e"],
        "e": lambda e: values["d"] + e,
    }
    for index, name in enumerate("xabcdef"):
        if name in tails:
            h = 1e-6 * max(1.0, abs(values[name]))
            fd = (tails[name](values[name] + h) - tails[name](values[name] - h)) / (2 * h)
            assert mu[index] == pytest.approx(fd, rel=1e-8), name


def mlp_loss(W1, W2, x, t):
    h = np.tanh(W1 @ x)
    out = W2 @ h
    return 0.5 * np.sum((out - t) ** 2)


def mlp_backprop(W1, W2, x, t):
    """Hand-written backprop: the independent truth."""
    a = W1 @ x
    h = np.tanh(a)
    out = W2 @ h
    d_out = out - t
    dW2 = np.outer(d_out, h)
    d_a = (W2.T @ d_out) * (1 - h**2)
    dW1 = np.outer(d_a, x)
    return dW1, dW2


def test_mlp_gradients_equal_hand_written_backprop():
    rng = np.random.default_rng(0)
    W1, W2 = rng.standard_normal((5, 4)), rng.standard_normal((3, 5))
    x, t = rng.standard_normal(4), rng.standard_normal(3)
    value, (g1, g2) = G.value_and_grad(mlp_loss, argnums=(0, 1))(W1, W2, x, t)
    h1, h2 = mlp_backprop(W1, W2, x, t)
    assert value == pytest.approx(mlp_loss(W1, W2, x, t), rel=1e-14)
    np.testing.assert_allclose(g1, h1, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(g2, h2, rtol=1e-12, atol=1e-14)


def test_multipliers_come_from_the_triangular_path():
    graph = G.trace(lambda x: G.sin(x[0] * x[1]) + x[0] ** 2, np.array([0.5, 1.5]), nodes="scalar")
    A = graph.multiplier_matrix()
    F = lg.linalg.factorize(A)
    assert F.kind == "triangular"
    y = F.solve(np.eye(len(graph))[graph.output], transpose=True)
    np.testing.assert_array_equal(y, graph.multipliers())  # exactly the same route


def test_non_finite_values_name_the_op():
    with pytest.raises(G.NonFiniteValueError, match="log: is undefined at -1.0"):
        G.grad(lambda x: G.log(x - 2.0))(1.0)
    with pytest.raises(G.NonFiniteValueError, match="exp: overflows at 1000.0"):
        G.grad(lambda x: G.exp(x))(1000.0)
    with pytest.raises(TypeError, match="must return a scalar"):
        G.trace(lambda x: x, np.ones(2))


def test_constant_functions_have_zero_gradient():
    assert G.grad(lambda x: 3.0)(1.0) == 0.0


def test_traced_program_answers_gradient_jacobian_and_hessian_from_one_trace():
    from lagrangian.derivatives import central_difference_jacobian

    f = lambda x: G.exp(x[0] * x[1]) + x[2] ** 3 / (1.0 + x[0] ** 2)  # noqa: E731
    c = lambda x: [G.sin(x[0]) * x[2], x[1] ** 2 - x[0] * x[2], 4.0]  # noqa: E731  (the last row is constant)
    program = G.TracedProgram(f, [c])
    x, y = np.array([0.3, -0.7, 1.1]), np.array([0.5, -2.0, 3.0])
    gradient = program.gradient(x)
    tape = program._tape
    jacobian = program.jacobian(x)
    hessian = program.hessian(x, y)
    assert program._tape is tape  # one trace served all three at this point
    plain_f = lambda v: float(np.exp(v[0] * v[1]) + v[2] ** 3 / (1.0 + v[0] ** 2))  # noqa: E731
    plain_c = lambda v: np.array([np.sin(v[0]) * v[2], v[1] ** 2 - v[0] * v[2], 4.0])  # noqa: E731
    np.testing.assert_allclose(gradient, central_difference_jacobian(plain_f, x)[0], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(jacobian, central_difference_jacobian(plain_c, x), rtol=1e-8, atol=1e-9)
    assert np.all(jacobian[2] == 0.0)
    lagrangian_gradient = lambda v: program.gradient(v) + program.jacobian(v).T @ y  # noqa: E731
    np.testing.assert_allclose(hessian, central_difference_jacobian(lagrangian_gradient, x), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(hessian, hessian.T, atol=0)
    program.gradient(x + 1.0)
    assert program._tape is not tape  # a new point is traced anew
