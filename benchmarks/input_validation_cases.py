"""Bad input and what the package says about it: a count of answers, clear errors, unclear errors.

Each case is something a user may pass (complex numbers, strings, None, ragged
lists, NaN derivatives, bounds in one form or another, unsupported numpy
functions in traced code). A case either expects an answer, checked against an
independent truth (a closed-form minimizer, numpy's eigenvalues), or expects an
error that an ordinary user can act on: a ``lagrangian.ProblemError`` whose
message names the argument or callable. Every outcome is classified:

- ``correct``: the expected answer, or a ProblemError naming the argument;
- ``wrong answer``: a result returned where an error was due, or a wrong result;
- ``unclear error``: any other exception, or a ProblemError not naming the argument;
- ``refused``: an error where a valid input deserved an answer.

Run it on any checkout (``PYTHONPATH=<checkout>/src python benchmarks/input_validation_cases.py``)
to compare before and after; ``--verbose`` prints every case with its message.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse as sp

import lagrangian as lg
from lagrangian import graph as G
from lagrangian import linalg

CASES = []


def case(name, *, error=None, answer=None):
    """Register ``fn``: ``error`` is the text the message must contain; ``answer(result) -> bool`` checks a result."""

    def register(fn):
        CASES.append((name, fn, error, answer))
        return fn

    return register


def quadratic(x):
    return float(np.sum((np.asarray(x, dtype=float) - 1.0) ** 2))


def problem(**kwargs):
    base = dict(gradient=lambda x: 2 * (x - 1.0))
    base.update(kwargs)
    x0 = base.pop("x0", [0.0, 0.0])
    objective = base.pop("objective", quadratic)
    return lg.Problem(objective, x0, **base)


def line(**kwargs):
    return lg.Equality(lambda x: x[0] + x[1], 1.0, jacobian=lambda x: np.array([[1.0, 1.0]]), **kwargs)


def near(expected, tol=1e-5):
    return lambda s: np.allclose(np.asarray(s.x), expected, atol=tol)


# -- complex numbers -----------------------------------------------------------------
case("Problem x0 complex", error="x0")(lambda: problem(x0=[1 + 1j, 0.0]))
case("minimize x0 complex", error="x0")(lambda: lg.minimize(quadratic, [1 + 1j, 0.0]))
case("factorize A complex", error="A")(lambda: linalg.factorize(np.array([[2.0, 1j], [-1j, 2.0]])))
case("factorize sparse A complex", error="A")(lambda: linalg.factorize(sp.csr_array(np.eye(2) * (1 + 1j))))
case("solve b complex", error="b")(lambda: linalg.solve(np.eye(2), [1.0, 1j]))
case("objective returns complex", error="objective")(lambda: problem(objective=lambda x: (x[0] - 1) ** 2 + 1j * x[1]))
# minimize names its arguments as scipy does: the objective is `fun`.
case("minimize objective returns complex", error="fun")(
    lambda: lg.minimize(lambda x: (x[0] - 1) ** 2 + 1j * x[1], [0.0, 0.0])
)
case("gradient returns complex", error="gradient")(lambda: problem(gradient=lambda x: 2 * (x - 1) + 0j * x + 1j))
case("constraint returns complex", error="constraint 'c'")(
    lambda: problem(constraints=[lg.Equality(lambda x: x[0] + 1j, jacobian=lambda x: np.array([[1.0, 0]]), name="c")])
)
case("jacobian returns complex", error="constraint 'c' jacobian")(
    lambda: problem(constraints=[lg.Equality(lambda x: x[0], jacobian=lambda x: np.array([[1.0, 1j]]), name="c")])
)
case("hessian returns complex", error="hessian")(lambda: problem(hessian=lambda x, y: np.eye(2) * (2 + 1j)))
case("hessian_product returns complex", error="hessian_product")(
    lambda: problem(hessian_product=lambda x, y, v: (2 + 1j) * v)
)
case("Equality value complex", error="value")(lambda: lg.Equality(lambda x: x[0], 1 + 2j))
case("bounds complex", error="bounds")(lambda: problem(bounds=([0.0, 1j], [1.0, 2.0])))


@case("objective turns complex during the solve", error="objective")
def _complex_later():
    # real at x0 = (3, 3); complex once x0 < 2 (on the way to the minimizer (1, 1))
    p = lg.Problem(
        lambda x: (x[0] - 1) ** 2 + (x[1] - 1) ** 2 + (1j if x[0] < 2 else 0),
        [3.0, 3.0],
        gradient=lambda x: 2 * (x - 1.0),
        hessian=lambda x, y: 2 * np.eye(2),
    )
    return lg.solve(p)


# -- bounds read two ways --------------------------------------------------------------
case("Problem bounds [(0,1),(2,3)] n=2 (ambiguous)", error="bounds")(
    lambda: lg.solve(problem(bounds=[(0, 1), (2, 3)], objective=lambda x: float(x @ x), gradient=lambda x: 2 * x))
)
case("Problem bounds [(0,1)]*2 (scipy idiom)", answer=near([1.0, 1.0]))(
    lambda: lg.solve(problem(bounds=[(0, 1)] * 2, objective=lambda x: float((x - 5) @ (x - 5)), gradient=lambda x: 2 * (x - 5)))
)
case("Problem bounds 3 pairs n=3", answer=near([1.0, 3.0, 5.0]))(
    lambda: lg.solve(
        problem(x0=np.zeros(3), bounds=[(0, 1), (2, 3), (4, 5)], objective=lambda x: float((x - 9) @ (x - 9)), gradient=lambda x: 2 * (x - 9))
    )
)
case("Problem bounds ([0,0],[5,5]) (lb, ub)", answer=near([5.0, 5.0]))(
    lambda: lg.solve(problem(bounds=([0, 0], [5, 5]), objective=lambda x: float((x - 9) @ (x - 9)), gradient=lambda x: 2 * (x - 9)))
)
case("minimize bounds [(0,1),(2,3)] (scipy pairs)", answer=near([1.0, 3.0]))(
    lambda: lg.minimize(lambda x: float((x - 9) @ (x - 9)), [0.5, 2.5], jac=lambda x: 2 * (x - 9), bounds=[(0, 1), (2, 3)])
)
case("minimize bounds [(0,1)] single pair", answer=near([1.0, 1.0]))(
    lambda: lg.minimize(lambda x: float((x - 9) @ (x - 9)), [0.5, 0.5], jac=lambda x: 2 * (x - 9), bounds=[(0, 1)])
)
case("bounds string", error="bounds")(lambda: problem(bounds="0, 1"))
case("bounds dict", error="bounds")(lambda: problem(bounds={"lb": 0, "ub": 1}))
case("bounds ragged", error="bounds")(lambda: problem(bounds=[(0, 1), (2,)]))
case("bounds NaN", error="bounds")(lambda: problem(bounds=scipy.optimize.Bounds([0, np.nan], [1, 2])))
case("bounds string entry", error="bounds")(lambda: problem(bounds=(None, [0, "a"])))
case("minimize bounds string", error="bounds")(lambda: lg.minimize(quadratic, [0.0, 0.0], bounds="0, 1"))

# -- non-numeric input -----------------------------------------------------------------
case("Problem x0 strings", error="x0")(lambda: problem(x0=["a", "b"]))
case("minimize x0 strings", error="x0")(lambda: lg.minimize(quadratic, ["a", "b"]))
case("Problem x0 None", error="x0")(lambda: problem(x0=None))
case("Problem x0 ragged", error="x0")(lambda: problem(x0=[[1.0, 2.0], [3.0]]))
case("Problem x0 with None", error="x0")(lambda: problem(x0=[1.0, None]))
case("minimize x0 None", error="x0")(lambda: lg.minimize(quadratic, None))
case("objective returns string", error="objective")(lambda: problem(objective=lambda x: "1.0"))
case("objective returns None", error="objective")(lambda: problem(objective=lambda x: None))
case("minimize objective returns string", error="fun")(lambda: lg.minimize(lambda x: "abc", [0.0, 0.0]))
case("minimize objective returns None", error="fun")(lambda: lg.minimize(lambda x: None, [0.0, 0.0]))
case("constraint returns None", error="constraint 'c'")(
    lambda: problem(constraints=[lg.Equality(lambda x: None, jacobian=lambda x: np.ones((1, 2)), name="c")])
)
case("gradient returns string", error="gradient")(lambda: problem(gradient=lambda x: "grad"))
case("jacobian returns None", error="constraint 'c' jacobian")(
    lambda: problem(constraints=[lg.Equality(lambda x: x[0], jacobian=lambda x: None, name="c")])
)
case("hessian returns None", error="hessian")(lambda: problem(hessian=lambda x, y: None))
case("Equality value string", error="value")(lambda: lg.Equality(lambda x: x[0], "one"))
case("Inequality lower None-like list", error="lower")(lambda: lg.Inequality(lambda x: x[0], lower=[0.0, None, "x"]))
case("Inequality crossed", error="lower/upper")(lambda: lg.Inequality(lambda x: x, lower=[1.0, 2.0], upper=[0.0, 3.0]))
case("factorize A None", error="A")(lambda: linalg.factorize(None))
case("factorize A ragged", error="A")(lambda: linalg.factorize([[1.0, 2.0], [3.0]]))
case("factorize A strings", error="A")(lambda: linalg.factorize([["a", "b"], ["c", "d"]]))
case("factorize pivot_tol string", error="pivot_tol")(lambda: linalg.factorize(np.eye(2), pivot_tol="x"))
case("solve b None", error="b")(lambda: linalg.solve(np.eye(2), None))
case("solve b wrong shape", error="b")(lambda: linalg.solve(np.eye(2), np.ones(3)))

# -- NaN or inf in derivatives at x0 ----------------------------------------------------
case("gradient NaN at x0", error="gradient")(lambda: lg.solve(problem(gradient=lambda x: np.array([np.nan, 0.0]))))
case("gradient inf at x0", error="gradient")(lambda: lg.solve(problem(gradient=lambda x: np.array([np.inf, 0.0]))))
case("jacobian NaN at x0", error="constraint 'c' jacobian")(
    lambda: lg.solve(problem(constraints=[lg.Equality(lambda x: x[0] + x[1], jacobian=lambda x: np.array([[np.nan, 1.0]]), name="c")]))
)
case("sparse jacobian inf at x0", error="constraint 'c' jacobian")(
    lambda: lg.solve(
        problem(constraints=[lg.Inequality(lambda x: x[0], upper=1.0, jacobian=lambda x: sp.csr_array(np.array([[np.inf, 1.0]])), name="c")])
    )
)
case("hessian NaN at x0", error="hessian")(lambda: lg.solve(problem(hessian=lambda x, y: np.full((2, 2), np.nan))))
case("hessian NaN in a constraint term", error="hessian")(
    lambda: lg.solve(problem(constraints=[line(name="c")], hessian=lambda x, y: 2 * np.eye(2) + y[0] * np.array([[np.nan, 0], [0, 0]])))
)
case("hessian_product NaN at x0", error="hessian_product")(
    lambda: lg.solve(problem(hessian_product=lambda x, y, v: np.full(2, np.nan)))
)
case("finite-difference gradient NaN near x0", error="gradient")(
    lambda: lg.solve(lg.Problem(lambda x: float(np.sqrt(x[0]) + x[1] ** 2) if x[0] >= 0 else np.nan, [0.0, 1.0]))
)


# -- interior means interior ------------------------------------------------------------
def _recording(points, lower, upper):
    def objective(x):
        points.append(np.array(x, dtype=float))
        if np.any(x < lower) or np.any(x > upper):
            raise ValueError(f"evaluated outside the bounds at {x}")
        return float(np.sum((x - 2.0) ** 2))

    return objective


@case("x0 outside the bounds: no evaluation outside", answer=lambda s: np.allclose(s.x, [2.0, 0.5], atol=1e-6))
def _outside():
    points, lower, upper = [], np.array([0.0, -1.0]), np.array([3.0, 0.5])
    p = lg.Problem(_recording(points, lower, upper), [-5.0, 7.0], gradient=lambda x: 2 * (x - 2.0), bounds=(lower, upper))
    return lg.solve(p)


@case("fixed variable: the solve evaluates it at its value only", answer=lambda s: np.allclose(s.x, [2.0, 1.0], atol=1e-6))
def _fixed():
    points, lower, upper = [], np.array([-np.inf, 1.0]), np.array([np.inf, 1.0])
    p = lg.Problem(_recording(points, lower, upper), [0.0, 3.0], gradient=lambda x: 2 * (x - 2.0), bounds=(lower, upper))
    return lg.solve(p)


def _sqrt_minimizer():
    # f(x) = (x - 3)^2 - sqrt(x - 1) is convex on x >= 1; f'(x) = 2 (x - 3) - 1 / (2 sqrt(x - 1))
    return scipy.optimize.brentq(lambda x: 2 * (x - 3) - 0.5 / math.sqrt(x - 1), 1.5, 4.0, xtol=1e-14)


@case("math.sqrt(x - 1) objective from x0 = -1 on x >= 1", answer=lambda s: abs(s.x[0] - _sqrt_minimizer()) < 1e-6)
def _sqrt():
    p = lg.Problem(
        lambda x: (x[0] - 3) ** 2 - math.sqrt(x[0] - 1),
        [-1.0],
        gradient=lambda x: np.array([2 * (x[0] - 3) - 0.5 / math.sqrt(x[0] - 1)]),
        bounds=([1.0], [np.inf]),
    )
    return lg.solve(p)


# -- linalg inertia --------------------------------------------------------------------
case("singular symmetric inertia", answer=lambda F: F.inertia == (1, 1, 1))(
    lambda: linalg.factorize(np.array([[2.0, 0, 1], [0, 0, 0], [1, 0, -3]]), structure="symmetric", raise_singular=False)
)

# -- graph tracing ---------------------------------------------------------------------
case("np.maximum traced", error="maximum")(lambda: G.grad(lambda x: np.maximum(x, 0).sum())(np.array([1.0, -2.0])))
case("np.exp2 traced (arrays)", error="exp2")(lambda: G.grad(lambda x: np.exp2(x).sum())(np.array([1.0, -2.0])))
case("np.exp2 traced (scalar)", error="exp2")(lambda: G.grad(lambda x: np.exp2(x))(1.0))
case("x.max() traced", error="max")(lambda: G.grad(lambda x: x.max())(np.array([1.0, -2.0])))
case("np.cumsum traced", error="cumsum")(lambda: G.grad(lambda x: np.cumsum(x).sum())(np.array([1.0, -2.0])))
case("complex array traced", error="traced argument")(lambda: G.value_and_grad(lambda x: (x * x).sum())(np.array([1 + 1j, 2.0])))
case("complex scalar traced", error="traced argument")(lambda: G.value_and_grad(lambda x: x * x)(1 + 1j))
case("string traced", error="traced argument")(lambda: G.value_and_grad(lambda x: x * x)("a"))
case("grad argnums=1 one argument", error="argnums")(lambda: G.grad(lambda x: x * x, argnums=1)(1.0))
case("grad argnums=1 compiled", error="argnums")(lambda: G.grad(lambda x: x * x, argnums=1, compile=True)(1.0))
case("grad argnums string", error="argnums")(lambda: G.grad(lambda x: x * x, argnums="x")(1.0))


def classify(fn, error, answer):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fn()
    except lg.ProblemError as exc:
        if error is not None and error in str(exc):
            return "correct", f"{type(exc).__name__}: {exc}"
        return ("refused" if error is None else "unclear error"), f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # noqa: BLE001 - classifying every outcome is the point
        return ("refused" if error is None else "unclear error"), f"{type(exc).__name__}: {exc}"
    if error is not None:
        return "wrong answer", f"returned {getattr(result, 'status', type(result).__name__)}"
    try:
        ok = bool(answer(result))
    except Exception as exc:  # noqa: BLE001
        ok, result = False, exc
    return ("correct" if ok else "wrong answer"), f"returned {getattr(result, 'x', result)}"


def main(verbose: bool = False):
    counts = {"correct": 0, "wrong answer": 0, "unclear error": 0, "refused": 0}
    rows = []
    for name, fn, error, answer in CASES:
        outcome, detail = classify(fn, error, answer)
        counts[outcome] += 1
        rows.append((name, outcome, detail))
    width = max(len(r[0]) for r in rows)
    for name, outcome, detail in rows:
        if verbose or outcome != "correct":
            print(f"{name:<{width}}  {outcome:<13}  {detail[:160]}")
    print()
    print(f"{len(rows)} cases: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return counts


if __name__ == "__main__":
    main(verbose="--verbose" in sys.argv)
