"""The package's exceptions and warnings: one small hierarchy.

Bad input is a :class:`ProblemError` (a ``ValueError``) that names the argument and
what was wrong with it. Numerical trouble is a :class:`SolverError` (a
``RuntimeError``). Solvers report non-convergence as a status on their result; they
raise :class:`ConvergenceError` only when the caller asks them to (``raise_on_failure``).
Callers branch on these types, never on message text.
"""

from __future__ import annotations

__all__ = [
    "LagrangianError",
    "ProblemError",
    "SolverError",
    "SingularMatrixError",
    "SingularKKTError",
    "ConvergenceError",
    "ApproximateDerivativeWarning",
]


class LagrangianError(Exception):
    """Root of every exception this package raises on purpose."""


class ProblemError(LagrangianError, ValueError):
    """Invalid input: a wrong shape, a non-finite value, inconsistent bounds, ...

    Parameters
    ----------
    argument : str
        The name of the offending argument (or callable), as the user wrote it.
    message : str
        What was wrong, and where possible what was expected.
    """

    def __init__(self, argument: str, message: str):
        self.argument = argument
        super().__init__(f"{argument}: {message}")


class SolverError(LagrangianError, RuntimeError):
    """A numerical failure the computation cannot recover from by itself."""


class SingularMatrixError(SolverError):
    """A linear system is singular or numerically singular.

    Attributes
    ----------
    block : numpy.ndarray or None
        Indices (in the caller's ordering) of the rows of the block whose
        factorization failed; ``None`` when the whole matrix is meant.
    pivot : float or None
        The smallest pivot magnitude relative to the largest, when known.
    """

    def __init__(self, message: str, *, block=None, pivot: float | None = None):
        self.block = block
        self.pivot = pivot
        super().__init__(message)


class SingularKKTError(SingularMatrixError):
    """The KKT matrix stayed singular after the largest allowed regularization."""


class ConvergenceError(SolverError):
    """A solver stopped without meeting its tolerances (raised only on request).

    Attributes
    ----------
    result : lagrangian.Solution
        The solver's last iterate with its status, residuals and history.
    """

    def __init__(self, result):
        self.result = result
        super().__init__(f"{result.status.name}: {result.message}")


class ApproximateDerivativeWarning(UserWarning):
    """Derivatives are being approximated by finite differences."""
