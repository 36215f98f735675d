r"""
Worked example: the largest box, step by step
=============================================

The largest box with surface area 6:

.. math::

    \min_{x \in \mathbb{R}^3} \; -x_1 x_2 x_3
    \quad \text{s.t.} \quad 2 (x_1 x_2 + x_2 x_3 + x_1 x_3) = 6 .

Its solution is the unit cube, ``f* = -1``. Stationarity in the package's
convention, :math:`\nabla f + J^T y = 0`, reads ``-1 + 4 y = 0`` at the cube, so
``y* = 1/4``; and since the optimal value as a function of the area ``S`` is
:math:`f^*(S) = -(S/6)^{3/2}`, the multiplier is the shadow price
:math:`y^* = -\mathrm{d}f^*/\mathrm{d}S = 1/4`.

Three ways in, in a few lines each: the KKT matrix and residual at a point, one
Newton-KKT step at a time, and the whole solve.
"""

import numpy as np

import lagrangian as lg


def largest_box(area=6.0):
    """The problem above, with exact first and second derivatives."""

    def volume(x):
        return -x[0] * x[1] * x[2]

    def volume_gradient(x):
        return -np.array([x[1] * x[2], x[0] * x[2], x[0] * x[1]])

    def surface(x):
        return 2 * (x[0] * x[1] + x[1] * x[2] + x[0] * x[2])

    def surface_jacobian(x):
        return 2 * np.array([[x[1] + x[2], x[0] + x[2], x[0] + x[1]]])

    def hessian(x, y):
        # Hessian of L = f + y c: the objective's and the constraint's share a pattern.
        pattern = np.array([[0, x[2], x[1]], [x[2], 0, x[0]], [x[1], x[0], 0]])
        offsets = np.ones((3, 3)) - np.eye(3)
        return -pattern + 2 * y[0] * offsets

    return lg.Problem(
        volume,
        [1.5, 0.8, 1.0],
        gradient=volume_gradient,
        constraints=[lg.Equality(surface, area, jacobian=surface_jacobian, name="surface")],
        hessian=hessian,
        name="largest box",
    )


def main():
    problem = largest_box()

    # %%
    # 1. The KKT matrix and residual at a point
    # -----------------------------------------
    system = lg.KKTSystem(problem, problem.x0, y=[0.2])
    print("KKT matrix [[H, J^T], [J, 0]] at x0:")
    print(np.array2string(system.matrix.toarray(), precision=3))
    print("residual [grad_x L; c - cl]:", np.array2string(system.residual, precision=4))

    # %%
    # 2. Newton-KKT steps by hand
    # ---------------------------
    # Each step solves the KKT system for dx and the new multipliers; near the
    # solution the residual squares at every step.
    x, y = problem.x0, np.array([0.2])
    print("\nstep  ||KKT residual||_inf   inertia")
    for k in range(6):
        system = lg.KKTSystem(problem, x, y)
        step = system.newton_step()
        print(f"{k:>4}  {system.residuals.max():.3e}            {step.info.inertia}")
        x, y = x + step.dx, step.y
    newton_error = float(np.abs(x - 1).max())

    # %%
    # 3. The whole solve
    # ------------------
    solution = lg.solve(problem, log=True)
    y_star = solution.multipliers["surface"][0]
    print(f"x = {solution.x}, f(x) = {solution.fun:.15g} after {solution.nit} iterations")
    print(f"shadow price -df*/dS = 1/4; multiplier found: {y_star:.15f}")
    print("independent KKT check:", solution.kkt_check())

    return {
        "x": solution.x,
        "multiplier": y_star,
        "multiplier_error": abs(y_star - 0.25),
        "x_error": float(np.abs(solution.x - 1).max()),
        "newton_steps_error": newton_error,
        "kkt": solution.kkt.max(),
        "iterations": solution.nit,
    }


if __name__ == "__main__":
    main()
