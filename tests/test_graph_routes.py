"""The route rule of lagrangian.graph.routes: each row of its table takes the route it names, and answers right."""

import math

import numpy as np
import pytest

from lagrangian import graph as G
from lagrangian.graph.routes import Gradient


def _helper(x):
    return G.sin(x) * x


def transformable(x):
    return G.sin(x) * x


def calls_a_helper(x):
    return _helper(x) + 0.0  # a call of another Python function: the source route refuses it


def branches_in_an_expression(x):
    return x * x if x > 0 else -3.0 * x  # a conditional expression reads a traced value


def network(W, x):
    return np.sum(np.tanh(W @ x))


def _scalar_truth(x):
    return math.sin(x) * x, math.cos(x) * x + math.sin(x)


_W, _x = np.array([[0.3, -0.2], [0.1, 0.4]]), np.array([0.5, -1.5])


def _network_truth(W, x):
    value = np.tanh(W @ x)
    return float(np.sum(value)), np.outer(1.0 - value**2, x)


# (function, arguments, compile, the routes the rule lists, the route that answers a second call, truth)
ROWS = [
    (transformable, (0.7,), False, ("source", "trace"), "source", _scalar_truth),
    (transformable, (0.7,), True, ("source", "compiled scalar tape", "trace"), "source", _scalar_truth),
    (calls_a_helper, (0.7,), False, ("trace",), "trace", _scalar_truth),
    (calls_a_helper, (0.7,), True, ("compiled scalar tape", "trace"), "compiled scalar tape", _scalar_truth),
    (branches_in_an_expression, (0.7,), True, ("compiled scalar tape", "trace"), "trace", lambda x: (x * x, 2 * x)),
    (network, (_W, _x), False, ("trace",), "trace", _network_truth),
    (network, (_W, _x), True, ("compiled array tape", "trace"), "compiled array tape", _network_truth),
]


@pytest.mark.parametrize("fn, args, compile, routes, answered, truth", ROWS, ids=lambda v: getattr(v, "__name__", None))
def test_each_row_of_the_table_takes_its_route_and_agrees_with_the_closed_form(fn, args, compile, routes, answered, truth):
    gradient = G.value_and_grad(fn, compile=compile)
    assert isinstance(gradient, Gradient)
    gradient(*args)  # the first call settles what the source route and the compiler make of fn
    assert gradient.routes(args) == routes
    value, grad = gradient(*args)
    assert gradient.last_route == answered
    want_value, want_grad = truth(*args)
    assert value == pytest.approx(want_value, rel=1e-14)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-13)


def test_a_point_outside_the_domain_is_traced_so_the_error_names_the_op():
    gradient = G.value_and_grad(lambda x: G.log(x) * x)
    assert gradient(2.0)[1] == pytest.approx(math.log(2.0) + 1.0, rel=1e-15) and gradient.last_route == "source"
    with pytest.raises(G.NonFiniteValueError, match="log"):
        gradient(-1.0)

