"""The compiled trainer's Python side: arguments, data layout, chunks, the trace hook.

:func:`train_compiled` takes :func:`backproplab.engine.train`'s arguments and returns its
:class:`~backproplab.engine.TrainResult`; the arithmetic runs in
:func:`.kernels.train_chunk`. What stays in Python:

- the argument checks (the engine's, with its messages);
- the runs' shuffle streams: each run's sample orders are drawn here with
  ``rng.permutation(n)``, epoch by epoch, exactly the draws of the engine, and handed to
  the kernel;
- the trace hook: training runs in compiled chunks from one hook epoch to the next; at a
  hook epoch the kernel stops after that epoch's evaluation, and the hook gets a
  :class:`~backproplab.engine.TraceState` of the same shapes as the engine's (``z`` and
  ``a`` are converted from the kernel's layout when first read).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..activations import make_activation
from ..initializers import shuffle_stream
from ..losses import make_loss
from ..mlp import MLP, FlatLayout, Params, as_targets
from ..optim import GradientDescent
from ..train import TraceState, TrainResult

__all__ = ["NotSupported", "Support", "supports", "train_compiled"]

# Names the kernel implements, and their codes in kernels.py (kept in step by a test).
ACTIVATION_CODES = {
    "identity": 0,
    "sigmoid": 1,
    "tanh": 2,
    "relu": 3,
    "leaky_relu": 4,
    "softmax": 5,
}
LOSS_CODES = {"mse": 0, "half_sse": 1, "bce": 2, "cross_entropy": 3}
# Most memory the pre-drawn sample orders of one chunk may take (int32); longer stretches
# between hook epochs are split (a split changes no bits).
_ORDER_BYTES = 32 << 20
# Target size of a block's tile buffers (the samples processed at a time), well within a
# 1 MB L2 cache; any tile size gives the same bits. Measured (benchmarks/compiled.py):
# 64 samples beat 8 by 1.4x on W2 and W3, and no size mattered on W4.
_TILE_BYTES = 512 << 10


@dataclass(frozen=True)
class Support:
    """Whether the compiled trainer covers a configuration; true-valued if it does.

    Attributes
    ----------
    ok : bool
    reason : str
        Why not (empty when ``ok``).
    """

    ok: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


class NotSupported(ValueError):
    """:func:`train_compiled` was called on a configuration it does not cover."""


def _kernels():
    """The numba module, imported on first use (numba's import takes ~0.3 s)."""
    from . import kernels

    return kernels


def supports(
    model: MLP,
    params: Params | None = None,
    X: np.ndarray | None = None,
    Y: np.ndarray | None = None,
    *,
    optimizer: GradientDescent | None = None,
    eval_sets: Mapping[str, tuple[np.ndarray, np.ndarray]] | None = None,
    **_ignored,
) -> Support:
    """Whether :func:`train_compiled` covers this call of ``train`` (same arguments).

    Covered: every activation and loss of the engine, full-batch, mini-batch and online
    gradient descent, momentum, clipping, fixed biases, metrics, held-out sets, the
    divergence rules and the trace hook, in float64 with one input and target matrix
    shared by all runs. Not covered (the caller falls back to the NumPy engine): float32
    or other dtypes, per-run data (3-D ``X`` or ``Y``), optimizers or activations other
    than the engine's own classes, and machines without numba.

    Arguments other than ``model``, ``params``, ``X``, ``Y`` and ``optimizer`` never
    decide; invalid values are reported by :func:`train_compiled` as by the engine.
    """
    for act in model.activations:
        if act.name not in ACTIVATION_CODES or type(act) is not type(make_activation(act.spec())):
            return Support(False, f"activation {act!r} is not one the compiled kernel implements")
        if set(act.spec()) - {"name", "slope"}:
            return Support(False, f"activation parameters {act.spec()} are not compiled")
    loss = model.loss
    if loss.name not in LOSS_CODES or type(loss) is not type(make_loss(loss.name)):
        return Support(False, f"loss {loss!r} is not one the compiled kernel implements")
    if optimizer is not None and type(optimizer) is not GradientDescent:
        return Support(False, f"optimizer {type(optimizer).__name__} is not GradientDescent")
    if params is not None:
        dtypes = {np.asarray(a).dtype for pair in params for a in pair}
        if dtypes != {np.dtype(np.float64)}:
            return Support(False, f"parameters of dtype {sorted(map(str, dtypes))}, not float64")
    if X is not None and np.ndim(X) != 2:
        return Support(False, f"X of {np.ndim(X)} dimensions (the kernel shares one (n, d) X)")
    if Y is not None and np.ndim(Y) not in (1, 2):
        return Support(False, "per-run targets (3-D Y) are not compiled")
    for name, (Xe, Ye) in (eval_sets or {}).items():
        if np.ndim(Xe) != 2 or np.ndim(Ye) not in (1, 2):
            return Support(False, f"held-out set {name!r} has per-run (3-D) data")
    try:
        import numba  # noqa: F401
    except ImportError as exc:  # pragma: no cover - numba is a dependency
        return Support(False, f"numba is not importable ({exc})")
    return Support(True)


def train_compiled(
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
    threads: int | None = None,
    tile: int | None = None,
) -> TrainResult:
    """:func:`backproplab.engine.train`, compiled: same arguments, same result type.

    The same arithmetic as the NumPy engine in another order of summation (products and
    sums over samples run in sample order here, in BLAS's order there), so results agree
    to rounding, not to the bit (tests/test_compiled_trainer.py states by how much);
    the same divergence rules, records, shuffle draws and hook calls.

    Two arguments beyond ``train``'s, neither of which changes a bit: ``threads``, the
    numba threads for this call (blocks of ``LANES`` runs are trained in parallel; by
    default numba's current setting, all cores unless ``numba.set_num_threads`` or
    ``NUMBA_NUM_THREADS`` say otherwise: a job sharing the machine should pass its share);
    ``tile``, the samples per pass through the layers (for tests).

    Raises
    ------
    NotSupported
        For a configuration :func:`supports` rejects.
    ValueError
        For the arguments the engine rejects, with the engine's messages.
    """
    optimizer = optimizer or GradientDescent()
    support = supports(model, params, X, Y, optimizer=optimizer, eval_sets=eval_sets)
    if not support:
        raise NotSupported(support.reason)
    job = _Job(model, params, X, Y, lr, epochs, optimizer, batch_size, shuffle, seeds)
    job.set_divergence(diverge_above, diverge_factor)
    job.set_records(metrics, eval_sets or {}, metrics_every)
    if threads is None:
        return job.run(trace_every, set(trace_at), on_trace, tile)
    import numba

    before = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        return job.run(trace_every, set(trace_at), on_trace, tile)
    finally:
        numba.set_num_threads(before)


class _Job:
    """One call of :func:`train_compiled`: the kernel's arrays and the bookkeeping."""

    def __init__(self, model, params, X, Y, lr, epochs, optimizer, batch_size, shuffle, seeds):
        self.model = model
        R = self.R = params[0][0].shape[0]
        model.check_inputs(params, X)
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        if self.X.ndim != 2:
            raise ValueError(f"train needs X of shape (n, n_in), got {self.X.shape}")
        n = self.n = self.X.shape[0]
        self.Y = np.ascontiguousarray(as_targets(Y, n, model.sizes[-1], np.float64))
        lr = np.broadcast_to(np.asarray(lr, dtype=float), (R,))
        if not np.all(np.isfinite(lr) & (lr > 0)):
            raise ValueError(f"learning rates must be positive and finite, got {lr.tolist()}")
        if int(epochs) != epochs or epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {epochs!r}")
        self.epochs = int(epochs)
        if batch_size is not None and not (int(batch_size) == batch_size and batch_size >= 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        self.full_batch = batch_size is None or batch_size >= n
        self.batch = n if self.full_batch else int(batch_size)
        self.shuffle = bool(shuffle) and not self.full_batch
        if self.shuffle:
            if seeds is None or len(seeds) != R:
                raise ValueError("shuffled mini-batches need one seed per run (seeds=...)")
            self.rngs = [shuffle_stream(s) for s in seeds]
        self.optimizer = optimizer

        K = _kernels()
        self.kernels = K
        L = self.lanes = K.LANES
        self.blocks = -(-R // L)
        Rp = self.blocks * L
        sizes = model.sizes
        # Widths padded to multiples of 4 (units that stay zero; see kernels.py).
        psz = [-(-s // 4) * 4 for s in sizes]
        self.layout = FlatLayout(sizes)
        self.padded = FlatLayout(psz)
        P = self.padded.size
        self.sizes = np.asarray(sizes, dtype=np.int64)
        self.psz = np.asarray(psz, dtype=np.int64)
        self.acts = np.array([ACTIVATION_CODES[a.name] for a in model.activations], np.int64)
        self.slopes = np.array([float(getattr(a, "slope", 0.0)) for a in model.activations])
        self.loss = LOSS_CODES[model.loss.name]
        self.woff = np.array([w[0] * L for w, _ in self.padded.slices], np.int64)
        self.boff = np.array([b[0] * L for _, b in self.padded.slices], np.int64)
        self.units = np.concatenate([[0], np.cumsum(psz[1:])]).astype(np.int64)  # per layer
        self.is_bias = np.zeros(P, np.int64)
        for _, (b0, b1) in self.padded.slices:
            self.is_bias[b0:b1] = 1

        flat = np.zeros((Rp, P))
        for (W, b), (Wp, bp) in zip(params, self.padded.views(flat), strict=True):
            Wp[:R, : W.shape[1], : W.shape[2]] = W
            bp[:R, : b.shape[1]] = b
        self.params = self._blocked(flat)
        self.vel = np.zeros_like(self.params)
        self.grads = np.zeros_like(self.params)
        self.frozen = np.zeros_like(self.params)
        lanes = np.zeros(Rp)
        lanes[:R] = lr
        self.lr = lanes.reshape(self.blocks, L).copy()
        self.alive = (np.arange(Rp) < R).astype(np.int64).reshape(self.blocks, L)
        self.limit = np.zeros((self.blocks, L))
        self.div_epoch = np.full((self.blocks, L), -1, np.int64)
        self.last_loss = np.zeros((self.blocks, L))
        self.top_alive = np.zeros(self.blocks, np.int64)

    def _blocked(self, flat: np.ndarray) -> np.ndarray:
        """(R_padded, P) -> (blocks, P lanes), lanes last."""
        B, L = self.blocks, self.lanes
        return np.ascontiguousarray(flat.reshape(B, L, -1).transpose(0, 2, 1)).reshape(B, -1)

    def _unblocked(self, arr: np.ndarray, runs=slice(None)) -> list[tuple[np.ndarray, np.ndarray]]:
        """The engine's per-layer (W, b) of the lanes ``runs`` from a (blocks, P lanes)
        array: padding removed, each a new C-contiguous array."""
        B, L = self.blocks, self.lanes
        flat = arr.reshape(B, -1, L).transpose(0, 2, 1).reshape(B * L, -1)[runs]
        out = []
        for (Wp, bp), n_in, n_out in zip(
            self.padded.views(flat), self.model.sizes[:-1], self.model.sizes[1:], strict=True
        ):
            out.append(
                (np.ascontiguousarray(Wp[:, :n_in, :n_out]), np.ascontiguousarray(bp[:, :n_out]))
            )
        return out

    def set_divergence(self, above, factor) -> None:
        for name, value in (("diverge_above", above), ("diverge_factor", factor)):
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")
        self.above = -1.0 if above is None else float(above)
        self.factor = -1.0 if factor is None else float(factor)

    def set_records(self, metrics, eval_sets, metrics_every) -> None:
        if metrics_every < 1:
            raise ValueError(f"metrics_every must be >= 1, got {metrics_every}")
        extra = {name: make_loss(name) for name in metrics}
        out_name = self.model.activations[-1].name
        for name, fn in extra.items():
            if fn.output not in (None, out_name):
                raise ValueError(f"metric {name!r} needs a {fn.output!r} output, not {out_name!r}")
        self.mcodes = np.array([LOSS_CODES[fn.name] for fn in extra.values()], np.int64)
        k = self.model.sizes[-1]
        d = self.model.sizes[0]
        dummy = [(np.zeros((1, *W.shape[1:])), np.zeros((1, *b.shape[1:])))
                 for W, b in self.layout.views(np.zeros((1, self.layout.size)))]  # fmt: skip
        xs, ys, eoff = [np.zeros((0, d))], [np.zeros((0, k))], [0]
        for _name, (Xe, Ye) in eval_sets.items():
            Xe = self.model.check_inputs(dummy, Xe)
            if Xe.ndim != 2:
                raise NotSupported("per-run held-out inputs (3-D X) are not compiled")
            Ye = as_targets(Ye, len(Xe), k, np.float64)
            if Ye.ndim != 2:
                raise NotSupported("per-run held-out targets (3-D Y) are not compiled")
            xs.append(Xe)
            ys.append(Ye)
            eoff.append(eoff[-1] + len(Xe))
        self.Xe = np.ascontiguousarray(np.concatenate(xs), dtype=np.float64)
        self.Ye = np.ascontiguousarray(np.concatenate(ys), dtype=np.float64)
        self.eoff = np.asarray(eoff, np.int64)
        self.record_epochs = sorted(set(range(0, self.epochs, metrics_every)) | {self.epochs})
        self.columns = ["loss", "accuracy", *extra] + [
            f"{name}_{what}" for name in eval_sets for what in ("loss", "accuracy")
        ]
        self.hist = np.full(
            (self.blocks, len(self.columns), self.lanes, len(self.record_epochs)), np.nan
        )

    # -- the loop of chunks ---------------------------------------------------------

    def run(self, trace_every, trace_at, on_trace, tile) -> TrainResult:
        if trace_every is not None and trace_every < 1:
            raise ValueError(f"trace_every must be >= 1 or None, got {trace_every}")
        E = self.epochs
        hooks = set()
        if on_trace is not None:
            hooks = {e for e in trace_at if 0 <= e <= E} | {E}
            if trace_every is not None:
                hooks |= set(range(0, E + 1, trace_every))
        stops = sorted(hooks | {E})
        if self.shuffle:  # split long chunks: their sample orders are drawn up front
            per_epoch = self.blocks * self.lanes * self.n * 4
            most = max(1, _ORDER_BYTES // per_epoch)
            split, prev = [], 0
            for s in stops:
                split.extend(range(prev + most, s, most))
                split.append(s)
                prev = s
            stops = split
        slot_of = {e: i for i, e in enumerate(self.record_epochs)}
        L = self.lanes
        units = int(self.units[-1])
        if tile is None:
            tile = _TILE_BYTES // (8 * self.kernels.work_size(self.psz, self.sizes[-1], 1))
        most = max(self.n, int(np.diff(self.eoff).max(initial=0)))
        tile = int(np.clip(tile, 4, -(-most // 4) * 4)) // 4 * 4
        zoff = self.units * tile * L
        n_full = self.n if on_trace is not None else 0
        self.Zf = np.zeros((self.blocks, units * n_full * L))
        self.Af = np.zeros_like(self.Zf)
        self.tile, self.zoff = tile, zoff
        self.work = np.zeros((self.blocks, self.kernels.work_size(self.psz, self.sizes[-1], tile)))
        no_orders = np.zeros((self.blocks, 0, 0, self.lanes), np.int32)
        trace_epochs = []
        start, first = 0, True
        for stop in stops:
            orders = self._orders(start, stop) if self.shuffle else no_orders
            rec_slot = np.array([slot_of.get(e, -1) for e in range(start, stop + 1)], np.int64)
            trace = stop in hooks
            self._chunk(start, stop, int(not first), rec_slot, int(trace), 0, orders)
            self._at = stop
            if trace and self.top_alive.sum() > 0:
                trace_epochs.append(stop)
                on_trace(self._trace_state(stop))
            start, first = stop, False
            if not self.alive.any() or stop == E:
                break
        return self._result(trace_epochs)

    def _chunk(self, start, stop, skip_first, rec_slot, trace, keep, orders) -> None:
        self.kernels.train_chunk(
            self.sizes, self.psz, self.acts, self.slopes, self.loss, self.woff, self.boff,
            self.zoff, self.is_bias, self.X, self.Y, self.Xe, self.Ye, self.eoff, self.mcodes,
            float(self.optimizer.momentum),
            float(self.optimizer.clip) if self.optimizer.clip is not None else -1.0,
            int(self.optimizer.update_biases), self.batch, int(self.full_batch),
            int(self.shuffle), orders, self.above, self.factor, self.epochs,
            start, stop, skip_first, rec_slot, trace, keep, self.tile,
            self.params, self.vel, self.grads, self.lr, self.alive, self.limit,
            self.div_epoch, self.frozen, self.last_loss, self.top_alive, self.hist,
            self.Zf, self.Af, self.work,
        )  # fmt: skip

    def _full_data(self, epoch: int) -> tuple[np.ndarray, np.ndarray]:
        """z and a of the full training set at ``epoch`` (the kernel's evaluation of that
        epoch, again, keeping them): for a hook that reads them."""
        if epoch != self._at:
            raise RuntimeError("a TraceState's z and a can only be read during its hook call")
        if getattr(self, "_kept", None) != epoch:
            top_alive = self.top_alive.copy()
            none = np.zeros((self.blocks, 0, 0, self.lanes), np.int32)
            self._chunk(epoch, epoch, 0, np.array([-1], np.int64), 1, 1, none)
            self.top_alive[:] = top_alive
            self._kept = epoch
        shape = (self.blocks, int(self.units[-1]), self.n, self.lanes)
        return self.Zf.reshape(shape), self.Af.reshape(shape)

    def _orders(self, start: int, stop: int) -> np.ndarray:
        """Each live run's sample orders for the updates of epochs start..stop-1 (its
        shuffle stream's next draws, as in the engine); other lanes keep data order."""
        E, n = stop - start, self.n
        orders = np.empty((self.blocks, E, n, self.lanes), np.int32)
        orders[...] = np.arange(n, dtype=np.int32)[None, None, :, None]
        alive = self.alive.reshape(-1)
        for r in np.flatnonzero(alive[: self.R]):
            rng = self.rngs[r]
            b, lane = divmod(int(r), self.lanes)
            for e in range(E):
                orders[b, e, :, lane] = rng.permutation(n)
        return orders

    def _trace_state(self, epoch: int) -> TraceState:
        runs = np.flatnonzero(self.alive.reshape(-1)[: self.R])
        spans = [(int(c), int(k)) for c, k in zip(self.units, self.sizes[1:], strict=False)]
        full = lambda: self._full_data(epoch)  # noqa: E731
        z = _Layers(full, 0, runs, spans)
        a = _Layers(full, 1, runs, spans, head=self.X)
        loss = self.last_loss.reshape(-1)[runs].copy()
        params = self._unblocked(self.params, runs)
        grads = self._unblocked(self.grads, runs)
        return TraceState(epoch, runs, params, z, a, grads, loss)

    def _result(self, trace_epochs) -> TrainResult:
        R = self.R
        alive = self.alive.reshape(-1)[:R].astype(bool)
        final = []
        for (W, b), (fW, fb) in zip(
            self._unblocked(self.params, slice(0, R)),
            self._unblocked(self.frozen, slice(0, R)),
            strict=True,
        ):
            W[~alive], b[~alive] = fW[~alive], fb[~alive]
            final.append((W, b))
        T = len(self.record_epochs)
        hist = self.hist.transpose(1, 0, 2, 3).reshape(len(self.columns), -1, T)[:, :R]
        history = {"epoch": np.asarray(self.record_epochs)}
        history.update({c: np.ascontiguousarray(hist[i]) for i, c in enumerate(self.columns)})
        div = self.div_epoch.reshape(-1)[:R]
        status = ["diverged" if e >= 0 else "ok" for e in div]
        diverged_epoch = [int(e) if e >= 0 else None for e in div]
        return TrainResult(final, history, status, diverged_epoch, trace_epochs)


class _Layers(Sequence):
    """Per-layer arrays ``(R_active, n, k)`` of a trace (``z`` or ``a``), computed when
    first read (a recorder that reads only parameters and norms costs nothing more) from
    the kernel's ``(blocks, units, n, lanes)`` buffers, which ``full()`` returns as
    ``(z, a)``; ``head`` is item 0 (``a[0] = X``)."""

    def __init__(self, full, which: int, runs: np.ndarray, spans, head=None):
        self._full, self._which, self._runs, self._spans = full, which, runs, spans
        self._head = head
        self._offset = 0 if head is None else 1
        self._cache: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self._spans) + self._offset

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        if i < self._offset:
            return self._head
        if i not in self._cache:
            c, k = self._spans[i - self._offset]
            buf = self._full()[self._which]
            B, _, n, L = buf.shape
            part = buf[:, c : c + k].transpose(0, 3, 2, 1).reshape(B * L, n, k)
            self._cache[i] = np.ascontiguousarray(part[self._runs])
        return self._cache[i]
