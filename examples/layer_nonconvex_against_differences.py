r"""
A nonconvex layer, differentiated by one KKT solve
===================================================

cvxpylayers takes convex (DPP) problems only. The reverse mode of
:mod:`lagrangian.reverse_mode` needs a solution and the KKT matrix there, so it takes

.. math::

    x^*(p) = \arg\min_x \; (x_0 - p_0)^2 + (x_1 - p_1)^2 + \sin(3 x_0 x_1)
    \quad \text{s.t.} \quad x_0^2 + x_1^2 \le p_2, \quad x_0 + x_1 \le 1.2 ,

whose objective is not convex and whose first constraint is a nonlinear inequality.
For a loss :math:`\ell(x^*) = \|x^* - t\|^2` the gradient in :math:`p` is

.. math::

    \bar p = -\Big(\frac{\partial \nabla_x L}{\partial p}\Big)^T w_x
             - \Big(\frac{\partial c}{\partial p}\Big)^T w_y ,
    \qquad K w = (\bar x, 0), \quad \bar x = 2 (x^* - t),

with :math:`K` the KKT matrix of the active constraints at the solution
(:mod:`lagrangian.active_kkt`); here :math:`\nabla_x L = 2(x - p_{0:2}) + \dots`, so
:math:`\partial \nabla_x L / \partial p = [-2 I \;\; 0]`, and :math:`c_0 = x_0^2 + x_1^2
- p_2` gives :math:`\partial c_0 / \partial p_2 = -1`. The script

1. checks that gradient against central differences of re-solves at a point where the
   disc constraint is active and at one where it is not;
2. moves :math:`p` by gradient descent until :math:`x^*(p)` reaches a target on the
   disc's boundary (the layer "learns" its parameters), each step one solve and one
   KKT solve.
"""

import numpy as np

import lagrangian as lg
from lagrangian.reverse_mode import adjoint


def problem(p):
    """The layer's problem at parameters ``p = (p0, p1, p2)``, exact derivatives."""
    p = np.asarray(p, dtype=float)

    def hessian(x, y):
        s, c = np.sin(3 * x[0] * x[1]), np.cos(3 * x[0] * x[1])
        # d2/dx2 sin(3 x0 x1) = [[-9 x1^2 s, 3c - 9 x0 x1 s], [., -9 x0^2 s]]
        H = 2 * np.eye(2) + np.array([[-9 * x[1] ** 2 * s, 3 * c - 9 * x[0] * x[1] * s], [3 * c - 9 * x[0] * x[1] * s, -9 * x[0] ** 2 * s]])
        return H + 2 * y[0] * np.eye(2)

    return lg.Problem(
        lambda x: (x[0] - p[0]) ** 2 + (x[1] - p[1]) ** 2 + np.sin(3 * x[0] * x[1]),
        [0.1, 0.0],
        gradient=lambda x: 2 * (x - p[:2]) + 3 * np.cos(3 * x[0] * x[1]) * np.array([x[1], x[0]]),
        constraints=[
            lg.Inequality(lambda x: x @ x - p[2], upper=0.0, jacobian=lambda x: 2 * x[None, :], name="disc"),
            lg.Inequality(lambda x: x[0] + x[1], upper=1.2, jacobian=lambda x: np.array([[1.0, 1.0]]), name="band"),
        ],
        hessian=hessian,
    )


# d(grad_x L)/dp and dc/dp: p0, p1 shift the objective's centre, p2 the disc's radius squared
LAGRANGIAN_GRADIENT_P = np.array([[-2.0, 0.0, 0.0], [0.0, -2.0, 0.0]])
CONSTRAINTS_P = np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0]])


def loss_and_gradient(p, target):
    solution = lg.solve(problem(p), tol=1e-12)
    x_bar = 2 * (solution.x - target)
    gradient = adjoint(solution, x_bar, lagrangian_gradient_p=LAGRANGIAN_GRADIENT_P, constraints_p=CONSTRAINTS_P).p
    return float(np.sum((solution.x - target) ** 2)), gradient, solution


def central_differences(p, target, h=1e-5):
    p = np.asarray(p, dtype=float)
    out = np.zeros(3)
    for i in range(3):
        e = np.zeros(3)
        e[i] = h
        out[i] = (loss_and_gradient(p + e, target)[0] - loss_and_gradient(p - e, target)[0]) / (2 * h)
    return out


def main():
    target = np.array([0.6, 0.5])
    found = {}
    for label, p in (("disc active", [1.2, 0.6, 0.5]), ("disc inactive", [0.2, 0.1, 2.0])):
        value, gradient, solution = loss_and_gradient(p, target)
        reference = central_differences(p, target)
        error = float(np.linalg.norm(gradient - reference) / np.linalg.norm(reference))
        print(f"{label}: x* = {solution.x}, disc multiplier {solution.multiplier('disc')[0]:.4f}")
        print(f"  reverse mode {gradient}\n  differences  {reference}\n  relative error {error:.1e}")
        found[f"{label} relative error"] = error
        found[f"{label} multiplier"] = float(solution.multiplier("disc")[0])

    # projected gradient descent on p until x*(p) sits at the target
    p = np.array([1.2, 0.6, 0.5])
    history = []
    for _ in range(60):
        value, gradient, solution = loss_and_gradient(p, target)
        history.append(value)
        if value < 1e-12:
            break
        p = p - 0.3 * gradient
        p[2] = max(p[2], 0.05)  # projected: the disc keeps a positive radius
    print(f"gradient descent: loss {history[0]:.3e} -> {history[-1]:.3e} in {len(history)} solves; p = {p}, x* = {solution.x}")
    found.update(initial_loss=history[0], final_loss=history[-1], steps=len(history))
    return found


if __name__ == "__main__":
    main()
