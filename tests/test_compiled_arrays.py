"""Compiled array tapes: tracing's values and gradients, bit for bit, from code that does not trace."""

import numpy as np
import pytest
from test_graph_arrays import MAPS, UNARY, _point

from lagrangian import graph as G
from lagrangian.graph import CompileError
from lagrangian.graph.compiled_arrays import CompiledArrayTape


def _assert_identical(got, want):
    """Same value and the same gradients: equal entries, shapes and dtypes."""
    (value, grads), (expected_value, expected) = got, want
    assert value == expected_value and type(value) is type(expected_value)
    grads, expected = (grads, expected) if isinstance(grads, tuple) else ((grads,), (expected,))
    for g, e in zip(grads, expected):
        assert np.shape(g) == np.shape(e) and np.asarray(g).dtype == np.asarray(e).dtype
        np.testing.assert_array_equal(g, e)


def _compiled_and_traced(fn, argnums=0):
    return G.value_and_grad(fn, argnums, compile=True), G.value_and_grad(fn, argnums)


@pytest.mark.parametrize("name", sorted(UNARY) + sorted(MAPS))
def test_every_array_op_compiled_gives_the_traced_gradient_at_other_points(name):
    op, kind = UNARY[name] if name in UNARY else (MAPS[name], "normal")
    first = _point(kind, (3, 4), seed=10)
    weights = np.random.default_rng(5).standard_normal(np.shape(op(first)))
    compiled, traced = _compiled_and_traced(lambda a: np.sum(op(a) * weights))
    compiled(first)
    code = compiled.compiled
    assert isinstance(code, CompiledArrayTape)
    for seed in (11, 12):
        a = _point(kind, (3, 4), seed)
        expected = traced(a)
        _assert_identical(compiled(a), expected)
        value, (gradient,) = code(a)  # the compiled code itself answered, not a fallback trace
        _assert_identical((value, gradient), expected)
    assert compiled.compiled is code  # the same shapes: no new trace


def _mlp(W1, W2, W3, X, T):
    return G.squared_loss(W3 @ np.tanh(W2 @ np.tanh(W1 @ X)), T)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mlp_batches_of_one_shape_reuse_the_code_and_a_new_shape_compiles_again(dtype):
    rng = np.random.default_rng(20)
    weights = [(rng.standard_normal(shape) / 3).astype(dtype) for shape in ((6, 5), (6, 6), (2, 6))]
    compiled, traced = _compiled_and_traced(_mlp, argnums=(0, 1, 2))
    code = None
    for batch in (4, 4, 4, 7):
        X, T = rng.standard_normal((5, batch)).astype(dtype), rng.standard_normal((2, batch)).astype(dtype)
        got = compiled(*weights, X, T)
        _assert_identical(got, traced(*weights, X, T))
        assert compiled.compiled(*weights, X, T) is not None
        assert all(g.dtype == dtype for g in got[1])
        assert code is None or (compiled.compiled is code) == (batch == 4)
        code = compiled.compiled
    # the batch and its targets are inputs of the code, and get no multipliers of their own
    assert "g3 " not in code.source and "g4 " not in code.source


def test_an_input_that_does_not_reach_the_output_gets_zeros():
    compiled, traced = _compiled_and_traced(lambda a, b: np.sum(a * a), argnums=(0, 1))
    for seed in (1, 2):
        a, b = _point("normal", (3,), seed), _point("normal", (2, 2), seed)
        _assert_identical(compiled(a, b), traced(a, b))


def test_a_value_that_an_op_could_absorb_is_checked_and_its_error_names_the_op():
    # tanh(inf) = 1 and its derivative 0: only a check of exp's value sees the overflow
    compiled, traced = _compiled_and_traced(lambda x: np.sum(np.tanh(np.exp(x)) * 2.0))
    _assert_identical(compiled(np.array([0.1, 0.2])), traced(np.array([0.1, 0.2])))
    assert "v1.sum()" in compiled.compiled.source  # exp's node
    with pytest.raises(G.NonFiniteValueError, match="exp"):
        compiled(np.array([0.1, 1000.0]))
    # a product keeps inf non-finite: only the output is checked, and the error is the same
    compiled = G.value_and_grad(lambda x: np.sum(np.exp(x) * 2.0), compile=True)
    compiled(np.array([0.1, 0.2]))
    assert "v1.sum()" not in compiled.compiled.source
    with pytest.raises(G.NonFiniteValueError, match="exp"):
        compiled(np.array([0.1, 1000.0]))


def test_only_values_an_op_could_absorb_are_checked():
    C = np.arange(8.0).reshape(4, 2)
    compiled = G.value_and_grad(lambda a: np.sum(np.tanh(a @ C) * 2.0 + np.sin(a @ C)), compile=True)
    compiled(np.ones((3, 4)))
    check = next(line for line in compiled.compiled.source.splitlines() if "isfinite" in line)
    # the two matmuls feed tanh (which maps inf to 1) and sin (which keeps it non-finite)
    assert check.count(".sum()") == 2 and "v1.sum()" in check


def test_code_that_reads_a_value_is_traced_at_every_call():
    fn = lambda x: np.sum(x * x) if x[0] > 0 else np.sum(3.0 * x)  # noqa: E731
    compiled, traced = _compiled_and_traced(fn)
    for x in (np.array([1.0, 2.0]), np.array([-1.0, 2.0]), np.array([2.0, 5.0])):
        _assert_identical(compiled(x), traced(x))
    assert compiled.compiled is None
    with pytest.raises(CompileError, match="read a traced value"):
        tape = G.trace(fn, np.array([1.0, 2.0])).tape
        CompiledArrayTape(tape, len(tape) - 1, [0], [True])


def test_folded_data_changed_in_place_is_seen():
    X = np.random.default_rng(3).standard_normal((5, 3))
    labels = np.array([1, -1, 1, 1, -1])  # integers: folded into the code, not an input
    fn = lambda w, labels: G.logistic_loss(X @ w, labels)  # noqa: E731
    compiled, traced = _compiled_and_traced(fn)
    w = np.array([0.3, -0.2, 0.5])
    _assert_identical(compiled(w, labels), traced(w, labels))
    labels[0] = -1
    _assert_identical(compiled(w, labels), traced(w, labels))


def test_fixed_point_graphs_are_not_compiled_and_stay_right():
    W = np.array([[0.3, -0.2], [0.1, 0.4]])

    def fn(x):
        z = G.fixed_point(lambda z, x: np.tanh(W @ z + x), np.zeros(2), x)
        return np.sum(z * z)

    compiled, traced = _compiled_and_traced(fn)
    for x in (np.array([0.2, -0.1]), np.array([0.5, 0.4])):
        _assert_identical(compiled(x), traced(x))
    assert compiled.compiled is None
