"""The update rule: one gradient-descent step, kept apart from gradients and the loop.

Plain gradient descent ``p <- p - lr * g``, with optional heavy-ball momentum
(``v <- mu * v + g; p <- p - lr * v``, PyTorch's convention, no dampening) and optional
elementwise clipping of ``g`` to ``[-clip, clip]``. Each run has its own learning rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .mlp import Params

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

    def init_state(self, params: Params) -> Params | None:
        """Zero velocities shaped like ``params``, or ``None`` without momentum."""
        if self.momentum == 0.0:
            return None
        return [(np.zeros_like(W), np.zeros_like(b)) for W, b in params]

    def step(
        self, params: Params, grads: Params, lr: np.ndarray, state: Params | None
    ) -> tuple[Params, Params | None]:
        """Return the updated parameters and velocities; the inputs are left untouched.

        Parameters
        ----------
        params, grads : list of (W, b)
            ``W`` of shape ``(R, n_in, n_out)``, ``b`` of shape ``(R, n_out)``.
        lr : ndarray, shape ``(R,)``
            One learning rate per run.
        state : list of (vW, vb) or None
        """
        params = [(W.copy(), b.copy()) for W, b in params]
        grads = [(dW.copy(), db.copy()) for dW, db in grads]
        if state is not None:
            state = [(vW.copy(), vb.copy()) for vW, vb in state]
        self.apply(params, grads, lr, state)
        return params, state

    @property
    def is_elementwise(self) -> bool:
        """Whether a step treats every parameter alike (no momentum, biases updated), so
        that :meth:`apply_flat` can take all layers at once."""
        return self.momentum == 0.0 and self.update_biases

    def apply_flat(self, flat: np.ndarray, grads: np.ndarray, lr: np.ndarray) -> None:
        """:meth:`apply` for an elementwise rule on ``(R, P)`` arrays of every layer's
        parameters and gradients (:class:`~backproplab.engine.mlp.FlatLayout`); same
        arithmetic, entry by entry. Overwrites ``flat`` and ``grads``."""
        if not self.is_elementwise:
            raise ValueError("apply_flat needs plain gradient descent with bias updates")
        if self.clip is not None:
            np.minimum(grads, self.clip, out=grads)
            np.maximum(grads, -self.clip, out=grads)
        grads *= lr[:, None]
        flat -= grads

    def apply(self, params: Params, grads: Params, lr: np.ndarray, state: Params | None) -> None:
        """:meth:`step` in place: overwrites ``params``, ``state`` and ``grads``.

        The training loop owns its arrays and calls this to avoid allocating a new
        set of parameters every step.
        """
        lr_w = lr[:, None, None]
        lr_b = lr[:, None]
        for layer, ((W, b), (dW, db)) in enumerate(zip(params, grads, strict=True)):
            if self.clip is not None:
                # np.clip's arithmetic (NaN passes through) without its Python wrapper.
                for g in (dW, db):
                    np.minimum(g, self.clip, out=g)
                    np.maximum(g, -self.clip, out=g)
            if state is not None:
                vW, vb = state[layer]
                vW *= self.momentum
                vW += dW
                vb *= self.momentum
                vb += db
                dW, db = vW * lr_w, vb * lr_b
            else:
                dW *= lr_w
                db *= lr_b
            W -= dW
            if self.update_biases:
                b -= db
