r"""
Learning a polytope with a QP layer (PyTorch)
==============================================

The OptNet layer: the output of a model is the solution of a quadratic program whose
data are the model's parameters. Here the model is the Euclidean projection onto a
polytope :math:`\{x : G x \le h\}` with :math:`G` and :math:`h` learned,

.. math::

    x^*(z) = \arg\min_x \tfrac12 \|x - z\|^2 \quad \text{s.t.} \quad G x \le h ,

a :class:`lagrangian.interfaces.torch_layer.QPLayer` with ``P = I``, ``q = -z``,
``A = G``, ``u = h``. The data are points :math:`z` and their projections onto a
hidden polytope (a rotated square); training minimizes the mean squared distance
between :math:`x^*(z)` and the observed projection by Adam. Every gradient is
reverse mode through the batch's solutions (:mod:`lagrangian.reverse_mode`): one solve
with each item's active-set KKT matrix, whose multipliers also say which face each
point was projected onto.

Requires PyTorch (``pip install "lagrangian[torch]"``).
"""

import numpy as np
import torch

from lagrangian.interfaces.torch_layer import QPLayer


def hidden_polytope():
    """A square of half-width 1 rotated by 30 degrees: ``G x <= h`` with unit normals."""
    angles = np.deg2rad(30 + 90 * np.arange(4))
    G = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    return torch.tensor(G), torch.ones(4, dtype=torch.float64)


def project(layer, G, h, z):
    return layer(torch.eye(2, dtype=torch.float64), -z, G, torch.full((G.shape[0],), -np.inf, dtype=torch.float64), h)


def main(steps=40, batch=24, seed=0):
    torch.manual_seed(seed)
    layer = QPLayer(tol=1e-10)
    G_true, h_true = hidden_polytope()
    z_train = 2.5 * torch.randn(96, 2, dtype=torch.float64)
    with torch.no_grad():
        y_train = project(layer, G_true, h_true, z_train)
    z_test = 2.5 * torch.randn(64, 2, dtype=torch.float64)
    with torch.no_grad():
        y_test = project(layer, G_true, h_true, z_test)

    # start from a smaller, unrotated square
    G = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], dtype=torch.float64, requires_grad=True)
    h = torch.full((4,), 0.5, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.Adam([G, h], lr=0.05)

    def test_loss():
        with torch.no_grad():
            return float(((project(layer, G, h, z_test) - y_test) ** 2).sum(dim=1).mean())

    initial = test_loss()
    for step in range(steps):
        index = torch.randint(0, z_train.shape[0], (batch,))
        optimizer.zero_grad()
        loss = ((project(layer, G, h, z_train[index]) - y_train[index]) ** 2).sum(dim=1).mean()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            print(f"step {step:3d}: training loss {loss.item():.4f}")
    final = test_loss()
    print(f"test loss (mean squared distance to the true projection): {initial:.4f} -> {final:.4f}")
    with torch.no_grad():
        normals = G / G.norm(dim=1, keepdim=True)
        offsets = h / G.norm(dim=1)
    print("learned faces (unit normal, offset):")
    for n_, o in zip(normals.numpy(), offsets.numpy()):
        print(f"  ({n_[0]:+.3f}, {n_[1]:+.3f})  {o:.3f}")
    return {"initial_test_loss": initial, "final_test_loss": final}


if __name__ == "__main__":
    main()
