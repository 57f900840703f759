"""The training loop: gradients from :class:`MLP`, steps from :class:`GradientDescent`.

Epoch ``e`` in every record means "after ``e`` updates": metrics at epoch ``e`` are those
of the parameters before the ``e``-th epoch's update, and epoch ``epochs`` is the final
state. (A notebook that prints "Epoch 100" after computing the loss inside its 100th loop
iteration prints our epoch 99.)

Runs in a block never interact: each has its own learning rate and shuffle stream, and a
run whose loss or parameters stop being finite is frozen, marked ``diverged`` with the
epoch, and dropped from the block while the others go on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .initializers import shuffle_stream
from .losses import make_loss
from .mlp import MLP, FirstLayer, FlatLayout, Params, Workspace, accuracy, as_targets
from .optim import GradientDescent

__all__ = ["TraceState", "TrainResult", "train"]

_BOUND_EVERY = 10
# Any finite loss passes this limit; NaN and infinities do not.
_NO_LIMIT = float(np.finfo(np.float64).max)


@dataclass(frozen=True)
class TraceState:
    """What a trace recorder is handed at a recorded epoch; read it, do not keep it.

    The arrays are the loop's own (no copies): they cover only the runs still training,
    whose positions in the block are ``runs``. ``z``, ``a`` and ``grads`` are those of the
    full training set at ``params`` (before this epoch's update).

    Attributes
    ----------
    epoch : int
    runs : ndarray of int, shape ``(R_active,)``
    params : list of (W, b), ``W`` of shape ``(R_active, n_in, n_out)``
    z : list of ndarray, ``z[l]`` of shape ``(R_active, n, sizes[l + 1])``
    a : list of ndarray, ``a[0] = X``; ``a[l + 1]`` of shape ``(R_active, n, sizes[l + 1])``
    grads : list of (dW, db), shaped like ``params``
    loss : ndarray, shape ``(R_active,)``
    """

    epoch: int
    runs: np.ndarray
    params: Params
    z: list
    a: list
    grads: Params
    loss: np.ndarray

    @cached_property
    def weight_norms(self) -> np.ndarray:
        """Frobenius norm of each layer's ``W`` per run, shape ``(R_active, n_layers)``."""
        return np.stack([np.sqrt(np.sum(W * W, axis=(1, 2))) for W, _ in self.params], axis=1)

    @cached_property
    def grad_norms(self) -> np.ndarray:
        """Frobenius norm of each layer's ``dL/dW`` per run, ``(R_active, n_layers)``."""
        return np.stack([np.sqrt(np.sum(g * g, axis=(1, 2))) for g, _ in self.grads], axis=1)


@dataclass
class TrainResult:
    """The outcome of :func:`train` for a block of ``R`` runs.

    Attributes
    ----------
    params : list of (W, b)
        Final parameters, shaped like the initial ones; a diverged run keeps the
        parameters at which its divergence was detected.
    history : dict of str to ndarray
        ``"epoch"``: the recorded epochs, shape ``(T,)``; ``"loss"``, ``"accuracy"`` and
        any extra metric: shape ``(R, T)``, NaN after a run diverged.
    status : list of str
        ``"ok"`` or ``"diverged"`` per run.
    diverged_epoch : list of int or None
        The epoch at which each run's loss or parameters became non-finite.
    """

    params: Params
    history: dict[str, np.ndarray]
    status: list[str]
    diverged_epoch: list[int | None]
    trace_epochs: list[int] = field(default_factory=list)


def train(
    model: MLP,
    params: Params,
    X: np.ndarray,
    Y: np.ndarray,
    lr: float | Sequence[float],
    epochs: int,
    *,
    optimizer: GradientDescent | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    seeds: Sequence[int] | None = None,
    metrics: Sequence[str] = (),
    eval_sets: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    metrics_every: int = 1,
    trace_every: int | None = None,
    trace_at: Collection[int] = (),
    on_trace: Callable[[TraceState], None] | None = None,
    diverge_above: float | None = 1e6,
    diverge_factor: float | None = 10.0,
) -> TrainResult:
    """Train a block of runs by gradient descent.

    Parameters
    ----------
    model : MLP
    params : list of (W, b)
        Initial parameters, ``W`` of shape ``(R, n_in, n_out)``; not modified.
    X : ndarray, shape ``(n, n_in)``
    Y : ndarray, shape ``(n, n_out)``, or ``(n,)`` for one output
    lr : float or sequence of float
        One learning rate for all runs, or one per run (length ``R``).
    epochs : int
        Number of passes over the data.
    optimizer : GradientDescent, optional
        Momentum, clipping and bias updates; plain gradient descent by default.
    batch_size : int, optional
        ``None`` (default) for full-batch gradient descent; ``1`` for online updates.
    shuffle : bool
        Draw a new sample order per run and epoch from the run's shuffle stream (needs
        ``seeds``); ``False`` keeps the data order (the worked example's online updates).
    seeds : sequence of int, optional
        The runs' seeds, for their shuffle streams.
    metrics : sequence of str
        Extra losses to record on the training set, e.g. ``["mse"]``.
    eval_sets : mapping of str to (X, Y), optional
        Held-out sets; ``"{name}_loss"`` and ``"{name}_accuracy"`` are recorded.
    metrics_every : int
        Record metrics every this many epochs (and always at the final epoch).
    trace_every, trace_at, on_trace
        Call ``on_trace(TraceState)`` every ``trace_every`` epochs, at the epochs listed in
        ``trace_at``, and at the final epoch.
    diverge_above : float or None
        A run diverges when its loss or a parameter is non-finite, or when a parameter's
        magnitude exceeds this, checked every 10 epochs and at the last (default 1e6: far
        past the point where sigmoid and tanh units saturate in float64, so the run can no
        longer learn; a stable loss would otherwise hide the blow-up). ``None`` keeps only
        the non-finite test.
    diverge_factor : float or None
        A run also diverges when its training loss (evaluated on the full training set)
        rises above this many times its initial loss (default 10); ``None`` disables it.

    Returns
    -------
    TrainResult
    """
    optimizer = optimizer or GradientDescent()
    loop = _Loop(model, params, X, Y, lr, epochs, optimizer, batch_size, shuffle, seeds)
    loop.set_divergence(diverge_above, diverge_factor)
    return loop.run(metrics, eval_sets or {}, metrics_every, trace_every, set(trace_at), on_trace)


class _Loop:
    """State of one call of :func:`train`: the active runs and what was recorded."""

    def __init__(self, model, params, X, Y, lr, epochs, optimizer, batch_size, shuffle, seeds):
        self.model = model
        self.R = params[0][0].shape[0]
        self.dtype = params[0][0].dtype
        model._check_inputs(params, X)
        self.X = np.asarray(X, dtype=self.dtype)
        if self.X.ndim != 2:
            raise ValueError(f"train needs X of shape (n, n_in), got {self.X.shape}")
        self.n = self.X.shape[0]
        self.Y = as_targets(Y, self.n, model.sizes[-1], self.dtype)
        lr = np.broadcast_to(np.asarray(lr, dtype=float), (self.R,))
        if not np.all(np.isfinite(lr) & (lr > 0)):
            raise ValueError(f"learning rates must be positive and finite, got {lr.tolist()}")
        self.lr = lr.astype(self.dtype)
        if int(epochs) != epochs or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        self.epochs = int(epochs)
        self.optimizer = optimizer
        if batch_size is not None and not (int(batch_size) == batch_size and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.full_batch = batch_size is None or batch_size >= self.n
        self.batch_size = self.n if self.full_batch else int(batch_size)
        self.shuffle = bool(shuffle) and not self.full_batch
        if self.shuffle:
            if seeds is None or len(seeds) != self.R:
                raise ValueError("shuffled mini-batches need one seed per run (seeds=...)")
            self.rngs = [shuffle_stream(s) for s in seeds]
        # The loop owns a copy, one (R, P) array (self.flat) with per-layer views
        # (self.params), which the optimizer then updates in place.
        self.layout = FlatLayout(model.sizes)
        self.X1 = FirstLayer.inputs(self.X)
        self._hold(self.layout.pack(params, self.dtype))
        self.state = optimizer.init_state(params)
        self.active = np.arange(self.R)
        self.final = [(np.empty_like(W), np.empty_like(b)) for W, b in params]
        self.status = ["ok"] * self.R
        self.diverged_epoch: list[int | None] = [None] * self.R
        self._workspaces: dict[tuple[int, int, str], Workspace] = {}

    def _workspace(self, n: int, data: str = "train") -> Workspace:
        """Buffers for the active runs on ``n`` samples of ``data`` (the training set or
        ``"eval:<name>"``: each has its own, as the training pass's buffers are still
        needed after an eval set's forward pass); rebuilt when runs diverge."""
        key = (len(self.active), n, data)
        if key not in self._workspaces:
            self._workspaces = {k: w for k, w in self._workspaces.items() if k[0] == key[0]}
            self._workspaces[key] = Workspace(self.model.sizes, *key[:2], self.dtype)
        return self._workspaces[key]

    # -- bookkeeping ------------------------------------------------------------------

    def _hold(self, flat: np.ndarray) -> None:
        """Make ``flat`` (R_active, P) the parameters, with the views the loop uses."""
        self.flat = flat
        self.params = self.layout.views(flat)
        self.first = FirstLayer(self.X1, self.layout.first_layer(flat))

    def set_divergence(self, above: float | None, factor: float | None) -> None:
        for name, value in (("diverge_above", above), ("diverge_factor", factor)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")
        self.diverge_above, self.diverge_factor = above, factor
        # Per active run: the largest finite loss allowed (set at the first full-data loss).
        self.loss_limit: np.ndarray | None = None

    def _diverged(self, loss: np.ndarray, full_data: bool, epoch: int) -> np.ndarray:
        """Which active runs have a non-finite loss, a parameter out of bounds, or (for a
        loss on the full training set) a loss grown past the factor.

        The parameter bound is checked every ``_BOUND_EVERY`` epochs and at the last: its
        reductions over the block's parameters cost about 5% of a tiny network's epoch,
        and a blow-up past 1e6 is not a one-epoch event (a non-finite loss is caught at
        once).
        """
        if full_data and self.loss_limit is None:
            factor = self.diverge_factor
            self.loss_limit = np.full(loss.shape, _NO_LIMIT) if factor is None else factor * loss
        # One comparison flags a NaN, an infinity and a loss past the limit alike.
        bad = ~(np.abs(loss) <= (self.loss_limit if full_data else _NO_LIMIT))
        check_bound = full_data and (epoch % _BOUND_EVERY == 0 or epoch == self.epochs)
        if self.diverge_above is not None and check_bound:
            limit = self.diverge_above
            bad |= np.maximum.reduce(self.flat, axis=1) > limit
            bad |= np.minimum.reduce(self.flat, axis=1) < -limit
        return bad

    def _freeze(self, bad: np.ndarray, epoch: int) -> np.ndarray:
        """Retire the active runs flagged in ``bad``; returns the mask of kept runs."""
        for i in np.flatnonzero(bad):
            run = self.active[i]
            self.status[run] = "diverged"
            self.diverged_epoch[run] = epoch
            for (fW, fb), (W, b) in zip(self.final, self.params, strict=True):
                fW[run], fb[run] = W[i], b[i]
        keep = ~bad
        self.active = self.active[keep]
        self._hold(self.flat[keep])
        if self.state is not None:
            self.state = [(v[keep], u[keep]) for v, u in self.state]
        self.lr = self.lr[keep]
        if self.loss_limit is not None:
            self.loss_limit = self.loss_limit[keep]
        if self.shuffle:
            self.rngs = [r for r, k in zip(self.rngs, keep, strict=True) if k]
        return keep

    # -- the loop ---------------------------------------------------------------------

    def run(self, metrics, eval_sets, metrics_every, trace_every, trace_at, on_trace):
        if metrics_every < 1:
            raise ValueError(f"metrics_every must be >= 1, got {metrics_every}")
        if trace_every is not None and trace_every < 1:
            raise ValueError(f"trace_every must be >= 1 or None, got {trace_every}")
        extra = {name: make_loss(name) for name in metrics}
        out_name = self.model.activations[-1].name
        for name, fn in extra.items():
            if fn.output not in (None, out_name):
                raise ValueError(f"metric {name!r} needs a {fn.output!r} output, not {out_name!r}")
        k = self.model.sizes[-1]
        evals = {
            name: (
                self.model._check_inputs(self.params, Xe),
                as_targets(Ye, len(Xe), k, self.dtype),
            )
            for name, (Xe, Ye) in eval_sets.items()
        }
        record_epochs = sorted(set(range(0, self.epochs, metrics_every)) | {self.epochs})
        columns = ["loss", "accuracy", *extra] + [
            f"{name}_{what}" for name in evals for what in ("loss", "accuracy")
        ]
        history = {c: np.full((self.R, len(record_epochs)), np.nan) for c in columns}
        trace_epochs = []
        slot = 0
        # Overflow in a diverging run is expected and recorded as its status below; the
        # other runs' numerics are stable by construction (expit, logaddexp, log_softmax).
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(self.epochs + 1):
                if not len(self.active):
                    break
                record = slot < len(record_epochs) and record_epochs[slot] == epoch
                trace = on_trace is not None and (
                    epoch == self.epochs
                    or epoch in trace_at
                    or (trace_every is not None and epoch % trace_every == 0)
                )
                last = epoch == self.epochs
                if self.full_batch or record or trace or last:
                    ws = self._workspace(self.n)
                    zs, acts = self.model._forward_cache(self.params, self.X, ws, self.first)
                    loss = self.model.loss.value(zs[-1], acts[-1], self.Y, scratch=ws.scratch)
                    bad = self._diverged(loss, full_data=True, epoch=epoch)
                    # (count_nonzero: ndarray.any's wrapper costs ~2 us per epoch.)
                    froze = np.count_nonzero(bad) > 0
                    if froze:
                        keep = self._freeze(bad, epoch)
                        zs, loss = _subset(zs, keep), loss[keep]
                        acts = [acts[0], *_subset(acts[1:], keep)]
                    if record:
                        self.scratch = None if froze else ws.scratch
                        self._record(history, slot, zs, acts, loss, extra, evals)
                        slot += 1
                    grads = None
                    if trace or (self.full_batch and not last):
                        ws = None if froze else ws  # after a freeze, zs are copies
                        grads = self.model.backward(self.params, zs, acts, self.Y, ws, self.first)
                    if trace:
                        trace_epochs.append(epoch)
                        on_trace(TraceState(epoch, self.active, self.params, zs, acts, grads, loss))
                if last or not len(self.active):
                    break
                if self.full_batch:
                    self._step(grads, ws)
                else:
                    self._epoch_of_batches(epoch)
        for (fW, fb), (W, b) in zip(self.final, self.params, strict=True):
            fW[self.active], fb[self.active] = W, b
        history = {"epoch": np.asarray(record_epochs), **history}
        return TrainResult(self.final, history, self.status, self.diverged_epoch, trace_epochs)

    def _record(self, history, slot, zs, acts, loss, extra, evals) -> None:
        rows = self.active
        history["loss"][rows, slot] = loss
        history["accuracy"][rows, slot] = accuracy(acts[-1], self.Y)
        for name, fn in extra.items():
            history[name][rows, slot] = fn.value(zs[-1], acts[-1], self.Y, scratch=self.scratch)
        for name, (Xe, Ye) in evals.items():
            ws = self._workspace(Xe.shape[-2], f"eval:{name}")
            ze, ae = self.model._forward_cache(self.params, Xe, ws)
            loss = self.model.loss.value(ze[-1], ae[-1], Ye, scratch=ws.scratch)
            history[f"{name}_loss"][rows, slot] = loss
            history[f"{name}_accuracy"][rows, slot] = accuracy(ae[-1], Ye)

    def _step(self, grads: Params, ws: Workspace | None) -> None:
        """One update; ``ws`` is the workspace whose buffers hold ``grads``, if any."""
        if ws is not None and self.optimizer.is_elementwise:
            self.optimizer.apply_flat(self.flat, ws.grads, self.lr)
        else:
            self.optimizer.apply(self.params, grads, self.lr, self.state)

    def _epoch_of_batches(self, epoch: int) -> None:
        if self.shuffle:
            order = np.stack([rng.permutation(self.n) for rng in self.rngs])
        for start in range(0, self.n, self.batch_size):
            stop = min(start + self.batch_size, self.n)
            if self.shuffle:
                idx = order[:, start:stop]
                Xb, Yb = self.X[idx], self.Y[idx]
            else:
                Xb, Yb = self.X[start:stop], self.Y[start:stop]
            ws = self._workspace(len(Yb) if Yb.ndim == 2 else Yb.shape[1])
            loss, grads = self.model._loss_and_grads(self.params, Xb, Yb, ws)
            bad = self._diverged(loss, full_data=False, epoch=epoch)
            if np.count_nonzero(bad):
                keep = self._freeze(bad, epoch)
                if self.shuffle:
                    order = order[keep]
                grads, ws = _subset_params(grads, keep), None
                if not len(self.active):
                    return
            self._step(grads, ws)


def _subset(arrays: list[np.ndarray], keep: np.ndarray) -> list[np.ndarray]:
    return [a[keep] for a in arrays]


def _subset_params(params: Params, keep: np.ndarray) -> Params:
    return [(W[keep], b[keep]) for W, b in params]
