"""lagrangian: constrained optimization where every problem is a Lagrangian."""

from . import linalg
from .errors import (
    ApproximateDerivativeWarning,
    ConvergenceError,
    LagrangianError,
    ProblemError,
    SingularKKTError,
    SingularMatrixError,
    SolverError,
)

__version__ = "0.1.0"
