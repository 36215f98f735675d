"""Compiled tapes: the same values, gradients and Hessians as the trace, at points other than the traced one."""

import math

import numpy as np
import pytest

from lagrangian import graph as G
from lagrangian.graph import CompiledTape, CompileError, Tape
from lagrangian.graph.ops import BINARY_RULES, UNARY_RULES
from lagrangian.testing import check_derivative

# Every op of ops.py at a point inside its domain, as a function of three inputs.
UNARY = {
    "neg": lambda x: -x,
    "exp": G.exp,
    "log": G.log,
    "sin": G.sin,
    "cos": G.cos,
    "tan": G.tan,
    "sqrt": G.sqrt,
    "tanh": G.tanh,
    "sigmoid": G.sigmoid,
    "relu": G.relu,
    "abs": G.absolute,
    "softplus": G.softplus,
    "asin": G.asin,
    "erf": G.erf,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}


def test_every_op_has_a_case():
    assert set(UNARY) == set(UNARY_RULES) and set(BINARY) == set(BINARY_RULES)


def traced(outputs_of, x):
    """Values, output Jacobian and the weighted Hessian from a fresh trace at x (the reference)."""
    program = G.TracedProgram(lambda z: outputs_of(z)[0], [lambda z: outputs_of(z)[1:]], compile=False)
    return program


def compiled(outputs_of, x_traced):
    tape = Tape()
    outputs = outputs_of(tape.variables(x_traced))
    return CompiledTape(tape, outputs)


def assert_same_as_a_trace(outputs_of, x_traced, points, weights):
    """Compile at x_traced; at every other point compare with a trace there."""
    compiled_tape = compiled(outputs_of, x_traced)
    reference = traced(outputs_of, x_traced)
    for x in points:
        values, D = compiled_tape.derivatives(x)
        np.testing.assert_allclose(values[0], float(_value(outputs_of(Tape().variables(x))[0])), rtol=1e-15)
        np.testing.assert_allclose(D[0], reference.gradient(x), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(D[1:], reference.jacobian(x), rtol=1e-13, atol=1e-15)
        H = compiled_tape.hessian(x, weights)
        np.testing.assert_allclose(H, reference.hessian(x, weights[1:]), rtol=1e-12, atol=1e-14)
        # and the Hessian is the derivative of the weighted gradient (independent of both)
        check_derivative(lambda z: weights @ compiled_tape.derivatives(z)[1], x, jacobian=lambda z: compiled_tape.hessian(z, weights), rtol=1e-6)


def _value(output):
    return output._value if isinstance(output, G.Node) else output


@pytest.mark.parametrize("name", sorted(UNARY))
def test_each_unary_op_compiles_to_its_trace(name):
    op = UNARY[name]
    inside = {"log": 0.5, "sqrt": 0.5, "asin": 0.1}.get(name, 0.0)  # keeps the arguments in the domain

    def outputs_of(x):
        u = x[0] * 0.3 + x[1] * x[2] * 0.1 + inside  # a nonlinear argument, so chain rules show
        return [op(u) * x[1] + x[2], op(u), 2.0 * op(x[2] * 0.2 + inside)]

    rng = np.random.default_rng(1)
    points = [rng.uniform(0.2, 0.9, 3) * s for s in (1, -1)] if name not in ("log", "sqrt", "asin") else [rng.uniform(0.2, 0.9, 3)]
    assert_same_as_a_trace(outputs_of, np.array([0.4, 0.3, 0.5]), points, np.array([1.0, -0.7, 1.3]))


@pytest.mark.parametrize("name", sorted(BINARY))
def test_each_binary_op_compiles_to_its_trace(name):
    op = BINARY[name]

    def outputs_of(x):
        a, b = x[0] * x[1] + 1.5, G.exp(0.3 * x[2])  # positive, so pow is real
        return [op(a, b) + op(a, 2.0), op(3.0, b) * x[0], op(a, a), op(x[1], 2.5) if name != "pow" else op(a, 2.5)]

    rng = np.random.default_rng(2)
    points = [rng.uniform(0.1, 0.9, 3) for _ in range(2)]
    assert_same_as_a_trace(outputs_of, np.array([0.2, 0.6, 0.4]), points, np.array([1.0, 0.4, -1.1, 0.8]))


def test_constant_outputs_inputs_as_outputs_and_repeated_outputs():
    def outputs_of(x):
        f = x[0] * x[0] * x[1]
        return [f, 4.0, x[2], f, x[0] - x[0]]  # x0 - x0 is a node whose gradient is exactly zero

    compiled_tape = compiled(outputs_of, np.array([1.0, 2.0, 3.0]))
    values, D = compiled_tape.derivatives(np.array([2.0, -1.0, 0.5]))
    np.testing.assert_array_equal(values, [-4.0, 4.0, 0.5, -4.0, 0.0])
    np.testing.assert_array_equal(D, [[-4.0, 4.0, 0.0], [0, 0, 0], [0, 0, 1.0], [-4.0, 4.0, 0.0], [0, 0, 0]])
    # weights 1 and 2 on the same f: 3 grad^2 f, grad^2 (x0^2 x1) = [[2 x1, 2 x0], [2 x0, 0]]
    H = compiled_tape.hessian(np.array([2.0, -1.0, 0.5]), [1.0, 5.0, 7.0, 2.0, 9.0])
    np.testing.assert_array_equal(H, 3.0 * np.array([[-2.0, 4.0, 0.0], [4.0, 0.0, 0.0], [0.0, 0.0, 0.0]]))


def test_the_hessian_of_a_sparse_program_is_exact_and_sparse():
    # a chain of pairs: only neighbouring inputs meet, so H is tridiagonal
    def outputs_of(x):
        return [sum(G.sin(x[i] * x[i + 1]) for i in range(5)), x[0] * x[5]]

    compiled_tape = compiled(outputs_of, np.linspace(0.1, 0.6, 6))
    x = np.linspace(-0.5, 0.7, 6)
    H = compiled_tape.hessian(x, [1.0, 0.0])
    assert np.count_nonzero(np.triu(H, 2)) == 0
    assert len(compiled_tape._entries[0]) == 6 + 5 + 1  # diagonal, neighbours, and (0, 5) from the constraint
    check_derivative(lambda z: compiled_tape.derivatives(z)[1][0], x, jacobian=lambda z: compiled_tape.hessian(z, [1.0, 0.0]), rtol=1e-7)


@pytest.mark.parametrize(
    "look",
    [
        lambda x: x[0] * 2.0 if x[0] > 0 else -x[0],  # a comparison
        lambda x: x[0] if x[0] else x[1],  # bool()
        lambda x: x[0] * (2.0 if x[0].value > 1 else 1.0),  # reading the number
        lambda x: max(x[0], x[1]),  # builtins that compare
    ],
)
def test_a_trace_that_read_a_value_is_not_compiled(look):
    tape = Tape()
    out = look(tape.variables([0.5, 0.25]))
    assert tape.data_dependent
    with pytest.raises(CompileError, match="read a traced value"):
        CompiledTape(tape, [out])


def test_a_branching_program_keeps_tracing_and_stays_right_on_both_branches():
    objective = lambda x: x[0] * x[0] if x[0] > 0 else -x[0] * 3.0  # noqa: E731
    program = G.TracedProgram(objective)
    for x, g in [([1.0], 2.0), ([2.0], 4.0), ([-1.0], -3.0), ([0.5], 1.0)]:
        assert program.gradient(np.array(x))[0] == g
    assert program.compiled is None


def test_traced_program_compiles_at_the_second_point_and_agrees_with_the_trace():
    objective = lambda x: G.exp(x[0]) * x[1] ** 2 + G.log(x[2])  # noqa: E731
    constraint = lambda x: [x[0] * x[1] * x[2] - 1.0, G.sin(x[0]) + x[2] ** 3]  # noqa: E731
    program, reference = G.TracedProgram(objective, [constraint]), G.TracedProgram(objective, [constraint], compile=False)
    rng = np.random.default_rng(3)
    for k in range(4):
        x, y = rng.uniform(0.5, 1.5, 3), rng.normal(size=2)
        np.testing.assert_allclose(program.gradient(x), reference.gradient(x), rtol=1e-14)
        np.testing.assert_allclose(program.jacobian(x), reference.jacobian(x), rtol=1e-14)
        np.testing.assert_allclose(program.hessian(x, y), reference.hessian(x, y), rtol=1e-13, atol=1e-15)
        assert (program.compiled is not None) == (k >= 1)


def test_an_unclean_compiled_point_is_traced_so_the_error_names_the_op():
    objective = lambda x: G.log(x[0]) + x[1] * 1e300 * x[1] / (1.0 + x[1] * 1e300 * x[1])  # noqa: E731
    program = G.TracedProgram(objective)
    program.gradient(np.array([1.0, 1e-200]))
    program.gradient(np.array([2.0, 1e-200]))
    assert program.compiled is not None
    assert program.compiled.derivatives(np.array([-1.0, 1e-200])) is None  # log's domain: math raises
    with pytest.raises(G.NonFiniteValueError, match="log"):
        program.gradient(np.array([-1.0, 1e-200]))
    # x1 * 1e300 * x1 overflows to inf and inf / inf is NaN: Python says nothing, the check does
    assert program.compiled.derivatives(np.array([1.0, 1e10])) is None
    with pytest.raises(G.NonFiniteValueError, match="mul"):
        program.gradient(np.array([1.0, 1e10]))


def test_a_complex_power_is_not_silently_compiled():
    def outputs_of(x):
        return [(x[0] - 1.0) ** 0.5]

    compiled_tape = compiled(outputs_of, np.array([2.0]))
    assert compiled_tape.derivatives(np.array([5.0]))[0][0] == 2.0
    assert compiled_tape.derivatives(np.array([0.0])) is None  # (-1) ** 0.5 is complex in Python


def test_outputs_from_another_trace_are_refused():
    other = Tape().variables([1.0])[0]
    tape = Tape()
    x = tape.variables([1.0])
    with pytest.raises(CompileError, match="another trace"):
        CompiledTape(tape, [x[0] * 2.0, other * 2.0])


def test_hock_schittkowski_derivatives_through_the_compiled_tape_match_the_reference_evaluations():
    from lagrangian.problems import hock_schittkowski as hs

    compared = 0
    for name in hs.names():
        case = hs.load(name)
        p = case.problem
        for evaluation in case.record.get("reference_evaluations", []):
            x = np.asarray(evaluation["x"], dtype=float)
            p.gradient(x + 0.01)  # two traces first: x is then evaluated by the compiled tape
            p.gradient(x + 0.02)
            gradient = p.gradient(x)
            expected = np.asarray(evaluation["grad"], dtype=float)
            np.testing.assert_allclose(gradient, expected, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(expected).max()))
            if p.m:
                expected = np.asarray(evaluation["jac"], dtype=float).reshape(p.m, p.n)
                np.testing.assert_allclose(p.jacobian(x).toarray(), expected, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(expected).max()))
            compared += 1
    assert compared >= 83


def test_compiled_value_and_grad_matches_the_trace_at_new_points_and_new_data():
    def fn(w, b, data):
        return G.tanh(w @ data + b) ** 2 + 0.5 * b * b

    data = np.array([0.3, -1.2, 0.8])
    compiled_gradient = G.value_and_grad(fn, argnums=(0, 1), compile=True)
    plain = G.value_and_grad(fn, argnums=(0, 1))
    rng = np.random.default_rng(4)
    for k in range(3):
        w, b = rng.normal(size=3), float(rng.normal())
        value, (gw, gb) = compiled_gradient(w, b, data)
        expected_value, (ew, eb) = plain(w, b, data)
        assert value == pytest.approx(expected_value, rel=1e-15)
        np.testing.assert_allclose(gw, ew, rtol=1e-13)
        assert gb == pytest.approx(eb, rel=1e-13) and isinstance(gb, float)
        assert gw.shape == (3,) and compiled_gradient.compiled is not None
    # other data: the compiled code has the first call's data folded in, so this call is traced
    other = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(compiled_gradient(w, b, other)[1][0], plain(w, b, other)[1][0], rtol=1e-13)


def test_compiled_grad_of_a_branching_function_traces_every_call():
    fn = lambda x: x * x if x > 0 else -3.0 * x  # noqa: E731
    gradient = G.grad(fn, compile=True)
    assert [gradient(2.0), gradient(-1.0), gradient(0.5)] == [4.0, -3.0, 1.0]


def test_a_tape_compiled_without_its_hessian_answers_none_there():
    def outputs_of(x):
        return [x[0] * G.sin(x[1])]

    tape = Tape()
    compiled_tape = CompiledTape(tape, outputs_of(tape.variables([0.5, 0.2])), hessian=False)
    assert compiled_tape.hessian(np.array([1.0, 2.0]), [1.0]) is None
    assert compiled_tape.derivatives(np.array([1.0, 2.0]))[1][0, 0] == math.sin(2.0)
