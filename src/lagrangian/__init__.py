"""lagrangian: constrained optimization where every problem is a Lagrangian.

State ``minimize f(x) s.t. cl <= c(x) <= cu, lb <= x <= ub`` as a :class:`Problem`;
the package builds its Lagrangian and KKT system (:mod:`lagrangian.kkt`) and solves
them with structure-aware sparse linear algebra (:mod:`lagrangian.linalg`). The sign
convention shared by every part is documented in :mod:`lagrangian.convention`.
"""

from . import convention, linalg
from .errors import (
    ApproximateDerivativeWarning,
    ConvergenceError,
    LagrangianError,
    ProblemError,
    SingularKKTError,
    SingularMatrixError,
    SolverError,
)
from .kkt import KKTSystem, kkt_matrix, kkt_residuals
from .linalg.kkt_factorization import InertiaCorrection
from .problem import Constraint, Equality, Inequality, Problem
from .result import IterationRecord, KKTResiduals, Solution, Status
from .solvers import interior_point, newton_kkt, solve
from .interfaces import crosscheck, from_cvxpy, minimize, to_cvxpy
from .qp import QuadraticProgram, solve_qp
from .graph import grad, value_and_grad
from .active_kkt import ActiveKKT, DegenerateSolutionWarning
from .reverse_mode import Cotangents, adjoint
from .parallel import FailedSolve, solve_many

__version__ = "0.1.0"

__all__ = [
    "Problem",
    "Constraint",
    "Equality",
    "Inequality",
    "KKTSystem",
    "kkt_matrix",
    "kkt_residuals",
    "InertiaCorrection",
    "solve",
    "minimize",
    "solve_many",
    "FailedSolve",
    "adjoint",
    "Cotangents",
    "ActiveKKT",
    "DegenerateSolutionWarning",
    "QuadraticProgram",
    "solve_qp",
    "crosscheck",
    "grad",
    "value_and_grad",
    "to_cvxpy",
    "from_cvxpy",
    "newton_kkt",
    "interior_point",
    "Solution",
    "Status",
    "KKTResiduals",
    "IterationRecord",
    "LagrangianError",
    "ProblemError",
    "SolverError",
    "SingularMatrixError",
    "SingularKKTError",
    "ConvergenceError",
    "ApproximateDerivativeWarning",
    "convention",
    "linalg",
]
