"""Reverse mode by source transformation against the trace's multiplier solve.

The independent truths: the tape's back substitution (``trace(...).gradients()``,
itself checked against finite differences and Theorem 15.1 in test_graph.py) and
central differences.
"""

import itertools
import linecache
import math
import re

import numpy as np
import pytest

from lagrangian import graph as G
from lagrangian.graph import NonFiniteValueError, SourceTransformError, source_adjoint


def traced(fn, args, argnums):
    graph = G.trace(fn, *args, argnums=argnums, nodes="scalar")
    gradients = graph.gradients()
    return graph.value, [gradients[i] for i in argnums]


def assert_matches_the_trace(fn, args, argnums=(0,), rtol=1e-14):
    value, gradients = source_adjoint(fn, argnums)(*args)  # raises if fn is not transformed
    expected_value, expected = traced(fn, args, argnums)
    assert value == pytest.approx(expected_value, rel=rtol, abs=1e-300)
    np.testing.assert_allclose(gradients, expected, rtol=rtol, atol=1e-300)
    assert all(type(g) is float for g in gradients)
    return gradients


def chain(x, repetitions=100):
    for _ in range(repetitions):
        a = G.sin(x)
        e = G.exp(a)
        s = e + e * e
        x = x + 1e-3 * (G.exp(-s) + G.sin(s))
    return x


def test_the_chain_gives_the_traced_multipliers_bit_for_bit_and_the_derivative():
    adjoint = source_adjoint(chain, (0,))
    for x in (0.3, -1.1, 2.0):
        value, (gradient,) = adjoint(x)
        expected_value, (expected,) = traced(chain, (x,), (0,))
        assert value == expected_value and gradient == expected
        h = 1e-6
        difference = (chain(x + h) - chain(x - h)) / (2 * h)  # on floats: G's functions fall back to numpy
        assert gradient == pytest.approx(difference, rel=1e-7)
    assert G.value_and_grad(chain)(2.0) == (value, gradient)  # the same route


def _calling(f):
    return lambda x: f(x) * x + f(0.5 * x) - 2.0 * f(x)


_SPELLINGS = [
    (G.exp, (math.exp, np.exp), 0.4), (G.log, (math.log, np.log), 1.7), (G.sin, (math.sin, np.sin), 0.4),
    (G.cos, (math.cos, np.cos), 0.4), (G.tan, (math.tan, np.tan), 0.4), (G.sqrt, (math.sqrt, np.sqrt), 1.3),
    (G.tanh, (math.tanh, np.tanh), 0.4), (G.asin, (math.asin, np.arcsin), 0.3), (G.erf, (math.erf,), 0.4),
    (G.absolute, (abs, math.fabs, np.abs), -0.6), (G.sigmoid, (), -0.7), (G.relu, (), 0.8), (G.relu, (), -0.8),
    (G.softplus, (), 1.2),
]  # fmt: skip


@pytest.mark.parametrize("function, others, point", _SPELLINGS)
def test_every_elementwise_function_in_each_spelling(function, others, point):
    gradient = assert_matches_the_trace(_calling(function), (point,))
    # math's and numpy's spellings cannot be traced (a Node is not a float); they are transformed to the same op
    for other in others:
        assert source_adjoint(_calling(other), (0,))(point)[1] == gradient


def binary_ops(x, y):
    a = x + y - 2.0 * x + y / 3.0 - 1.5 / x
    b = x**3 + x**y + 2.0**y - y**0.5 + (-x) ** 2
    c = +a * -b
    return a * b + c / (1.0 + a * a) - 4.0 - x


def loops_and_branches(x, y, n):
    s = 0
    for i in range(n):
        s += x * i - y
        if s > 0.3:
            s = s * 0.5 + G.sin(y)
        elif s < -1.0:
            s = -s
        else:
            t = s * s
            s = s + t * y
    k = 0.0
    while x * x < 100.0:
        x = x * 1.5 + 0.1 * y
        k = k + 1
    return s * x + k


def tuple_assignments(x, y):
    a, b = x, y
    for _ in range(6):
        a, b = b, a + b * 0.5
    a, b = b, a
    p, q = 3.0, x * y
    return a * b + p * q


def copies_and_reassignments(x, w, data):
    """A docstring is skipped; the data argument is read by index and never traced."""
    y = x
    z = y * y
    y = 3.0
    total = z + y * x
    for k in range(len(data)):
        total += data[k] * G.exp(w * x)
    x = x * x
    x = G.sin(x)
    return total + x


SCALE = 2.5


def reads_a_global_and_a_default(x, y=1.5):
    return SCALE * x * y + SCALE


def returns_its_argument(x):
    return x


def returns_a_constant(x):
    dead = x * 2.0  # a traced value that never reaches the output
    assert dead == dead
    return 3.0 + 0.0 * SCALE


@pytest.mark.parametrize(
    "fn, args, argnums",
    [
        (binary_ops, (0.7, 1.3), (0, 1)),
        (binary_ops, (0.7, 1.3), (1,)),
        (loops_and_branches, (0.4, 0.2, 7), (0, 1)),
        (loops_and_branches, (-0.3, 0.9, 7), (0, 1)),  # other branches, another trip count
        (loops_and_branches, (2.0, -0.5, 3), (1, 0)),
        (tuple_assignments, (0.3, -0.8), (0, 1)),
        (copies_and_reassignments, (0.6, 0.2, np.array([1.0, -2.0, 0.5])), (0, 1)),
        (reads_a_global_and_a_default, (0.6,), (0,)),
        (reads_a_global_and_a_default, (0.6, 2.0), (0, 1)),
        (returns_its_argument, (0.6,), (0,)),
        (returns_a_constant, (0.6,), (0,)),
        (lambda x, y: G.exp(G.exp(x) + G.exp(x) ** 2) + G.sin(G.exp(x) + y), (0.1, 0.2), (0, 1)),
    ],
)
def test_control_flow_assignments_and_data_match_the_trace(fn, args, argnums):
    gradients = assert_matches_the_trace(fn, args, argnums)
    for position, gradient in zip(argnums, gradients):
        h = 1e-6
        up, down = list(args), list(args)
        up[position] += h
        down[position] -= h
        assert gradient == pytest.approx((fn(*up) - fn(*down)) / (2 * h), rel=1e-6, abs=1e-8)


def test_a_constant_output_has_zero_gradient_and_value_and_grad_returns_floats():
    assert source_adjoint(returns_a_constant, (0,))(0.6) == (3.0, [0.0])
    value, (gx, gy) = G.value_and_grad(binary_ops, argnums=(0, 1))(np.float64(0.7), 1)
    assert type(value) is float and type(gx) is float and type(gy) is float
    assert (value, [gx, gy]) == traced(binary_ops, (0.7, 1.0), (0, 1))


def test_closures_of_one_code_object_are_transformed_apart():
    at_exp, at_sin = _calling(G.exp), _calling(G.sin)
    assert at_exp.__code__ is at_sin.__code__
    # made again with the same meaning, a function reuses the transform; with another, it does not
    assert source_adjoint(at_exp, (0,)).source is source_adjoint(_calling(G.exp), (0,)).source
    assert source_adjoint(at_exp, (0,)).source is not source_adjoint(at_sin, (0,)).source
    assert source_adjoint(at_exp, (0,))(0.4)[1] == pytest.approx(traced(at_exp, (0.4,), (0,))[1], rel=1e-15)
    assert source_adjoint(at_sin, (0,))(0.4)[1] == pytest.approx(traced(at_sin, (0.4,), (0,))[1], rel=1e-15)


def helper(x):
    return x * x


def calls_a_helper(x):
    return helper(x) + 1.0


def conditional_expression(x):
    return x * x if x > 0 else -3.0 * x


def appends_to_a_list(x):
    values = []
    values.append(x * 2.0)
    return values[0]


def breaks_out(x):
    for _ in range(10):
        x = x * 1.1
        if x > 2.0:
            break
    return x


def returns_early(x):
    if x > 0:
        return x * x
    return -x


@pytest.mark.parametrize(
    "fn, construct, offset",  # offset: the line of the construct, counted from the `def`
    [
        (calls_a_helper, "the call `helper(x)`", 1),
        (conditional_expression, "IfExp", 1),
        (appends_to_a_list, "Expr", 2),
        (breaks_out, "`break`", 4),
        (returns_early, "`return` statement before the end", 2),
    ],
)
def test_what_is_not_transformed_is_named_and_traced_instead(fn, construct, offset):
    with pytest.raises(SourceTransformError, match=re.escape(construct)) as raised:
        source_adjoint(fn, (0,))
    assert f"line {fn.__code__.co_firstlineno + offset}:" in str(raised.value) and fn.__name__ in str(raised.value)
    for x in (1.5, -0.5):
        value, gradient = G.value_and_grad(fn)(x)
        assert (value, [gradient]) == traced(fn, (x,), (0,))


@pytest.mark.parametrize(
    "fn, bad, good, op",
    [
        (lambda x: G.log(x) + x, -1.0, 2.0, "log"),
        (lambda x: G.exp(x) * 2.0, 1000.0, 1.0, "exp"),
        (lambda x: x * 1e308 * x, 2.0, 1e-3, "mul"),  # inf without an exception
        (lambda x: 1.0 / (x - 1.0), 1.0, 2.0, "div"),
    ],
)
def test_a_failing_op_is_named_by_the_trace(fn, bad, good, op):
    assert source_adjoint(fn, (0,))(bad) is None  # transformed; the failure is at this point only
    with pytest.raises(NonFiniteValueError, match=op):
        G.value_and_grad(fn)(bad)
    assert source_adjoint(fn, (0,))(good) == traced(fn, (good,), (0,))


def test_array_arguments_take_the_array_tape():
    fn = lambda x: G.sin(x) * 2.0  # noqa: E731
    gradient = G.grad(lambda v: np.sum(fn(v)))(np.array([0.1, 0.2]))
    np.testing.assert_allclose(gradient, 2.0 * np.cos([0.1, 0.2]), rtol=1e-15)


# -- random programs ---------------------------------------------------------------------
_UNARY = ["G.sin({})", "G.cos({})", "G.tanh({})", "G.sigmoid({})", "G.exp(G.tanh({}))", "-{}", "G.sqrt(1.0 + {0} * {0})"]
_BINARY = ["{} + {}", "{} - {}", "{} * {}", "{} / (1.5 + {} ** 2)", "0.7 * {} - {} * 1.3"]


def _expression(rng, names, depth):
    if depth == 0 or rng.random() < 0.25:
        return str(rng.choice(names)) if rng.random() < 0.8 else repr(round(float(rng.normal()), 3))
    if rng.random() < 0.4:
        return "(" + str(rng.choice(_UNARY)).format(_expression(rng, names, depth - 1)) + ")"
    left, right = _expression(rng, names, depth - 1), _expression(rng, names, depth - 1)
    return "(" + str(rng.choice(_BINARY)).format(left, right) + ")"


def _program(rng, index):
    names = ["x", "y", "u", "v"]
    lines = [f"def random_program_{index}(x, y):", "    u, v = x * 0.5, y - x"]
    for _ in range(int(rng.integers(3, 7))):
        kind = rng.random()
        target = str(rng.choice(names))
        if kind < 0.2:
            lines += ["    for i in range(3):", f"        {target} = 0.5 * {_expression(rng, names, 2)} + 0.1 * i"]
        elif kind < 0.4:
            lines += [f"    if {rng.choice(names)} > 0.0:", f"        {target} = {_expression(rng, names, 2)}",
                      "    else:", f"        {target} += {_expression(rng, names, 1)}"]  # fmt: skip
        elif kind < 0.5:
            other = str(rng.choice(names))
            lines.append(f"    {target}, {other} = {other}, {_expression(rng, names, 2)}")
        else:
            lines.append(f"    {target} = {_expression(rng, names, 3)}")
    lines.append(f"    return {_expression(rng, names, 2)}")
    return "\n".join(lines) + "\n"


def test_random_programs_match_the_trace():
    rng = np.random.default_rng(20261123)
    checked = 0
    for index in range(60):
        source = _program(rng, index)
        filename = f"<random program {index}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)  # so inspect finds it
        namespace = {"G": G}
        exec(compile(source, filename, "exec"), namespace)
        fn = namespace[f"random_program_{index}"]
        for x, y in itertools.islice(zip(rng.normal(size=3), rng.normal(size=3)), 3):
            # copies (`a, b = b, ...`) may sum a multiplier in another order than the tape: rounding only
            assert_matches_the_trace(fn, (float(x), float(y)), (0, 1), rtol=1e-12)
            checked += 1
        del linecache.cache[filename]
    assert checked == 180


def unchanged(fn):
    return fn


@unchanged
@unchanged
def decorated(x):
    y = x * x
    return helper(y)


def documented_at_the_margin(x):
    """A docstring whose lines
reach the margin: the block is not cut by indentation, and inspect finds it."""
    for _ in range(3):
        x = G.tanh(x) * 1.5
    return x


def test_the_source_is_found_under_decorators_and_past_a_margin_docstring():
    with pytest.raises(SourceTransformError, match=re.escape(f"line {decorated.__code__.co_firstlineno + 4}: the call `helper(y)`")):
        source_adjoint(decorated, (0,))
    assert_matches_the_trace(documented_at_the_margin, (0.4,))


def test_the_generated_code_is_the_forward_sweep_then_the_back_substitution():
    adjoint = source_adjoint(chain, (0,))
    forward, reverse = adjoint.source.split("# reverse")
    # per repetition, the partials of the chain that depend on values: cos x, e, e and e
    # for e * e, exp(-s), cos s: six pushes; the constant ones (1 for +, 1e-3) are in the code
    assert forward.count("_lg_push(") == 6 + 1  # and the trip count
    assert reverse.count("_lg_pop()") == 6 + 1
    assert "0.001 * _lg_bt" in reverse


def unpacks_data_into_traced_names(x, pair):
    a, b = x * 2.0, x
    a, b = pair
    return a * b + x


def returns_inside_a_try(x, data):
    try:
        n = len(data)
    except TypeError:
        return 0.0
    return x * n


def test_data_unpacked_into_traced_names_and_returns_hidden_in_blocks():
    assert_matches_the_trace(unpacks_data_into_traced_names, (0.3, (2.0, 5.0)), (0,))
    with pytest.raises(SourceTransformError, match="a `return` inside a `Try` statement"):
        source_adjoint(returns_inside_a_try, (0,))
    assert G.grad(returns_inside_a_try)(0.3, [1, 2, 3]) == 3.0


def test_methods_and_partials_are_traced():
    import functools

    class Model:
        def energy(self, x):
            return self.scale * x * x

    model = Model()
    model.scale = 3.0
    for fn in (model.energy, functools.partial(binary_ops, y=1.3)):
        with pytest.raises(SourceTransformError, match="not a plain Python function"):
            source_adjoint(fn, (0,))
    assert G.grad(model.energy)(0.5) == 3.0


def hides_an_assignment_in_a_test(x):
    if (y := x * 2.0) > 0.0:
        return_value = y * y
    else:
        return_value = x
    return return_value


def test_an_assignment_expression_of_a_traced_value_is_refused():
    with pytest.raises(SourceTransformError, match="assignment expression"):
        source_adjoint(hides_an_assignment_in_a_test, (0,))
    assert G.grad(hides_an_assignment_in_a_test)(0.5) == pytest.approx(8.0 * 0.5, rel=1e-15)


def breaks_inside_a_with_block(x):
    import contextlib

    for k in range(10):
        x = x * 1.1
        with contextlib.nullcontext():  # reads no traced value: it would be run as written
            if k == 4:
                break
    return x


def test_a_break_anywhere_in_a_computing_loop_is_refused():
    with pytest.raises(SourceTransformError, match="`break` in a loop"):
        source_adjoint(breaks_inside_a_with_block, (0,))
    assert G.grad(breaks_inside_a_with_block)(1.5) == pytest.approx(1.1**5, rel=1e-14)


def returns_an_array(x, data):
    return x * data[0] + data


def test_an_array_output_is_reported_by_the_trace():
    with pytest.raises(TypeError, match="must return a scalar"):
        G.value_and_grad(returns_an_array)(0.5, np.array([2.0]))
