"""A traced computation graph: its values, its multipliers, and its gradients."""

from __future__ import annotations

import numpy as np

from .tape import Node, Tape

__all__ = ["Graph"]


class Graph:
    """The graph of one evaluation of a scalar function (see :func:`trace`).

    Attributes
    ----------
    tape : Tape
    value : float
        The output ``z_m``.
    output : int or None
        Index of the output node (``None`` when the function did not depend on
        its inputs).
    """

    def __init__(self, tape: Tape, output, input_shapes):
        self.tape = tape
        self._shapes = input_shapes
        if isinstance(output, np.ndarray) and output.shape == ():
            output = output.item()
        if isinstance(output, Node):
            self.output, self.value = output.index, output.value
        else:
            try:
                self.output, self.value = None, float(output)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"the traced function must return a scalar, got {type(output).__name__} {np.shape(output)}") from exc

    def __len__(self):
        return len(self.tape)

    def multipliers(self) -> np.ndarray:
        """``y`` solving ``(I - J)^T y = e_m``: ``y_j = d z_m / d z_j`` for every node."""
        if self.output is None:
            return np.zeros(len(self.tape))
        return self.tape.multipliers([self.output])[:, 0]

    def gradients(self, multipliers=None):
        """The gradient with respect to each traced argument, shaped like it."""
        y = self.multipliers() if multipliers is None else multipliers
        inputs = np.asarray(self.tape.inputs, dtype=int)
        grads, start = [], 0
        for shape in self._shapes:
            size = int(np.prod(shape, dtype=int))
            grads.append(y[inputs[start : start + size]].reshape(shape))
            start += size
        return grads

    def table(self):
        """Rows ``(index, op, value, multiplier)``: the forward and backward pass side by side."""
        y = self.multipliers()
        return [(i, op, value, y[i]) for i, (op, value) in enumerate(zip(self.tape.ops, self.tape.values))]
