r"""Problems: an objective, named constraints :math:`c_l \le c(x) \le c_u`, and bounds.

A :class:`Problem` is validated when it is built: the starting point, the bounds
and every user callable are checked once at ``x0``, so shape and sign mistakes
surface as a :class:`~lagrangian.errors.ProblemError` naming the argument, before
any solver runs. Derivatives the user does not give are approximated (central
differences for first derivatives, a quasi-Newton model for the Hessian) and the
problem says which ones were (``derivative_sources``).
"""

from __future__ import annotations

import contextlib
import warnings
from types import MappingProxyType

import numpy as np
import scipy.sparse as sp

from . import linalg
from .bounds import push_inside, read_bounds
from .constraint import Constraint, Equality, Inequality, check_rows
from .derivatives import DENSE_QUASI_NEWTON_LIMIT, central_difference_jacobian
from .errors import ApproximateDerivativeWarning, ProblemError
from .inputs import check_finite, describe, real_array, real_matrix, real_scalar, real_vector
from .last_point import LastPoint

_FLOAT64 = np.dtype(np.float64)  # a builtin dtype is a singleton: an identity test is the fast check

__all__ = ["Constraint", "Equality", "Inequality", "Problem"]


def _within(kept, wanted, relative: float) -> bool:
    """Whether ``|kept - wanted|_inf <= relative max(1, |wanted|_inf)`` (finite values only)."""
    scale = max(1.0, float(np.abs(wanted).max(initial=0.0)))
    return bool(np.abs(kept - wanted).max(initial=0.0) <= relative * scale)


def _in_form(matrix, dense: bool):
    """A kept Jacobian or Hessian as the caller asked for it: a dense ndarray, or a sparse array as CSR."""
    if dense:
        return matrix.toarray() if sp.issparse(matrix) else matrix
    return linalg.as_csr(matrix)


def _as_matrix(block, dense: bool, label: str):
    """A user's derivative matrix (sparse, dense or a scalar) as a 2-D ndarray or as CSR; real numbers only."""
    return _in_form(real_matrix(block, label), dense)


class Problem:
    r"""``minimize f(x)  subject to  c_l <= c(x) <= c_u,  l <= x <= u``.

    Parameters
    ----------
    objective : callable
        ``objective(x) -> float``.
    x0 : array_like, shape (n,)
        Starting point: real, finite numbers. It may lie outside the bounds; the
        callables are first evaluated at ``x_start``, ``x0`` moved strictly inside
        them (see :func:`lagrangian.bounds.push_inside`), never outside ``[lb, ub]``.
    gradient : callable, optional
        ``gradient(x) -> array (n,)``; central differences when omitted (with an
        :class:`~lagrangian.errors.ApproximateDerivativeWarning`, once). The
        differences step about ``6e-6 max(1, |x_j|)`` each way, which stays inside
        bounds of any width from ``x_start`` but not across a fixed variable
        (``lb == ub``): give exact derivatives when the functions are undefined
        outside such a bound.
    constraints : Constraint or sequence of Constraint
        Stacked in the order given; each keeps its own name and multipliers.
    bounds : optional
        ``scipy.optimize.Bounds(lb, ub)``, a sequence of ``n`` ``(lower, upper)``
        pairs (scipy.optimize.minimize's form), or ``(lb, ub)`` with each side
        ``None``, a number or ``n`` numbers; ``None``, ``-inf`` and ``inf`` mean
        unbounded. Read by :func:`lagrangian.bounds.read_bounds`, whose docstring
        gives the rule for the one shape that reads two ways (``n = 2``,
        ``[[a, b], [c, d]]``): an unambiguous reading is taken, else an error.
    hessian : callable or "finite-differences", optional
        ``hessian(x, y) -> (n, n)`` dense or sparse: the Hessian of the Lagrangian
        ``∇²f(x) + Σ y_i ∇²c_i(x)`` for the stacked multipliers ``y`` (convention
        in :mod:`lagrangian.convention`). ``"finite-differences"`` builds it from
        central differences of ``grad f + J^T y`` (2n gradient and Jacobian calls),
        worthwhile for small problems whose first derivatives are exact.
    hessian_product : callable, optional
        ``hessian_product(x, y, v) -> (n,)``: the same Hessian applied to ``v``,
        for problems too large to form it. Steps then use MINRES.
    quasi_newton : {"auto", "bfgs", "sr1", "l-bfgs"}
        Hessian model used when neither ``hessian`` nor ``hessian_product`` is
        given: a dense BFGS or SR1 matrix, or limited-memory BFGS (the last 6
        steps in compact form, :class:`~lagrangian.derivatives.LimitedMemoryBFGS`:
        ``O(n)`` memory, and the KKT matrix stays sparse). ``"auto"`` is dense
        BFGS up to ``n = 1000`` variables and limited-memory BFGS above; the
        choice is in ``derivative_sources["hessian"]`` and on every result.
    name : str, optional

    Raises
    ------
    ProblemError
        Naming the argument or callable: ``x0`` that is not a 1-D array of real,
        finite numbers (complex, strings, ``None``, ragged lists are refused);
        bounds of an unaccepted or ambiguous form, of the wrong length or crossed
        (``lb > ub``, ``cl > cu``); duplicate constraint names; a callable that
        returns something other than real numbers of the right shape (at any
        point of a solve), or a non-finite value or derivative (gradient, each
        constraint's Jacobian, Hessian, Hessian product) at ``x_start``.

    Attributes
    ----------
    x0 : ndarray
        The starting point as given.
    x_start : ndarray
        ``x0`` moved strictly inside the bounds, as the interior-point method
        moves it (IPOPT's ``bound_push``; a fixed variable ``lb == ub`` at its
        value): where the callables were checked.
    lb, ub : ndarray
        The bounds read from ``bounds``.
    """

    def __init__(
        self,
        objective,
        x0,
        *,
        gradient=None,
        constraints=(),
        bounds=None,
        hessian=None,
        hessian_product=None,
        quasi_newton: str = "auto",
        name: str | None = None,
    ):
        if not isinstance(quasi_newton, str):
            raise ProblemError("quasi_newton", f"expected 'auto', 'bfgs', 'sr1' or 'l-bfgs', got {describe(quasi_newton)}")
        if isinstance(hessian, str) and hessian != "finite-differences":
            raise ProblemError("hessian", f"expected a callable or 'finite-differences', got {hessian!r}")
        for label, fn in (("objective", objective), ("gradient", gradient), ("hessian", None if isinstance(hessian, str) else hessian), ("hessian_product", hessian_product)):
            if fn is not None and not callable(fn):
                raise ProblemError(label, f"expected a callable, got {type(fn).__name__}")
        if objective is None:
            raise ProblemError("objective", "expected a callable, got None")
        if quasi_newton not in ("auto", "bfgs", "sr1", "l-bfgs"):
            raise ProblemError("quasi_newton", f"expected 'auto', 'bfgs', 'sr1' or 'l-bfgs', got {quasi_newton!r}")
        if name is not None and not isinstance(name, str):
            raise ProblemError("name", f"expected a string or None, got {describe(name)}")
        self.name = name
        self.x0 = real_vector(x0, "x0")
        self.n = n = self.x0.size
        if quasi_newton == "auto":
            quasi_newton = "bfgs" if n <= DENSE_QUASI_NEWTON_LIMIT else "l-bfgs"
        self._objective, self._gradient = objective, gradient
        self._hessian, self._hessian_product = hessian, hessian_product
        self.quasi_newton = quasi_newton
        self.counts = {"objective": 0, "gradient": 0, "constraints": 0, "jacobian": 0, "hessian": 0}
        #: Per constraint name, whether its ``jacobian`` last returned a sparse matrix (the
        #: form scipy's trust-constr gives ``res.jac`` back in).
        self.sparse_jacobian = {}
        # The values computed while checking the callables below, kept for a solve that
        # starts at once (reusing_evaluations(construction=True)); see lagrangian.last_point.
        self._last, self._reuse_depth = LastPoint(), 0
        self._hessian_unchecked_at = None  # where the deferred Hessian check is still owed (_solved_at_once)

        self.lb, self.ub = read_bounds(bounds, n)
        # Interior means interior: the user's functions are first called here, at the
        # point the interior-point method will start from, never outside [lb, ub].
        self.x_start = push_inside(self.x0, self.lb, self.ub)
        where = "at x0" if np.array_equal(self.x_start, self.x0) else "at x0 moved inside the bounds (Problem.x_start)"

        if isinstance(constraints, Constraint):
            constraints = (constraints,)
        if isinstance(constraints, (str, bytes, dict)) or not hasattr(constraints, "__iter__"):
            raise ProblemError("constraints", f"expected a Constraint or a list of them, got {describe(constraints)}")
        constraints = tuple(constraints)
        for i, con in enumerate(constraints):
            if not isinstance(con, Constraint):
                raise ProblemError(f"constraints[{i}]", f"expected a Constraint, got {type(con).__name__}")
        named = []
        for i, con in enumerate(constraints):
            named.append(con if con.name is not None else Constraint(con.fun, con.lower, con.upper, con.jacobian, f"c{i}"))
        names = [con.name for con in named]
        duplicates = sorted({nm for nm in names if names.count(nm) > 1})
        if duplicates:
            raise ProblemError("constraints", f"duplicate names {duplicates}; give each constraint its own name")
        self.constraints = tuple(named)
        self._handles = {id(original): con.name for original, con in zip(constraints, named)}

        # Evaluate every callable once at x_start: sizes are learnt and mistakes reported
        # here, naming the callable, rather than deep inside a solver.
        f0 = self.objective(self.x_start)
        if not np.isfinite(f0):
            raise ProblemError("objective", f"returned {f0} {where}")
        slices, rows, cl, cu, start = {}, [], [], [], 0
        for con in self.constraints:
            value = self._evaluate_constraint(con, self.x_start)
            k = value.size
            check_finite(value, con._label("fun"), where=f" {where}")
            lower = real_vector(con.lower, con._label("lower"), k, allow_inf=True)
            upper = real_vector(con.upper, con._label("upper"), k, allow_inf=True)
            check_rows(lower, upper, con._label("lower/upper"))
            slices[con.name] = slice(start, start + k)
            rows.append(value)
            cl.append(lower)
            cu.append(upper)
            start += k
        self.m = start
        self.slices = MappingProxyType(slices)
        self.cl = np.concatenate(cl) if cl else np.zeros(0)
        self.cu = np.concatenate(cu) if cu else np.zeros(0)
        self._last.put("constraints", self._last.key(self.x_start), np.concatenate(rows) if rows else np.zeros(0))

        approximated = []
        if gradient is None:
            approximated.append("gradient")
        approximated += [f"jacobian of {con.name!r}" for con in self.constraints if con.jacobian is None]
        self.derivative_sources = MappingProxyType(
            {
                "gradient": "exact" if gradient is not None else "finite differences",
                "jacobian": "exact" if not any(c.jacobian is None for c in self.constraints) else "finite differences",
                "hessian": "finite differences of the Lagrangian gradient"
                if isinstance(hessian, str)
                else "exact"
                if hessian is not None
                else ("exact product" if hessian_product is not None else f"quasi-Newton ({quasi_newton})"),
            }
        )
        if approximated:
            warnings.warn(
                f"approximating the {', '.join(approximated)} by central differences "
                "(about 10 correct digits); pass exact derivatives for tighter KKT residuals",
                ApproximateDerivativeWarning,
                stacklevel=2,
            )
        self._check_derivatives(where)
        for key in self.counts:
            self.counts[key] = 0
        self._construction_values, self._last = self._last, None

    #: Set by :meth:`_solved_at_once` only.
    _hessian_check_deferred = False

    @classmethod
    def _solved_at_once(cls, *args, **kwargs) -> "Problem":
        """A problem built by a caller that solves it at once (:func:`lagrangian.minimize`, the fixed-variable restatement).

        Its Hessian is checked at ``x_start`` by the solve's first Hessian, when that is
        taken there with every multiplier nonzero: each constraint's curvature then
        enters the sum, so a NaN or inf in any term shows in it, as it does in the
        check with every multiplier 1, and the check costs no call of its own (one
        Hessian in the ten to twenty of a typical solve). The first Hessian taken
        anywhere else runs the usual check first. Built with ``Problem(...)``, a
        problem checks its Hessian when it is built, since the user may never solve it.
        """
        problem = cls.__new__(cls)
        problem._hessian_check_deferred = True
        problem.__init__(*args, **kwargs)
        return problem

    @property
    def _hessian_label(self) -> str:
        return "hessian" if not isinstance(self._hessian, str) else "hessian (finite differences of the Lagrangian gradient)"

    def _free_part(self, values):
        """``values`` with the entries in fixed variables' rows or columns set to zero (positions kept for the message)."""
        fixed = self.lb == self.ub
        if not fixed.any():
            return values
        if not sp.issparse(values):
            values = np.array(values, dtype=float)
            values[..., fixed] = 0.0
            if values.ndim == 2 and values.shape[0] == self.n and values.shape[1] == self.n:
                values[fixed, :] = 0.0
            return values
        values = sp.csc_array(values, copy=True)
        in_fixed = fixed[np.repeat(np.arange(values.shape[1]), np.diff(values.indptr))]
        if values.shape[0] == self.n and values.shape[1] == self.n:
            in_fixed |= fixed[values.indices]
        values.data[in_fixed] = 0.0
        return values

    def _check_derivatives(self, where: str):
        """Every derivative at ``x_start`` has finite entries in the free variables, or a ProblemError naming it.

        A NaN or inf here would otherwise surface inside the first linear solve
        ("b: contains NaN") or as LAPACK's "SVD did not converge". Columns of
        fixed variables (``lb == ub``) are not checked: the solvers remove those
        variables, and a derivative by differences cannot step off a fixed value
        (scipy reports NaN there too).
        """
        x, m, at = self.x_start, self.m, f" {where}"
        differenced = " (central differences of the objective: it is not finite within a step of x)"
        check_finite(self._free_part(self.gradient(x)), "gradient" + ("" if self._gradient is not None else differenced), where=at)
        blocks = []
        for con in self.constraints:
            label = con._label("jacobian")
            if con.jacobian is None:
                label += " (central differences of its fun: not finite within a step of x)"
            blocks.append(self._jacobian_block(con, x, dense=False))
            check_finite(self._free_part(blocks[-1]), label, where=at)
        self._last.put("jacobian", self._last.key(x), self._stacked(blocks, dense=False))
        y = np.ones(m)  # every constraint's curvature term enters
        if self._hessian is not None:
            self._hessian_unchecked_at = at
            if not self._hessian_check_deferred:  # see _solved_at_once
                self._settle_hessian_check()
        if self._hessian_product is not None:
            v = np.where(self.lb == self.ub, 0.0, 1.0)
            check_finite(self._free_part(self.hessian_product(x, y, v)), "hessian_product", where=f"{at} with every multiplier 1 and v = 1 on the free variables")

    # -- structure ----------------------------------------------------------------
    @property
    def is_equality_constrained(self) -> bool:
        """True when every row is an equality and no variable is bounded."""
        return bool(np.all(self.cl == self.cu) and np.all(np.isinf(self.lb)) and np.all(np.isinf(self.ub)))

    @property
    def has_hessian(self) -> bool:
        return self._hessian is not None

    @property
    def has_hessian_product(self) -> bool:
        return self._hessian_product is not None

    def constraint_name(self, handle) -> str:
        """The name of a constraint given by name or by its :class:`Constraint` object."""
        if isinstance(handle, str):
            if handle not in self.slices:
                raise KeyError(f"no constraint named {handle!r}; names are {list(self.slices)}")
            return handle
        name = self._handles.get(id(handle))
        if name is None and isinstance(handle, Constraint) and handle.name in self.slices:
            name = handle.name
        if name is None:
            raise KeyError(f"{handle!r} is not a constraint of this problem")
        return name

    def split(self, y: np.ndarray) -> MappingProxyType:
        """The stacked multiplier vector ``y`` as a read-only {name: array} map."""
        return MappingProxyType({name: y[s].copy() for name, s in self.slices.items()})

    # -- evaluation (counted) -----------------------------------------------------
    # Every value a user's callable returns is read by lagrangian.inputs: a complex
    # number, a string, None or a ragged list is a ProblemError naming the callable
    # at any point of a solve, never silently converted.
    def _objective_value(self, x) -> float:
        value = self._objective(x)
        return value if type(value) is float else real_scalar(value, "objective")

    @contextlib.contextmanager
    def reusing_evaluations(self, *, construction: bool = False):
        """Inside this block each function is called once per point: a repeated request is answered from the last value.

        Every solve runs inside it (:func:`~lagrangian.solve`, and
        :func:`~lagrangian.solvers.verification.verified` under every nonlinear
        solver): the scaling, the first iterate, the polish and the second-order check
        read values the iteration has already paid for (:mod:`lagrangian.last_point`).
        It nests, and the values are forgotten when the outermost block ends, so that a
        function whose meaning the caller changes between solves is called afresh.

        Parameters
        ----------
        construction : bool
            Start from the values computed when the problem was built (its callables
            checked at ``x_start``). Only for a caller that builds the problem and
            solves it at once, with none of the user's code run in between
            (:func:`lagrangian.minimize`); they are dropped by the first block either way.
        """
        self._reuse_depth += 1
        if self._reuse_depth == 1:
            kept, self._construction_values = self._construction_values, None
            self._last = kept if construction and kept is not None else LastPoint()
        try:
            yield self
        finally:
            self._reuse_depth -= 1
            if not self._reuse_depth:
                self._last = None

    def _kept(self, kind: str, *point):
        """``(key, value)``: inside :meth:`reusing_evaluations`, the point's key and the value of ``kind`` kept there (or None); outside, ``(None, None)``."""
        last = self._last
        if last is None:
            return None, None
        key = last.key(*point)
        return key, last.get(kind, key)

    def _keep(self, kind: str, key, value):
        """``value``, kept as ``kind`` at ``key`` when :meth:`_kept` gave a key."""
        last = self._last
        return value if key is None or last is None else last.put(kind, key, value)

    def objective(self, x) -> float:
        key, kept = self._kept("objective", x)
        if kept is not None:
            return kept
        self.counts["objective"] += 1
        value = self._objective(x)  # _objective_value inlined: this runs at every trial point
        value = value if type(value) is float else real_scalar(value, "objective")
        return self._keep("objective", key, value)

    def gradient(self, x) -> np.ndarray:
        key, kept = self._kept("gradient", x)
        if kept is not None:
            return kept
        self.counts["gradient"] += 1
        if self._gradient is None:
            g = central_difference_jacobian(self._objective_value, x)[0]
        else:
            g = real_array(self._gradient(x), "gradient")
        if g.shape != (self.n,):
            raise ProblemError("gradient", f"returned shape {g.shape}, expected ({self.n},)")
        return self._keep("gradient", key, g)

    def _evaluate_constraint(self, con, x):
        value = con.fun(x)
        if not (type(value) is np.ndarray and value.dtype is _FLOAT64):  # (the label is built only when needed)
            value = real_array(value, con._label("fun"))
        if value.ndim != 1:
            value = np.atleast_1d(value)
        if value.ndim != 1:
            raise ProblemError(con._label("fun"), f"must return a 1-D array or scalar, got shape {value.shape}")
        return value

    def constraint_values(self, x) -> np.ndarray:
        """All constraint rows stacked, ``c(x)`` of shape (m,)."""
        key, kept = self._kept("constraints", x)
        if kept is not None:
            return kept
        self.counts["constraints"] += 1
        values = []
        for con in self.constraints:
            value = self._evaluate_constraint(con, x)
            expected = self.slices[con.name].stop - self.slices[con.name].start
            if value.size != expected:
                raise ProblemError(con._label("fun"), f"returned {value.size} values, expected {expected}")
            values.append(value)
        c = np.concatenate(values) if values else np.zeros(0)
        return self._keep("constraints", key, c)

    def _jacobian_block(self, con, x, dense: bool):
        """One constraint's Jacobian ``(k, n)``, checked for shape and real entries."""
        rows = self.slices[con.name].stop - self.slices[con.name].start
        if con.jacobian is None:
            block = central_difference_jacobian(lambda z, con=con: self._evaluate_constraint(con, z), x)
        else:
            block = con.jacobian(x)
            self.sparse_jacobian[con.name] = sp.issparse(block)
        if not (dense and type(block) is np.ndarray and block.dtype is _FLOAT64 and block.ndim == 2):
            block = _as_matrix(block, dense, con._label("jacobian"))
        if block.shape != (rows, self.n):
            raise ProblemError(con._label("jacobian"), f"returned shape {block.shape}, expected ({rows}, {self.n})")
        return block

    def jacobian(self, x, *, dense: bool = False):
        """All constraint Jacobians stacked, ``J(x) = dc/dx``: a CSR array of shape (m, n), or
        with ``dense=True`` a 2-D ndarray (what the solvers ask for on small problems,
        whose KKT matrices they assemble dense)."""
        key, kept = self._kept("jacobian", x)
        if kept is not None:
            return _in_form(kept, dense)
        self.counts["jacobian"] += 1
        J = self._stacked([self._jacobian_block(con, x, dense) for con in self.constraints], dense)
        return self._keep("jacobian", key, J)

    def _stacked(self, blocks, dense: bool):
        """The constraints' Jacobian blocks as one ``(m, n)`` matrix."""
        if len(blocks) == 1:
            return blocks[0]
        if dense:
            return np.vstack(blocks) if blocks else np.zeros((0, self.n))
        return sp.csr_array(sp.vstack(blocks, format="csr")) if blocks else sp.csr_array((0, self.n))

    def hessian(self, x, y, *, dense: bool = False):
        """The user's Hessian of the Lagrangian at ``(x, y)``: CSR (n, n), or a 2-D ndarray with ``dense=True``."""
        if self._hessian is None:
            raise ProblemError("hessian", "this problem has no Hessian; solvers use a quasi-Newton model instead")
        # An owed check is settled before anything is read from or kept in the solve's memory:
        # a Hessian that failed it is never handed out.
        check_here = None if self._hessian_unchecked_at is None else self._owed_hessian_check(x, y)
        key, kept = self._kept("hessian", x, y)
        if kept is not None:
            return _in_form(kept, dense)
        H = self._evaluated_hessian(x, y, dense)
        if check_here is not None:
            check_finite(self._free_part(_in_form(H, False)), self._hessian_label, where=check_here)
            self._hessian_unchecked_at = None
        return self._keep("hessian", key, H)

    def _evaluated_hessian(self, x, y, dense: bool):
        """The user's Hessian at ``(x, y)``, counted, shape checked, not kept."""
        self.counts["hessian"] += 1
        if isinstance(self._hessian, str):
            y = np.asarray(y, dtype=float)
            H = central_difference_jacobian(lambda z: self.gradient(z) + self.jacobian(z).T @ y, x)
            return _as_matrix(0.5 * (H + H.T), dense, "hessian")
        H = _as_matrix(self._hessian(x, y), dense, "hessian")
        if H.shape != (self.n, self.n):
            raise ProblemError("hessian", f"returned shape {H.shape}, expected ({self.n}, {self.n})")
        return H

    def _owed_hessian_check(self, x, y) -> str | None:
        """The deferred Hessian check (:meth:`_solved_at_once`): the message's ``where`` when the evaluation at ``(x, y)`` is to be it; else run now.

        ``(x, y)`` is the check when it is ``x_start`` with every multiplier finite and
        nonzero. Otherwise the check with every multiplier 1 runs here, before the
        evaluation asked for, and its Hessian is kept only once it has passed. A check
        that fails stays owed: a caller may catch the error and ask again (``minimize``'s
        QP test does), and is refused again.
        """
        owed = self._hessian_unchecked_at
        y = np.asarray(y, dtype=float)
        if np.array_equal(x, self.x_start) and bool(np.all((y != 0) & np.isfinite(y))):
            return f"{owed} with the multipliers the solve started from"
        self._settle_hessian_check()
        return None

    def _settle_hessian_check(self):
        """The check with every multiplier 1 at ``x_start``, if one is owed: also for a solve that stopped before its first Hessian."""
        owed = self._hessian_unchecked_at  # None with no Hessian, or once checked
        if owed is None:
            return
        ones = np.ones(self.m)
        H = self._evaluated_hessian(self.x_start, ones, False)
        check_finite(self._free_part(H), self._hessian_label, where=f"{owed} with every multiplier 1")
        self._hessian_unchecked_at = None
        key, _ = self._kept("hessian", self.x_start, ones)
        self._keep("hessian", key, H)

    def hessian_near(self, x, y, relative: float, *, dense: bool = False):
        r"""The last Hessian of the Lagrangian this solve evaluated, when it was taken close to ``(x, y)``; else :meth:`hessian` there.

        Close means :math:`\|x' - x\|_\infty \le` ``relative`` :math:`\max(1, \|x\|_\infty)`,
        and the same for the multipliers. Since :math:`\|H(x', y') - H(x, y)\| \le
        \|\nabla^3_x L\| \|x' - x\| + \sum_i |y'_i - y_i| \|\nabla^2 c_i\|`, this is
        for a caller whose verdict a change of that size cannot alter: the
        second-order check, at the point the polish's Newton step has just left. Only
        inside :meth:`reusing_evaluations`; outside it, the Hessian is evaluated.
        """
        last = self._last
        found = None if last is None or self._hessian is None else last.latest("hessian")
        if found is not None:
            at = np.frombuffer(found[0], dtype=float)
            x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
            if at.size == x.size + y.size and _within(at[: x.size], x, relative) and _within(at[x.size :], y, relative):
                return _in_form(found[1], dense)
        return self.hessian(x, y, dense=dense)

    def hessian_product(self, x, y, v) -> np.ndarray:
        if self._hessian_product is None:
            raise ProblemError("hessian_product", "this problem has no Hessian-vector product")
        self.counts["hessian"] += 1
        Hv = real_array(self._hessian_product(x, y, v), "hessian_product")
        if Hv.shape != (self.n,):
            raise ProblemError("hessian_product", f"returned shape {Hv.shape}, expected ({self.n},)")
        return Hv

    def __repr__(self):
        label = f" {self.name!r}" if self.name else ""
        return f"<Problem{label}: n={self.n}, m={self.m}, constraints={list(self.slices)}>"
