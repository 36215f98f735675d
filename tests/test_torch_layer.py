"""The PyTorch layers: torch.autograd.gradcheck in float64 (the independent truth is
central differences of re-solves), agreement with the NumPy reverse mode, and with
cvxpylayers on a convex problem when it is installed."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lagrangian.interfaces.torch_layer import NonlinearLayer, QPLayer  # noqa: E402


def qp_tensors(seed, batch, n=4, m=3):
    g = torch.Generator().manual_seed(seed)
    M = torch.randn(batch, n, n, generator=g, dtype=torch.float64)
    P = M @ M.transpose(1, 2) / n + torch.eye(n, dtype=torch.float64)
    q = torch.randn(batch, n, generator=g, dtype=torch.float64)
    A = torch.randn(m, n, generator=g, dtype=torch.float64)  # shared by the batch
    u = 0.3 * torch.rand(batch, m, generator=g, dtype=torch.float64) - 0.15
    return P, q, A, u


def test_qp_layer_passes_gradcheck_on_every_output_and_input():
    P, q, A, u = qp_tensors(0, batch=2)
    n, m = q.shape[1], A.shape[0]
    l = torch.full((m,), -np.inf, dtype=torch.float64)
    lb = torch.full((n,), -0.2, dtype=torch.float64)
    inputs = tuple(t.clone().requires_grad_() for t in (P, q, A, u, lb))
    layer = QPLayer(multipliers=True, tol=1e-12)
    x, y, z, _ = layer(*inputs[:4][:3], l, inputs[3], inputs[4])
    # the draw has active rows, inactive rows and an active bound: every branch is exercised
    assert (y.abs() > 1e-3).any() and (y.abs() < 1e-9).any() and (z.abs() > 1e-3).any()
    assert torch.autograd.gradcheck(lambda P, q, A, u, lb: layer(P, q, A, l, u, lb), inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


def test_nonlinear_layer_passes_gradcheck_on_a_nonconvex_problem_with_a_nonlinear_inequality():
    # what cvxpylayers cannot take: sin(x0 x1) in the objective, a disc as a constraint
    def objective(x, p):
        return ((x - p[:2]) ** 2).sum() + torch.sin(x[0] * x[1]) + 0.1 * x[0] ** 4

    def constraints(x, p):
        return torch.stack([x[0] ** 2 + x[1] ** 2 - p[2], x[0] - x[1]])

    layer = NonlinearLayer(objective, np.zeros(2), constraints=constraints, cl=[-np.inf, -0.5], cu=[0.0, np.inf],
                           bounds=([-2.0, -2.0], [2.0, 2.0]), tol=1e-12, multipliers=True)
    p = torch.tensor([[1.0, 2.0, 1.0], [0.2, 0.1, 1.0]], dtype=torch.float64, requires_grad=True)
    x, y, _, _ = layer(p)
    assert y[0, 0] > 1e-3  # the disc is active in the first item, not in the second
    # fast mode (a random projection u' J v against a central difference along v): a
    # solve through torch.func costs about 0.3 s here, and the full Jacobian would take
    # 24 of them; the QP test above and the JAX test of this problem run the full Jacobian
    assert torch.autograd.gradcheck(layer, (p,), eps=1e-6, atol=1e-6, rtol=1e-5, fast_mode=True)


def test_unbatched_inputs_give_unbatched_outputs_and_summed_gradients():
    P, q, A, u = qp_tensors(1, batch=1)
    l = torch.full((A.shape[0],), -np.inf, dtype=torch.float64)
    q1 = q[0].clone().requires_grad_()
    layer = QPLayer(tol=1e-12)
    x = layer(P[0], q1, A, l, u[0])
    assert x.shape == (q.shape[1],)
    x.sum().backward()
    q2 = q.clone().requires_grad_()
    layer(P, q2, A, l, u).sum().backward()
    torch.testing.assert_close(q1.grad, q2.grad[0], rtol=1e-12, atol=1e-14)


def test_qp_layer_agrees_with_cvxpylayers():
    cp = pytest.importorskip("cvxpy")
    cvxpylayers_torch = pytest.importorskip("cvxpylayers.torch")
    n, m = 5, 4
    P, q, A, u = qp_tensors(2, batch=3, n=n, m=m)
    L = torch.linalg.cholesky(P)
    x_var = cp.Variable(n)
    L_par, q_par, A_par, u_par = cp.Parameter((n, n)), cp.Parameter(n), cp.Parameter((m, n)), cp.Parameter(m)
    problem = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(L_par.T @ x_var) + q_par @ x_var), [A_par @ x_var <= u_par])
    theirs_layer = cvxpylayers_torch.CvxpyLayer(problem, parameters=[L_par, q_par, A_par, u_par], variables=[x_var])
    weights = torch.linspace(-1.0, 1.0, n, dtype=torch.float64)
    qa, qb = q.clone().requires_grad_(), q.clone().requires_grad_()
    ua, ub = u.clone().requires_grad_(), u.clone().requires_grad_()
    (theirs,) = theirs_layer(L, qa, A.expand(3, m, n), ua, solver_args={"eps": 1e-12, "max_iters": 100000})
    ours = QPLayer(tol=1e-12)(P, qb, A, torch.full((m,), -np.inf, dtype=torch.float64), ub)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)
    (theirs @ weights).sum().backward()
    (ours @ weights).sum().backward()
    torch.testing.assert_close(qb.grad, qa.grad, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(ub.grad, ua.grad, rtol=1e-6, atol=1e-6)


def test_a_failed_solve_in_a_batch_raises_naming_it():
    import lagrangian as lg

    P, q, A, _ = qp_tensors(3, batch=2)
    m = A.shape[0]
    l = torch.stack([torch.full((m,), -1.0, dtype=torch.float64), torch.full((m,), -1.0, dtype=torch.float64)])
    u = torch.stack([torch.full((m,), 1.0, dtype=torch.float64), torch.full((m,), 1.0, dtype=torch.float64)])
    lb = torch.stack([torch.full((4,), -1.0, dtype=torch.float64), torch.full((4,), 5.0, dtype=torch.float64)])
    ub = torch.stack([torch.full((4,), 1.0, dtype=torch.float64), torch.full((4,), 6.0, dtype=torch.float64)])
    # item 1 needs x >= 5 and |a_i'x| <= 1 for rows that cannot both hold: infeasible
    A_big = torch.ones_like(A)
    with pytest.raises(lg.SolverError, match="1 of 2 solves in the batch failed"):
        QPLayer()(P, q, A_big, l, u, lb, ub)
