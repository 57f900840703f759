"""The training loop: gradients from :class:`MLP`, steps from :class:`GradientDescent`.

Epoch ``e`` in every record means "after ``e`` updates": metrics at epoch ``e`` are those
of the parameters before the ``e``-th epoch's update, and epoch ``epochs`` is the final
state. (A notebook that prints "Epoch 100" after computing the loss inside its 100th loop
iteration prints our epoch 99.)

Runs in a block never interact: each has its own learning rate and shuffle stream, and a
run whose loss or parameters stop being finite is frozen, marked ``diverged`` with the
epoch, and dropped from the block while the others go on.

An epoch of full-batch training is one pass on the training set (its loss, the divergence
checks, and the metrics or trace hook when scheduled), its gradients, and one update
(:meth:`_Loop._look`, :meth:`_Loop._gradients`, :meth:`_Loop._update`); mini-batch
training updates once per batch instead, looking at the whole training set only when
something is recorded. The arrays the loop reuses live in :mod:`.workspace`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .initializers import shuffle_stream
from .losses import make_loss
from .mlp import MLP, Params, accuracy, as_targets
from .optim import GradientDescent
from .workspace import FlatLayout, SharedInputLayer, Workspace

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
    schedule = _Schedule(loop.epochs, metrics_every, trace_every, set(trace_at), on_trace)
    history = _History(loop, schedule.record_epochs, metrics, eval_sets or {})
    return loop.run(schedule, history, on_trace)


class _Schedule:
    """At which epochs metrics are recorded (``slot``: epoch to record number) and the
    trace hook is called (``traced``)."""

    def __init__(self, epochs, metrics_every, trace_every, trace_at, on_trace):
        if metrics_every < 1:
            raise ValueError(f"metrics_every must be >= 1, got {metrics_every}")
        if trace_every is not None and trace_every < 1:
            raise ValueError(f"trace_every must be >= 1 or None, got {trace_every}")
        self.record_epochs = sorted(set(range(0, epochs, metrics_every)) | {epochs})
        self.slot = {epoch: i for i, epoch in enumerate(self.record_epochs)}
        self.traced: set[int] = set()
        if on_trace is not None:
            every = range(0, epochs + 1, trace_every) if trace_every is not None else ()
            self.traced = {epochs, *trace_at, *every}

    def looks_at(self, epoch: int) -> bool:
        """Whether something is recorded or traced at ``epoch``."""
        return epoch in self.slot or epoch in self.traced


class _History:
    """The recorded metrics: per column an ``(R, T)`` array, NaN where not recorded."""

    def __init__(self, loop, record_epochs, metrics, eval_sets):
        model = loop.model
        self.extra = {name: make_loss(name) for name in metrics}
        out_name = model.activations[-1].name
        for name, fn in self.extra.items():
            if fn.output not in (None, out_name):
                raise ValueError(f"metric {name!r} needs a {fn.output!r} output, not {out_name!r}")
        k = model.sizes[-1]
        self.evals = {
            name: (model.check_inputs(loop.params, Xe), as_targets(Ye, len(Xe), k, loop.dtype))
            for name, (Xe, Ye) in eval_sets.items()
        }
        columns = ["loss", "accuracy", *self.extra] + [
            f"{name}_{what}" for name in self.evals for what in ("loss", "accuracy")
        ]
        self.epochs = record_epochs
        self.columns = {c: np.full((loop.R, len(record_epochs)), np.nan) for c in columns}

    def record(self, loop, slot: int, zs, acts, loss, scratch) -> None:
        """Metrics of the active runs of ``loop`` (``zs``, ``acts`` and ``loss`` of its
        training set) at record number ``slot``."""
        rows, columns, model = loop.active, self.columns, loop.model
        columns["loss"][rows, slot] = loss
        columns["accuracy"][rows, slot] = accuracy(acts[-1], loop.Y)
        for name, fn in self.extra.items():
            columns[name][rows, slot] = fn.value(zs[-1], acts[-1], loop.Y, scratch=scratch)
        for name, (Xe, Ye) in self.evals.items():
            ws = loop.workspace(Xe.shape[-2], f"eval:{name}")
            ze, ae = model.forward_cache(loop.params, Xe, buffers=ws)
            columns[f"{name}_loss"][rows, slot] = model.loss.value(
                ze[-1], ae[-1], Ye, scratch=ws.scratch, rows=ws.rows[-1]
            )
            columns[f"{name}_accuracy"][rows, slot] = accuracy(ae[-1], Ye)

    def result(self) -> dict[str, np.ndarray]:
        return {"epoch": np.asarray(self.epochs), **self.columns}


class _Loop:
    """State of one call of :func:`train` (the active runs, their parameters and
    buffers) and the steps of an epoch: compute gradients (:meth:`_gradients`,
    :meth:`_batch_gradients`), apply an update (:meth:`_update`), loop (:meth:`run`)."""

    def __init__(self, model, params, X, Y, lr, epochs, optimizer, batch_size, shuffle, seeds):
        self.model = model
        self.R = params[0][0].shape[0]
        self.dtype = params[0][0].dtype
        model.check_inputs(params, X)
        self.X = np.asarray(X, dtype=self.dtype)
        if self.X.ndim != 2:
            raise ValueError(f"train needs X of shape (n, n_in), got {self.X.shape}")
        self.n = self.X.shape[0]
        self.Y = as_targets(Y, self.n, model.sizes[-1], self.dtype)
        lr = np.broadcast_to(np.asarray(lr, dtype=float), (self.R,))
        if not np.all(np.isfinite(lr) & (lr > 0)):
            raise ValueError(f"learning rates must be positive and finite, got {lr.tolist()}")
        lr_runs = lr.astype(self.dtype)
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
        self.order: np.ndarray | None = None  # this epoch's sample order per run, if shuffled
        # The loop owns a copy, one (R, P) array (self.flat) with per-layer views
        # (self.params), which the optimizer then updates in place.
        self.layout = FlatLayout(model.sizes)
        self._hold(self.layout.pack(params, self.dtype))
        # Each run's rate repeated over its P parameters: multiplying (R, P) gradients by
        # an (R, P) array is ~3x faster than by a broadcast (R, 1) column (same products).
        self.lr = np.repeat(lr_runs[:, None], self.layout.size, axis=1)
        self.velocity = optimizer.init_velocity(self.flat)
        self.active = np.arange(self.R)
        self.final = [(np.empty_like(W), np.empty_like(b)) for W, b in params]
        self.status = ["ok"] * self.R
        self.diverged_epoch: list[int | None] = [None] * self.R

    # -- bookkeeping ------------------------------------------------------------------

    def _hold(self, flat: np.ndarray) -> None:
        """Make ``flat`` (R_active, P) the parameters, with the views and buffers the loop
        uses (the training set's first layer reads its weights from ``flat``)."""
        self.flat = flat
        self.params = self.layout.views(flat)
        first = SharedInputLayer(self.X, self.layout.first_layer(flat))
        R = flat.shape[0]
        self.train_ws = Workspace(self.model.sizes, R, self.n, self.dtype, first)
        self._workspaces: dict[tuple[int, str], Workspace] = {}

    def workspace(self, n: int, data: str) -> Workspace:
        """Buffers for the active runs on ``n`` samples of ``data`` (``"batch"`` or
        ``"eval:<name>"``: each has its own, as the training pass's buffers are still
        needed after an eval set's forward pass)."""
        key = (n, data)
        if key not in self._workspaces:
            R = self.flat.shape[0]
            self._workspaces[key] = Workspace(self.model.sizes, R, n, self.dtype)
        return self._workspaces[key]

    def set_divergence(self, above: float | None, factor: float | None) -> None:
        for name, value in (("diverge_above", above), ("diverge_factor", factor)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")
        self.diverge_above, self.diverge_factor = above, factor
        # Per active run: the largest finite loss allowed (set at the first full-data loss).
        self.loss_limit: np.ndarray | None = None

    def _diverged(self, loss: np.ndarray, full_data: bool, epoch: int) -> np.ndarray | None:
        """Which active runs have a non-finite loss, a parameter out of bounds, or (for a
        loss on the full training set) a loss grown past the factor; ``None`` if none.

        The parameter bound is checked every ``_BOUND_EVERY`` epochs and at the last: its
        reductions over the block's parameters cost about 5% of a tiny network's epoch,
        and a blow-up past 1e6 is not a one-epoch event (a non-finite loss is caught at
        once).
        """
        if full_data and self.loss_limit is None:
            factor = self.diverge_factor
            self.loss_limit = np.full(loss.shape, _NO_LIMIT) if factor is None else factor * loss
        # One comparison flags a NaN, an infinity and a loss past the limit alike.
        ok = np.abs(loss) <= (self.loss_limit if full_data else _NO_LIMIT)
        check_bound = full_data and (epoch % _BOUND_EVERY == 0 or epoch == self.epochs)
        if self.diverge_above is not None and check_bound:
            limit = self.diverge_above
            ok &= ~(np.maximum.reduce(self.flat, axis=1) > limit)
            ok &= ~(np.minimum.reduce(self.flat, axis=1) < -limit)
        # (count_nonzero: ndarray.all's wrapper costs ~2 us per epoch.)
        return None if np.count_nonzero(ok) == len(ok) else ~ok

    def _freeze(self, bad: np.ndarray, epoch: int) -> None:
        """Retire the active runs flagged in ``bad``."""
        for i in np.flatnonzero(bad):
            run = self.active[i]
            self.status[run] = "diverged"
            self.diverged_epoch[run] = epoch
            for (fW, fb), (W, b) in zip(self.final, self.params, strict=True):
                fW[run], fb[run] = W[i], b[i]
        keep = ~bad
        self.active = self.active[keep]
        self._hold(self.flat[keep])
        if self.velocity is not None:
            self.velocity = self.velocity[keep]
        self.lr = self.lr[keep]
        if self.loss_limit is not None:
            self.loss_limit = self.loss_limit[keep]
        if self.shuffle:
            self.rngs = [r for r, k in zip(self.rngs, keep, strict=True) if k]
            if self.order is not None:
                self.order = self.order[keep]

    # -- the steps of an epoch ----------------------------------------------------------

    def _training_set_pass(self, epoch: int):
        """The forward pass and loss of the active runs on the training set, after
        retiring the runs it finds diverged; returns ``(zs, acts, loss)``."""
        ws = self.train_ws
        zs, acts = self.model.forward_cache(self.params, self.X, buffers=ws)
        loss = self.model.loss.value(zs[-1], acts[-1], self.Y, scratch=ws.scratch, rows=ws.rows[-1])
        bad = self._diverged(loss, full_data=True, epoch=epoch)
        if bad is not None:
            # Again for the others, in buffers of their number (the same bits: a run's
            # numbers do not depend on the other runs of its block).
            self._freeze(bad, epoch)
            return self._training_set_pass(epoch)
        return zs, acts, loss

    def _gradients(self, zs, acts) -> Params:
        """Gradients on the training set from its forward pass, into ``train_ws.grads``."""
        return self.model.backward(self.params, zs, acts, self.Y, buffers=self.train_ws)

    def _update(self, grads: np.ndarray) -> None:
        """One step of every active run from its ``(R_active, P)`` gradients."""
        self.optimizer.update(self.flat, grads, self.lr, self.velocity, self.layout)

    def _batch_gradients(self, batch: slice, epoch: int) -> np.ndarray:
        """Gradients of the active runs on one mini-batch, ``(R_active, P)``, after
        retiring the runs whose loss on it is not finite."""
        if self.shuffle:
            idx = self.order[:, batch]
            Xb, Yb = self.X[idx], self.Y[idx]
        else:
            Xb, Yb = self.X[batch], self.Y[batch]
        ws = self.workspace(Xb.shape[-2], "batch")
        loss, _ = self.model.loss_and_grads(self.params, Xb, Yb, buffers=ws)
        bad = self._diverged(loss, full_data=False, epoch=epoch)
        if bad is not None:
            self._freeze(bad, epoch)
            return self._batch_gradients(batch, epoch)
        return ws.grads

    def _epoch_of_batches(self, epoch: int) -> None:
        if self.shuffle:
            self.order = np.stack([rng.permutation(self.n) for rng in self.rngs])
        for start in range(0, self.n, self.batch_size):
            grads = self._batch_gradients(slice(start, start + self.batch_size), epoch)
            if not len(self.active):
                return
            self._update(grads)

    # -- the loop ---------------------------------------------------------------------

    def run(self, schedule: _Schedule, history: _History, on_trace) -> TrainResult:
        self.trace_epochs: list[int] = []
        # Overflow in a diverging run is expected and recorded as its status below; the
        # other runs' numerics are stable by construction (expit, logaddexp, log_softmax).
        with np.errstate(over="ignore", invalid="ignore"):
            for epoch in range(self.epochs + 1):
                if not len(self.active):
                    break
                last = epoch == self.epochs
                if self.full_batch or last or schedule.looks_at(epoch):
                    # Full batch: this pass also gives the gradients of the update below.
                    want_grads = self.full_batch and not last
                    self._look(epoch, schedule, history, on_trace, want_grads)
                if last or not len(self.active):
                    break
                if self.full_batch:
                    self._update(self.train_ws.grads)
                else:
                    self._epoch_of_batches(epoch)
        for (fW, fb), (W, b) in zip(self.final, self.params, strict=True):
            fW[self.active], fb[self.active] = W, b
        return TrainResult(
            self.final, history.result(), self.status, self.diverged_epoch, self.trace_epochs
        )

    def _look(self, epoch, schedule, history, on_trace, want_grads: bool) -> None:
        """The pass on the training set at ``epoch``: divergence, the metrics and the
        trace hook if scheduled, and the gradients if ``want_grads`` or traced."""
        zs, acts, loss = self._training_set_pass(epoch)
        if epoch in schedule.slot:
            history.record(self, schedule.slot[epoch], zs, acts, loss, self.train_ws.scratch)
        traced = epoch in schedule.traced
        if want_grads or traced:
            grads = self._gradients(zs, acts)
        if traced:
            self.trace_epochs.append(epoch)
            on_trace(TraceState(epoch, self.active, self.params, zs, acts, grads, loss))
