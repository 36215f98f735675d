"""The Hock-Schittkowski test problems, with exact derivatives from graph tracing.

Each problem file (``data/hock_schittkowski/HSn.json``; format and sources in
``data/hock_schittkowski/README.md``) states ``minimize f(x) s.t. cl <= c(x) <= cu,
lb <= x <= ub`` as formula strings over ``x1 .. xn``. The loader compiles each
string once and evaluates it on traced inputs, so gradients, Jacobians and the
Hessian of the Lagrangian come from the package's own computation graph (the
multiplier solve, and its forward-over-reverse derivative for the Hessian), not
from finite differences; all constraint rows share one trace.

Pass rule (from the data README): max constraint and bound violation <= 1e-6 and
``f - f_star <= 1e-5 * max(1, |f_star|)``; a feasible point with a lower ``f``
passes (several problems have more than one local minimum).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .. import graph as G
from ..convention import bound_violation
from ..problem import Constraint, Problem

__all__ = ["HSProblem", "load", "names", "passes"]

_FUNCTIONS = {
    "exp": G.exp,
    "log": G.log,
    "sin": G.sin,
    "cos": G.cos,
    "tan": G.tan,
    "sqrt": G.sqrt,
    "asin": G.asin,
    "erf": G.erf,
    "Abs": G.absolute,
    "pi": math.pi,
    "e": math.e,
}


def _data_dir():
    return resources.files(__package__) / "data" / "hock_schittkowski"


def names() -> list[str]:
    """Names of the shipped problems, in numeric order ("HS1", "HS3", ...)."""
    files = [p.name[:-5] for p in _data_dir().iterdir() if p.name.startswith("HS") and p.name.endswith(".json")]
    return sorted(files, key=lambda s: int("".join(ch for ch in s[2:] if ch.isdigit())))


class _Formulas:
    """Compiled objective and constraint strings evaluated on floats or traced nodes."""

    def __init__(self, objective: str, constraints: list[str], n: int, name: str):
        self.n = n
        self.objective = compile(objective, f"{name} objective", "eval")
        self.constraints = [compile(c, f"{name} constraint {i}", "eval") for i, c in enumerate(constraints)]
        self._traced = None
        self._functions = {"__builtins__": {}, **_FUNCTIONS}
        self._names = [f"x{i + 1}" for i in range(n)]

    def _namespace(self, x):
        space = self._functions.copy()
        space.update(zip(self._names, x))
        return space

    def f(self, x) -> float:
        try:
            with np.errstate(all="ignore"):  # overflow gives inf, which solvers treat as "shorten the step"
                return float(eval(self.objective, self._namespace(np.asarray(x, dtype=float))))
        except (ValueError, ZeroDivisionError, OverflowError):
            return math.nan  # outside the domain: solvers shorten the step

    def c(self, x) -> np.ndarray:
        space = self._namespace(np.asarray(x, dtype=float))
        try:
            with np.errstate(all="ignore"):
                return np.array([float(eval(code, space)) for code in self.constraints])
        except (ValueError, ZeroDivisionError, OverflowError):
            return np.full(len(self.constraints), math.nan)

    @property
    def traced(self) -> G.TracedProgram:
        """The objective and constraints traced together: one tape per point serves the
        gradient, the Jacobian and (an iteration later) the Hessian of the Lagrangian."""
        if self._traced is None:
            self._traced = G.TracedProgram(
                lambda z: eval(self.objective, self._namespace(z)),
                [lambda z: [eval(code, self._namespace(z)) for code in self.constraints]],
            )
        return self._traced

    def gradient(self, x) -> np.ndarray:
        return self.traced.gradient(x)

    def hessian(self, x, y) -> np.ndarray:
        """The Hessian of ``L = f + y^T c``, exact: forward-over-reverse on the tape at ``x``."""
        return self.traced.hessian(x, y)

    def jacobian(self, x) -> np.ndarray:
        return self.traced.jacobian(x)


@dataclass(frozen=True)
class HSProblem:
    """One Hock-Schittkowski problem: the :class:`Problem`, its optimum and its record."""

    name: str
    problem: Problem
    f_star: float
    x_star: np.ndarray | None
    record: dict

    @property
    def n_equalities(self) -> int:
        return int(self.record["m_eq"])

    @property
    def n_inequalities(self) -> int:
        return int(self.record["m_ineq"])


def _bound(values, default):
    return np.array([default if v is None else v for v in values], dtype=float)


def load(name: str, **problem_options) -> HSProblem:
    """Load one problem by name (``"HS71"``); options go to :class:`Problem`.

    By default the Hessian of the Lagrangian is exact, from the traced formulas
    (forward-over-reverse on the tape); ``hessian="finite-differences"`` differences
    the exact gradients instead, and ``hessian=None`` leaves the solvers to a
    quasi-Newton model.
    """
    path = _data_dir() / f"{name}.json"
    if not path.is_file():
        raise KeyError(f"no Hock-Schittkowski problem {name!r}; available: {', '.join(names())}")
    record = json.loads(path.read_text())
    n, m = record["n"], record["m"]
    formulas = _Formulas(record["formula"]["objective"], record["formula"]["constraints"], n, name)
    constraints = []
    if m:
        cl, cu = _bound(record["cl"], -np.inf), _bound(record["cu"], np.inf)
        constraints.append(Constraint(formulas.c, cl, cu, jacobian=formulas.jacobian, name="c"))
    problem_options.setdefault("hessian", formulas.hessian)
    problem = Problem(
        formulas.f,
        record["x0"],
        gradient=formulas.gradient,
        constraints=constraints,
        bounds=(_bound(record["lb"], -np.inf), _bound(record["ub"], np.inf)),
        name=name,
        **problem_options,
    )
    x_star = record.get("x_star")
    return HSProblem(name, problem, float(record["f_star"]), None if x_star is None else np.asarray(x_star, float), record)


def passes(hs: HSProblem, x, f) -> tuple[bool, float]:
    """The data set's pass rule; returns ``(passed, max violation)``."""
    p = hs.problem
    x = np.asarray(x, dtype=float)
    c = p.constraint_values(x)
    violation = float(
        np.concatenate([bound_violation(c, p.cl, p.cu), bound_violation(x, p.lb, p.ub)]).max(initial=0.0)
    )
    ok = violation <= 1e-6 and f - hs.f_star <= 1e-5 * max(1.0, abs(hs.f_star))
    return bool(ok), violation
