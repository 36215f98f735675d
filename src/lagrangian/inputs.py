"""Reading user input as real numbers, or a :class:`~lagrangian.errors.ProblemError` naming it.

Everything a user hands the package (a starting point, bounds, a matrix, the
value a callable returns) must be real floating-point numbers. NumPy converts
generously: ``np.asarray([1 + 2j], dtype=float)`` drops the imaginary part with
only a warning, ``np.asarray(["1", "2"], dtype=float)`` parses strings, and a
ragged list fails with a message about "inhomogeneous shape". Each of those is
either a silent wrong answer or an error the user cannot trace back to an
argument. These readers refuse complex numbers, strings, ``None`` and ragged or
non-numeric objects with a :class:`ProblemError` whose ``argument`` is the name
the user knows (``"x0"``, ``"b"``, ``"objective"``, ``"constraint 'budget' jacobian"``)
and whose message says what was found where.

They sit on hot paths (every objective and gradient evaluation of a solve goes
through them), so an input that already is what is wanted (a Python float, a
float64 ndarray) is returned after one type check.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from .errors import ProblemError

__all__ = ["real_array", "real_scalar", "real_vector", "real_matrix", "check_finite", "describe"]

_FLOAT64 = np.dtype(np.float64)  # builtin dtypes are singletons: an identity test is the fast check
_NUMERIC_KINDS = "iuf"  # signed and unsigned integers, floats (booleans are refused: a comparison returned by mistake)


def describe(value, limit: int = 60) -> str:
    """A short description of ``value`` for an error message: its type, and its repr if short."""
    if value is None:
        return "None"
    if isinstance(value, np.ndarray):
        return f"an array of dtype {value.dtype} and shape {value.shape}"
    text = repr(value)
    kind = type(value).__name__
    return f"{kind} {text}" if len(text) <= limit else f"a {kind}"


def _first_offender(array: np.ndarray):
    """``(position, entry)`` of the first entry of an object array that is not a real number."""
    for position, entry in np.ndenumerate(array):
        if entry is None or isinstance(entry, (str, bytes, bool, np.bool_, complex, np.complexfloating)) or not isinstance(
            entry, (numbers.Real, np.number)
        ):
            return position, entry
    return None, None


def _position(position) -> str:
    return f"[{', '.join(str(i) for i in position)}]" if len(position) != 1 else f"[{position[0]}]"


def real_array(value, argument: str) -> np.ndarray:
    """``value`` as a float64 ndarray, refusing what is not real numbers.

    Refused, each with a :class:`ProblemError` naming ``argument``: ``None``,
    strings, complex numbers (even with a zero imaginary part: a complex result
    means the computation left the reals, and dropping the imaginary part would
    hide it), ragged nested sequences, and objects that are not numbers.
    Booleans too: a callable that returns ``x > 0`` instead of a number has a bug.
    Integers are converted. NaN and inf pass; the callers decide.
    """
    if type(value) is np.ndarray and value.dtype is _FLOAT64:
        return value
    if value is None:
        raise ProblemError(argument, "expected real numbers, got None")
    if isinstance(value, (str, bytes)):
        raise ProblemError(argument, f"expected real numbers, got the string {value!r}")
    if sp.issparse(value):
        raise ProblemError(argument, f"expected a dense array, got a sparse {type(value).__name__}")
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as exc:  # ragged: "inhomogeneous shape"
        raise ProblemError(argument, f"expected a rectangular array of real numbers, got a ragged {type(value).__name__} (nested sequences of different lengths)") from exc
    kind = array.dtype.kind
    if kind == "c":
        imaginary = np.abs(array.imag)
        where = np.unravel_index(int(np.argmax(imaginary)), array.shape) if array.size else ()
        entry = complex(array[where]) if array.size else complex(0)
        raise ProblemError(
            argument,
            f"has complex values (largest imaginary part {imaginary.max(initial=0.0):.3g}"
            f"{f', at {_position(where)}' if array.ndim else ''}: {entry!r}); "
            "only real numbers are accepted",
        )
    if kind in _NUMERIC_KINDS:
        return array.astype(np.float64, copy=False)
    if kind == "b":
        raise ProblemError(argument, "expected real numbers, got booleans (True/False)")
    if kind in "US":
        raise ProblemError(argument, f"expected real numbers, got strings (dtype {array.dtype}, e.g. {array.flat[0]!r})" if array.size else "expected real numbers, got strings")
    if kind == "O":
        position, entry = _first_offender(array)
        if position is not None:
            at = f" at {_position(position)}" if array.ndim else ""
            if isinstance(entry, (complex, np.complexfloating)):
                raise ProblemError(argument, f"has a complex value{at}: {entry!r}; only real numbers are accepted")
            raise ProblemError(argument, f"expected real numbers, got {describe(entry)}{at}")
        try:
            return array.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise ProblemError(argument, f"expected real numbers ({exc})") from None
    raise ProblemError(argument, f"expected real numbers, got an array of dtype {array.dtype}")


def real_scalar(value, argument: str) -> float:
    """``value`` as a Python float: a number, or an array with exactly one entry (as scipy accepts)."""
    if isinstance(value, float):  # float and np.float64
        return float(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return float(value)
    array = real_array(value, argument)
    if array.size != 1:
        raise ProblemError(argument, f"expected a scalar, got an array of shape {array.shape}")
    return float(array.reshape(()))


def real_vector(
    value, argument: str, size: int | None = None, *, allow_inf: bool = False, allow_nan: bool = False,
    at_least_1d: bool = False,
) -> np.ndarray:
    """``value`` as a 1-D float array of ``size`` entries (a scalar broadcasts when ``size`` is given).

    ``at_least_1d`` reads a scalar as a vector of one entry (as scipy reads ``x0``).
    NaN (and inf unless ``allow_inf``) is refused, naming the positions.
    """
    array = real_array(value, argument)
    if array.ndim == 0:
        if size is not None:
            array = np.full(size, float(array))
        elif at_least_1d:
            array = array.reshape(1)
    if array.ndim != 1:
        raise ProblemError(argument, f"expected a 1-D array, got shape {array.shape}")
    if size is not None and array.size != size:
        raise ProblemError(argument, f"expected {size} entries, got {array.size}")
    check_finite(array, argument, allow_inf=allow_inf, allow_nan=allow_nan)
    return array


def check_finite(array, argument: str, *, allow_inf: bool = False, allow_nan: bool = False, where: str = ""):
    """Raise a :class:`ProblemError` naming ``argument`` and the positions of NaN (and inf) entries."""
    if allow_nan and allow_inf:
        return
    data = array.data if sp.issparse(array) else np.asarray(array)
    if allow_inf:
        bad = np.isnan(data)
    elif allow_nan:
        bad = np.isinf(data)
    else:
        bad = ~np.isfinite(data)
    if not bad.any():
        return
    if sp.issparse(array):
        coo = sp.coo_array(array)
        positions = [f"({r}, {c})" for r, c in zip(coo.row[bad.ravel()][:8], coo.col[bad.ravel()][:8])]
    else:
        positions = [_position(p) if data.ndim != 1 else str(p[0]) for p in np.argwhere(bad)[:8].tolist()]
    found = sorted({"NaN" if np.isnan(v) else "inf" for v in data[bad].ravel()[:8]})
    raise ProblemError(argument, f"has {' and '.join(found)} entries{where} at positions {', '.join(positions)}")


def real_matrix(value, argument: str, *, sparse_ok: bool = True):
    """A 2-D float ndarray, or a scipy.sparse array/matrix with float64 data (when ``sparse_ok``).

    A scalar or a 1-D array is read as a matrix of one row (``np.atleast_2d``), as
    a Jacobian of one constraint row may be returned.
    """
    if type(value) is np.ndarray and value.dtype is _FLOAT64 and value.ndim == 2:
        return value
    if sp.issparse(value):
        if not sparse_ok:
            raise ProblemError(argument, f"expected a dense array, got a sparse {type(value).__name__}")
        kind = value.dtype.kind
        if kind == "c":
            raise ProblemError(argument, "has complex values (a complex sparse matrix); only real numbers are accepted")
        if kind not in _NUMERIC_KINDS:
            raise ProblemError(argument, f"expected real numbers, got a sparse matrix of dtype {value.dtype}")
        return value if kind == "f" and value.dtype == np.float64 else value.astype(np.float64)
    array = real_array(value, argument)
    if array.ndim > 2:
        raise ProblemError(argument, f"expected a matrix, got an array of shape {array.shape}")
    return np.atleast_2d(array)
