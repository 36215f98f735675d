"""Worked examples. Each is a script (run it with ``python examples/NAME.py``) and a
module with a ``main()`` that ``lagrangian demo`` runs and that returns what it found.

:data:`DEMOS` says, for each example, what problem it solves (one sentence, printed
before it runs), how to summarize what it found, and the checks its answer must pass,
each against an independent truth (a closed form, a hand-written derivative, cvxpy).
The test suite asserts the same checks.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One claim about an example's answer: ``found[key] <op> bound``."""

    claim: str
    key: str
    op: str  # "<=", ">=" or "=="
    bound: object

    _OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq}

    def holds(self, found: dict) -> bool:
        return bool(self._OPS[self.op](found[self.key], self.bound))

    def measured(self, found: dict) -> str:
        value = found[self.key]
        shown = f"{value:.1e}" if isinstance(value, float) else repr(value)
        return f"{self.key} = {shown}, needs {self.op} {self.bound}"


@dataclass(frozen=True)
class Demo:
    """An example as ``lagrangian demo`` presents it."""

    name: str
    problem: str  # one sentence: what is solved, before it is solved
    summary: str  # str.format template over the dict main() returns
    checks: tuple[Check, ...]


# The order in which `lagrangian demo` runs them.
DEMOS = (
    Demo(
        "solve_kkt_from_a_script",
        "The largest box with surface area 6 (the answer is the unit cube), solved by "
        "Newton steps on its KKT system taken by hand and then by the solver.",
        "x = {x}; the area's multiplier {multiplier:.6f} is the volume one more unit of area buys; "
        "{iterations} Newton-KKT iterations",
        (
            Check("the solution is the unit cube", "x_error", "<=", 1e-12),
            Check("the multiplier is the shadow price -df*/dS = 1/4", "multiplier_error", "<=", 1e-12),
            Check("six Newton steps by hand reach the cube", "newton_steps_error", "<=", 1e-12),
            Check("the KKT residuals vanish", "kkt", "<=", 1e-12),
        ),
    ),
    Demo(
        "backprop_is_a_kkt_solve",
        "Tim Vieira's function f(x) = exp(e^x + e^2x) + sin(e^x + e^2x) as a computation graph, "
        "whose KKT multipliers are its derivatives.",
        "f(0.1) = {f:.6f}, df/dx = {df/dx:.6f}, read off the multiplier of the input node",
        (Check("every node's multiplier equals its derivative by hand", "max_relative_difference", "<=", 1e-12),),
    ),
    Demo(
        "network_as_a_kkt_system",
        "A small tanh network trained by gradient descent to tell a disc from its outside, "
        "its gradients being the multipliers of the network's constraints.",
        "loss {initial_loss:.3f} -> {final_loss:.3f}, accuracy {accuracy:.1%}",
        (
            Check("the multipliers equal hand-written numpy backprop", "backprop_relative_difference", "<=", 1e-12),
            Check("training halves the loss at least", "loss_ratio", "<=", 0.5),
            Check("at least 90% of the points are classified right", "accuracy", ">=", 0.9),
        ),
    ),
    Demo(
        "regression_and_factorization_as_networks",
        "Linear regression and a rank-2 matrix factorization trained as networks, "
        "against their closed forms (least squares and the truncated SVD).",
        "regression weights within {regression_weight_error:.1e} of lstsq, "
        "factorization within {factorization_relative_gap:.1e} of Eckart-Young",
        (
            Check("regression reaches numpy.linalg.lstsq's weights", "regression_weight_error", "<=", 1e-8),
            Check("factorization reaches the truncated SVD's loss", "factorization_relative_gap", "<=", 1e-6),
        ),
    ),
    Demo(
        "fixed_point_layer",
        "A layer z = tanh(Wz + Ux + b) defined by its fixed point, differentiated by one "
        "solve with the cyclic block of its multiplier system.",
        "implicit gradient within {unrolled_gap:.1e} of 200 unrolled iterations "
        "({unrolled_nodes} nodes) and {difference_gap:.1e} of central differences",
        (
            Check("the cycle is one block, solved by LU", "block_kind", "==", "lu"),
            Check("it matches differentiating 200 unrolled iterations", "unrolled_gap", "<=", 1e-12),
            Check("it matches central differences", "difference_gap", "<=", 1e-7),
            Check("graph.fixed_point gives the same gradient", "graph_gap", "<=", 1e-12),
            Check("graph.fixed_point gives the same loss", "graph_value_gap", "<=", 1e-14),
            Check("I - J, formed, is block triangular over its SCCs", "formed_kind", "==", "block_triangular"),
        ),
    ),
    Demo(
        "ridge_penalty_is_a_multiplier",
        "Least squares with a budget ||W||^2 <= t, whose multiplier is the ridge penalty lambda.",
        "lambda read off the multiplier along a path of budgets; lambda = {lambda_by_hypergradient:.3f} "
        "chosen by its hypergradient on validation data",
        (
            Check("the multiplier is the penalty lambda of W(lambda)", "worst_relative_multiplier_error", "<=", 1e-8),
            Check("d f*/d t = -lambda (implicit function theorem)", "price_error", "<=", 1e-8),
            Check("cvxpy's dual agrees", "cvxpy_dual_error", "<=", 1e-5),
        ),
    ),
)

BY_NAME = {demo.name: demo for demo in DEMOS}


def check(claim: str, value, op: str, bound) -> None:
    """Print one check of a documentation page as a ``pass`` line; raise if it fails.

    The pages of the learning path run at build time; a failed check stops the build
    (and fails the test that runs the page), so a number on a page cannot go stale.
    """
    line = Check(claim, "value", op, bound)
    found = {"value": value}
    holds = line.holds(found)
    print(f"{'pass' if holds else 'FAIL'}  {claim} ({line.measured(found).replace('value = ', '')})")
    if not holds:
        raise AssertionError(f"check failed: {claim} ({line.measured(found)})")
