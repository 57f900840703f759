"""The update rule: one gradient-descent step, kept apart from gradients and the loop.

Plain gradient descent ``p <- p - lr * g``, with optional heavy-ball momentum
(``v <- mu * v + g; p <- p - lr * v``, PyTorch's convention, no dampening) and optional
elementwise clipping of ``g`` to ``[-clip, clip]``. Each run has its own learning rate.
Every rule acts entry by entry, so a step is computed on the block's ``(R, P)`` arrays of
all layers at once (:class:`~backproplab.engine.workspace.FlatLayout`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .workspace import FlatLayout

__all__ = ["GradientDescent"]


@dataclass(frozen=True)
class GradientDescent:
    """Settings of the update rule.

    Attributes
    ----------
    momentum : float
        ``0`` (default) for plain gradient descent.
    clip : float or None
        Clip every gradient entry to ``[-clip, clip]`` before the step; ``None`` (default)
        never clips. The moons seed clips to 1.
    update_biases : bool
        ``False`` keeps the biases at their initial values (the worked example).
    """

    momentum: float = 0.0
    clip: float | None = None
    update_biases: bool = True

    def __post_init__(self):
        if not (0.0 <= self.momentum < 1.0):
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.clip is not None and not (self.clip > 0 and np.isfinite(self.clip)):
            raise ValueError(f"clip must be a positive finite number or None, got {self.clip!r}")

    def init_velocity(self, flat: np.ndarray) -> np.ndarray | None:
        """Zero velocities shaped like the ``(R, P)`` parameters ``flat``, or ``None``
        without momentum."""
        return np.zeros_like(flat) if self.momentum else None

    def update(
        self,
        flat: np.ndarray,
        grads: np.ndarray,
        lr: np.ndarray,
        velocity: np.ndarray | None,
        layout: FlatLayout,
    ) -> None:
        """One step, in place: overwrites ``flat``, ``velocity`` and ``grads``.

        Parameters
        ----------
        flat, grads : ndarray, shape ``(R, P)``
            Every layer's parameters and gradients, laid out by ``layout``, so that the
            step is a few operations on the whole block.
        lr : ndarray, shape ``(R, P)`` or ``(R, 1)``
            Each run's learning rate (for every parameter).
        velocity : ndarray, shape ``(R, P)``, or None
            From :meth:`init_velocity`.
        layout : FlatLayout
            Where the weights are, for a step that keeps the biases.
        """
        if self.clip is not None:
            # np.clip's arithmetic (NaN passes through) without its Python wrapper.
            np.minimum(grads, self.clip, out=grads)
            np.maximum(grads, -self.clip, out=grads)
        if velocity is not None:
            velocity *= self.momentum
            velocity += grads
            step = np.multiply(velocity, lr, out=grads)
        else:
            step = np.multiply(grads, lr, out=grads)
        if self.update_biases:
            flat -= step
        else:
            for (W, _), (dW, _) in zip(layout.views(flat), layout.views(step), strict=True):
                W -= dW
