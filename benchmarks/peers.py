"""Wall and CPU time: the NumPy engine and the compiled trainer against PyTorch and JAX.

Run by hand (never in CI); needs the ``bench`` extra (``pip install -e ".[bench]"``)::

    python benchmarks/peers.py                          # full length, 3 rounds
    python benchmarks/peers.py --scale 0.1 --skip-loop  # a tenth of the epochs, no loop
    python benchmarks/peers.py --only W1,W3 --repeat 5
    python benchmarks/peers.py --compiled-threads 1 --numerics native

Every implementation trains the same four workloads as ``benchmarks/engine.py`` (25 runs
each, from the same Glorot-normal initial weights, float64, full-batch gradient descent,
biases updated too, the engine's loss definitions) for ``epochs`` updates, evaluating the
loss before each update and once more after the last one (``epochs + 1`` forward passes):

1. ``engine``: ``backproplab.train`` on the whole block of runs (batched), with one BLAS
   thread, as the pipeline's jobs run it: every call runs inside a threadpoolctl limit of
   one thread on the BLAS libraries (and the numerics profile sets one thread anyway);
2. ``loop``: one run at a time with 2-D NumPy arrays (``loop_train`` in engine.py), under
   the same one-thread limit; ``--skip-loop`` leaves it out (it takes minutes at full
   length);
3. ``compiled``: ``backproplab.engine.compiled.train_compiled``, called as
   ``benchmarks/compiled.py`` calls it, with ``--compiled-threads`` numba threads (default
   ``os.cpu_count()``, set with ``numba.set_num_threads``); ``warm()`` loads its kernel
   from numba's on-disk cache before anything is timed (or compiles it, 20-30 s, once per
   cache) and the output says which;
4. ``torch``: PyTorch eager, batched over runs: weights as ``(R, n_in, n_out)`` tensors,
   ``torch.baddbmm`` for ``b + a @ W`` (the bias broadcast over the samples) and
   hand-written backprop with ``torch.bmm`` like the engine's, under ``torch.no_grad()``,
   updating the parameters in place. Hand-written, as a PyTorch user writes it for speed
   on networks this small: ``--torch-autograd`` times autograd instead
   (``loss.sum().backward()``, then ``p -= lr * p.grad`` under ``no_grad``). With
   ``--torch-threads`` threads (``torch.set_num_threads``; default ``os.cpu_count()``);
5. ``jax``: one run's loss as a function of its parameters, ``jax.value_and_grad``,
   ``jax.vmap`` over the runs (parameters and learning rate), the whole training loop a
   ``lax.scan`` over the epochs inside one ``jax.jit``, in float64 (``jax_enable_x64``);
   compiled once per workload (the agreement check is the warm-up call) and
   ``block_until_ready()`` in every timed call. XLA uses its own thread pool.

The numerics profile (``--numerics``, default ``canonical`` as in the pipeline; see
``backproplab.numerics``) is applied before numpy loads, and checked
(``numerics.enforce``): ``canonical`` pins OpenBLAS to its Haswell kernels and numpy to its
AVX2 loops, ``native`` lets them pick this CPU's (keeping what the environment already
asks of them, such as an ``OPENBLAS_CORETYPE`` set outside, which the output then names).
Both set one BLAS thread through the environment (``OMP_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``MKL_NUM_THREADS``), after which this script sets PyTorch's
thread count itself. The profile concerns numpy and OpenBLAS, that is the engine and the
loop; the compiled trainer, PyTorch and JAX bring their own kernels. The output names the
profile in effect and its kernels (canonical falls back to native, with a warning, on a
CPU that cannot take the pin: not x86-64, or without AVX2 and FMA).

The output starts with the library versions, the numerics profile in effect, the thread
settings (the BLAS libraries' threads inside and outside the engine's limit, numba's
threads and threading layer, PyTorch's intra- and inter-op threads, JAX's devices, x64 and
``XLA_FLAGS``, and the thread and pin environment variables) and the machine check below.

First the final losses of every implementation are checked against the engine's:
``rtol=1e-9`` on W1, W2 and W4, and 1e-6 on W3 (see ``agreement.RTOL``), leaving out only
runs whose outcome is decided by rounding (see ``agreement.SENSITIVE``); the largest
relative difference is printed for every workload and implementation, and a disagreement
stops the script. Then the implementations are timed alternately in this one process
(engine, loop, compiled, torch, jax, engine, ... for ``--repeat`` rounds). For each
workload it prints every implementation's median wall time, median process CPU time
(``time.process_time`` deltas: every thread of this process, so a multi-threaded
implementation's CPU time exceeds its wall time), their ratio (the cores kept busy) and
run-epochs per second; then the wall-time ratios against the targets (issue 16), each
with PASS or MISS:

- compiled / JAX <= 1.0 on every workload, and <= 0.5 on W1 and W2;
- compiled / PyTorch <= 0.3 on every workload;
- engine / JAX <= 2.0 on every workload;
- and, with the loop, loop / engine >= 10 on W1, 2 on W2 and W3, 1 on W4 (engine.py's).

A summary table of the three ratios of issue 16 per workload and the count of those
targets met ends the output. The targets
are for the full length (``--scale 1``) and 3 or more rounds; the output says when a run
is shorter.

Quiet machine: other work on the machine makes the figures unusable (threads waiting for a
core held by another process; issue 16: two BLAS or torch threads waiting on each other
made W4 7-17x slower). Before starting, and again before each workload, the script
measures how many cores other processes kept busy over a short sleep (from /proc/stat,
this process's own CPU time subtracted; without /proc/stat, the one-minute load average);
above a quarter of a core (or a load of 0.5), it prints a WARNING, marks the workloads concerned
in the summary, and repeats the warning at the end.
"""

from __future__ import annotations

import argparse
import os
import sys

from backproplab import numerics


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the epochs")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (median); >= 3")
    parser.add_argument("--only", default="", help="workloads to run, e.g. W1,W3")
    parser.add_argument("--skip-loop", action="store_true", help="leave out the NumPy loop")
    parser.add_argument(
        "--compiled-threads",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="numba threads of the compiled trainer (default: os.cpu_count(), here %(default)s)",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="torch.set_num_threads (default: os.cpu_count(), here %(default)s)",
    )
    parser.add_argument(
        "--numerics",
        choices=numerics.PROFILES,
        default="canonical",
        help="numerics profile, applied before numpy loads (default: canonical, as the pipeline)",
    )
    parser.add_argument(
        "--torch-autograd",
        action="store_true",
        help="PyTorch with autograd instead of hand-written backprop",
    )
    return parser


def _apply_numerics() -> dict:
    """Apply ``--numerics`` and load numpy under it (``numerics.enforce``)."""
    profile = _parser().parse_known_args()[0].numerics  # --help exits here, before numpy
    pinned = [*numerics.CANONICAL, *numerics.NUMBA_VARIABLES]
    inherited = {k: os.environ[k] for k in pinned if k in os.environ}
    try:
        return {"requested": profile, "inherited": inherited, **numerics.enforce(profile)}
    except numerics.NumericsError as exc:
        sys.exit(f"benchmarks/peers.py: {exc}")


# OpenBLAS and numpy read the profile's environment when they load: apply it before the
# imports below load numpy.
NUMERICS = _apply_numerics() if __name__ == "__main__" else {}

import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from functools import partial  # noqa: E402

import numpy as np  # noqa: E402
import threadpoolctl  # noqa: E402

# The other benchmarks sit beside this file (on sys.path when this file is run as a script).
from agreement import check_agreement, workload_key  # noqa: E402
from compiled import compiled_run  # noqa: E402
from engine import (  # noqa: E402
    RUNS,
    Workload,
    engine_train,
    loop_train,
    time_alternately,
    workloads,
)

from backproplab.engine.compiled import warm  # noqa: E402

try:
    import jax
    import jax.numpy as jnp
    import torch
    from jax import lax
except ImportError as exc:
    print(
        f"benchmarks/peers.py needs PyTorch and JAX ({exc}).\n"
        'Install them (the bench extra) with: pip install -e ".[bench]"',
        file=sys.stderr,
    )
    sys.exit(2)

jax.config.update("jax_enable_x64", True)

# Targets (issue 16), on wall time at 25 runs: compiled/JAX <= 1.0 everywhere and <= 0.5 on
# W1 and W2; compiled/PyTorch <= 0.3 everywhere; engine/JAX <= 2.0 everywhere.
WORKLOADS = ("W1", "W2", "W3", "W4")
TARGETS: list[tuple[str, str, dict[str, float]]] = [  # (numerator, denominator, maxima)
    ("compiled", "jax", {"W1": 0.5, "W2": 0.5, "W3": 1.0, "W4": 1.0}),
    ("compiled", "torch", dict.fromkeys(WORKLOADS, 0.3)),
    ("engine", "jax", dict.fromkeys(WORKLOADS, 2.0)),
]
# loop/engine as in engine.py (issue 2): the engine 10x the loop on W1, 2x on W2/W3, 1x on W4.
LOOP_MIN = {"W1": 10.0, "W2": 2.0, "W3": 2.0, "W4": 1.0}
# Quiet machine: other processes may keep at most this many cores busy (measured over a
# short sleep). Where /proc/stat is missing, the one-minute load average may be at most
# LOAD_MAX instead (it counts this process's own threads too, which is why it is only the
# fallback: after a workload it reads 1-2 on a machine doing nothing else).
BUSY_MAX, LOAD_MAX = 0.25, 0.5


def _layers(w: Workload) -> tuple[list[str], list[float], str]:
    """Activation names, leaky-ReLU slopes (0 where unused) and the loss name."""
    acts = w.model.activations
    return [a.name for a in acts], [getattr(a, "slope", 0.0) for a in acts], w.model.loss.name


# -- PyTorch eager, batched with bmm, hand-written backprop ------------------------------


def _torch_act(name: str, slope: float):
    """``(act, back)``: ``act(z)``, and ``back(dz, a, z)`` = ``dz * act'(z)`` (may reuse
    ``dz``), with ``a = act(z)``."""
    if name == "sigmoid":
        return torch.sigmoid, lambda dz, a, z: dz.mul_(a * (1 - a))
    if name == "tanh":
        return torch.tanh, lambda dz, a, z: dz.mul_(1 - a * a)
    if name == "leaky_relu":
        return (
            lambda z: torch.nn.functional.leaky_relu(z, slope),
            lambda dz, a, z: torch.where(z > 0, dz, dz * slope),
        )
    raise ValueError(name)


class _TorchMLP:
    """The block's parameters as float64 tensors and a batched forward pass."""

    def __init__(self, w: Workload, params0: list, requires_grad: bool = False):
        names, slopes, self.loss_name = _layers(w)
        self.acts = [
            _torch_act(a, s) if a != "softmax" else None for a, s in zip(names, slopes, strict=True)
        ]
        self.last = len(names) - 1
        self.Ws = [torch.tensor(W, requires_grad=requires_grad) for W, _ in params0]
        self.bs = [torch.tensor(b[:, None, :], requires_grad=requires_grad) for _, b in params0]
        R = len(params0[0][0])
        self.X = torch.from_numpy(w.X).expand(R, *w.X.shape).contiguous()  # bmm: (R, n, d)
        self.Y = torch.from_numpy(w.Y)
        self.zero = torch.zeros((), dtype=torch.float64)

    def forward(self):
        """Loss per run (R,), the layers' inputs ``a``, pre-activations ``zs``, and the
        output (mse: the activated output; cross_entropy: its log-softmax)."""
        a, zs, Y = [self.X], [], self.Y
        for i, (W, b) in enumerate(zip(self.Ws, self.bs, strict=True)):
            zs.append(torch.baddbmm(b, a[-1], W))  # b + a @ W, b broadcast over samples
            if i < self.last:
                a.append(self.acts[i][0](zs[-1]))
        z = zs[-1]
        if self.loss_name == "mse":
            out = self.acts[self.last][0](z)
            d = out - Y
            return torch.mean(d * d, dim=(1, 2)), a, zs, out
        if self.loss_name == "bce":
            return torch.mean(torch.logaddexp(z, self.zero) - Y * z, dim=(1, 2)), a, zs, None
        log_p = torch.log_softmax(z, dim=2)
        return -torch.sum(Y * log_p, dim=2).mean(dim=1), a, zs, log_p


def torch_train(w: Workload, params0: list) -> np.ndarray:
    """Train the block with PyTorch, hand-written backprop; returns the final losses (R,)."""
    n, k = w.Y.shape
    with torch.no_grad():
        m = _TorchMLP(w, params0)
        Ws, bs, acts, last, Y = m.Ws, m.bs, m.acts, m.last, m.Y
        for epoch in range(w.epochs + 1):
            loss, a, zs, out = m.forward()
            if epoch == w.epochs:
                break  # the loss after w.epochs updates
            z = zs[-1]
            if m.loss_name == "mse":  # 2 (a - y) / (n k) * act'(z)
                dz = acts[last][1]((out - Y).mul_(2.0 / (n * k)), out, z)
            elif m.loss_name == "bce":  # (sigmoid(z) - y) / (n k)
                dz = torch.sigmoid(z).sub_(Y).mul_(1.0 / (n * k))
            else:  # (softmax(z) - y) / n
                dz = out.exp_().sub_(Y).mul_(1.0 / n)
            for i in range(last, -1, -1):
                dW = torch.bmm(a[i].transpose(1, 2), dz)
                db = dz.sum(dim=1, keepdim=True)
                if i:
                    dz = acts[i - 1][1](torch.bmm(dz, Ws[i].transpose(1, 2)), a[i], zs[i - 1])
                Ws[i] -= dW.mul_(w.lr)
                bs[i] -= db.mul_(w.lr)
        return loss.numpy().copy()


def torch_autograd_train(w: Workload, params0: list) -> np.ndarray:
    """The same with autograd (``--torch-autograd``): the sum of the runs' losses has each
    run's gradient as its gradient with respect to that run's parameters."""
    m = _TorchMLP(w, params0, requires_grad=True)
    params = m.Ws + m.bs
    for _ in range(w.epochs):
        loss = m.forward()[0]  # the loss before this update
        loss.sum().backward()
        with torch.no_grad():
            for p in params:
                p -= w.lr * p.grad
                p.grad = None
    with torch.no_grad():
        return m.forward()[0].numpy().copy()  # the loss after w.epochs updates


# -- JAX: value_and_grad of one run, vmap over runs, scan over epochs, jit ---------------


def _jax_act(name: str, slope: float, z):
    if name == "sigmoid":
        return jax.nn.sigmoid(z)
    if name == "tanh":
        return jnp.tanh(z)
    if name == "leaky_relu":
        return jnp.where(z > 0, z, slope * z)
    raise ValueError(name)


def make_jax_train(w: Workload) -> Callable[[Workload, list], np.ndarray]:
    """A ``(w, params0) -> final losses`` function for ``w``'s model, jitted; compiled on
    its first call for each number of epochs."""
    names, slopes, loss_name = _layers(w)
    last = len(names) - 1

    def loss(params, X, Y):  # one run: W (n_in, n_out), b (n_out,)
        a = X
        for i, (W, b) in enumerate(params):
            z = a @ W + b
            if i < last:
                a = _jax_act(names[i], slopes[i], z)
        if loss_name == "mse":
            return jnp.mean((_jax_act(names[last], slopes[last], z) - Y) ** 2)
        if loss_name == "bce":
            return jnp.mean(jnp.logaddexp(0.0, z) - Y * z)
        return -jnp.mean(jnp.sum(Y * jax.nn.log_softmax(z, axis=-1), axis=-1))

    value_and_grad = jax.value_and_grad(loss)

    def train_one(params, lr, X, Y, epochs):
        def epoch(p, _):
            value, grads = value_and_grad(p, X, Y)  # the loss before this update
            return jax.tree.map(lambda q, g: q - lr * g, p, grads), value

        params, _history = lax.scan(epoch, params, None, length=epochs)
        return loss(params, X, Y)  # the loss after `epochs` updates

    @partial(jax.jit, static_argnames="epochs")
    def trained(params, lr, X, Y, epochs):
        one = partial(train_one, epochs=epochs)
        return jax.vmap(one, in_axes=(0, 0, None, None))(params, lr, X, Y)

    X, Y = jnp.asarray(w.X), jnp.asarray(w.Y)

    def jax_train(w_: Workload, params0: list) -> np.ndarray:
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in params0]
        lr = jnp.full(len(params0[0][0]), w_.lr)
        return np.asarray(trained(params, lr, X, Y, w_.epochs).block_until_ready())

    return jax_train


# -- the engine with one BLAS thread -----------------------------------------------------


class OneBlasThread:
    """Runs ``fn`` with one thread on every BLAS library loaded when this was made (a
    threadpoolctl limit, undone after each call: PyTorch and XLA keep theirs)."""

    def __init__(self) -> None:
        self.blas = threadpoolctl.ThreadpoolController().select(user_api="blas")

    def wrap(self, fn: Callable[[Workload, list], np.ndarray]):
        def limited(w: Workload, params0: list) -> np.ndarray:
            with self.blas.limit(limits=1):
                return fn(w, params0)

        return limited

    def describe(self) -> str:
        with self.blas.limit(limits=1):
            inside = {lib.filepath: lib.num_threads for lib in self.blas.lib_controllers}
        return "; ".join(
            f"{lib.internal_api} {lib.version} {lib.architecture or ''} in "
            f"{os.path.basename(os.path.dirname(lib.filepath))}: {inside[lib.filepath]} thread"
            f"{'s' if inside[lib.filepath] != 1 else ''} for the engine, {lib.num_threads} outside"
            for lib in self.blas.lib_controllers
        )


# -- the quiet-machine check -------------------------------------------------------------


def others_busy(seconds: float) -> float | None:
    """Cores kept busy by other processes while this one sleeps ``seconds`` (from
    /proc/stat, minus this process's own CPU time); None where /proc/stat is unreadable."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as fh:
            ticks = [int(x) for x in fh.readline().split()[1:9]]  # user .. steal
        return sum(ticks), ticks[3] + ticks[4]  # all, idle + iowait

    try:
        total0, idle0 = sample()
        own0 = time.process_time()
        time.sleep(seconds)
        total1, idle1 = sample()
        own1 = time.process_time()
    except (OSError, ValueError):
        return None
    busy = ((total1 - total0) - (idle1 - idle0)) / os.sysconf("SC_CLK_TCK") - (own1 - own0)
    return max(0.0, busy / seconds)


def quiet_check(seconds: float) -> tuple[bool, str]:
    """``(quiet, description)`` of the machine now."""
    busy, load = others_busy(seconds), os.getloadavg()[0]
    quiet = busy <= BUSY_MAX if busy is not None else load <= LOAD_MAX
    what = "unknown" if busy is None else f"{busy:.2f}"
    text = (
        f"other processes kept {what} of {os.cpu_count()} cores busy over {seconds:g} s;"
        f" load average {load:.2f} over the last minute"
    )
    return quiet, text


BUSY_WARNING = (
    f"WARNING: the machine is busy (other processes keep more than {BUSY_MAX} core busy, or,"
    f" without /proc/stat, the load average exceeds {LOAD_MAX}): these figures are unusable."
    " Threads waiting for a core held by another process distort the times (issue 16: two"
    " BLAS or torch threads waiting on each other made W4 7-17x slower). Rerun on a quiet"
    " machine."
)


# -- the report --------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _header(blas: OneBlasThread, warmed: dict, seconds: float) -> None:
    import jaxlib
    import llvmlite
    import numba
    import scipy

    import backproplab

    print(
        f"python {platform.python_version()}, {os.cpu_count()} cpus ({platform.machine()},"
        f" {_cpu_model()})"
    )
    print(
        f"backproplab {backproplab.__version__}, numpy {np.__version__}, scipy "
        f"{scipy.__version__}, numba {numba.__version__}, llvmlite {llvmlite.__version__}, "
        f"torch {torch.__version__}, jax {jax.__version__}, jaxlib {jaxlib.__version__}, "
        f"threadpoolctl {threadpoolctl.__version__}"
    )
    print(
        f"numerics: {NUMERICS['profile']} (requested {NUMERICS['requested']}): numpy's "
        f"{NUMERICS['blas']} with its {NUMERICS['blas_kernel']} kernels, numpy dispatch "
        f"{', '.join(NUMERICS['numpy_dispatch']) or 'baseline only'}"
    )
    if NUMERICS["profile"] == "native" and NUMERICS["inherited"]:
        pins = ", ".join(f"{k}={v}" for k, v in NUMERICS["inherited"].items())
        print(f"  native keeps what the environment asks: {pins} (unset it for this CPU's own)")
    print(f"threads: engine and loop: BLAS {blas.describe()}")
    build = " ".join(filter(None, [numba.config.CPU_NAME or "host", numba.config.CPU_FEATURES]))
    print(
        f"  compiled: {numba.get_num_threads()} numba threads (of NUMBA_NUM_THREADS "
        f"{numba.config.NUMBA_NUM_THREADS}), threading layer {numba.threading_layer()}, "
        f"built for {build}; warm() {seconds:.1f} s, "
        + ("compiled the kernel" if warmed["cache_misses"] else "kernel from numba's cache")
    )
    print(f"  torch: {torch.get_num_threads()} threads (interop {torch.get_num_interop_threads()})")
    print(
        f"  jax: devices {jax.devices()}, x64 {jax.config.jax_enable_x64}, "
        f"XLA_FLAGS={os.environ.get('XLA_FLAGS', '-')!r} (XLA: its own thread pool)"
    )
    env = (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_CORETYPE",
        "NPY_DISABLE_CPU_FEATURES",
        "NUMBA_NUM_THREADS",
        "NUMBA_THREADING_LAYER",
    )
    print("  env " + ", ".join(f"{k}={os.environ.get(k, '-')}" for k in env))


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    import numba

    if not 1 <= args.compiled_threads <= numba.config.NUMBA_NUM_THREADS:
        parser.error(
            f"--compiled-threads must be 1 to {numba.config.NUMBA_NUM_THREADS} (NUMBA_NUM_THREADS)"
        )
    if args.torch_threads < 1:
        parser.error("--torch-threads must be at least 1")
    torch.set_num_threads(args.torch_threads)
    selected = {s.strip().upper() for s in args.only.split(",") if s.strip()}
    chosen = [w for w in workloads(args.scale) if not selected or workload_key(w) in selected]
    if selected - {workload_key(w) for w in chosen}:
        parser.error(
            f"--only: unknown workloads {sorted(selected - {workload_key(w) for w in chosen})}"
        )

    quiet, machine = quiet_check(1.0)  # before anything of ours runs
    numba.set_num_threads(args.compiled_threads)
    started = time.perf_counter()
    warmed = warm()
    blas = OneBlasThread()  # after the data sets and the compiled trainer loaded theirs
    _header(blas, warmed, time.perf_counter() - started)
    print(f"machine: {machine}")
    if not quiet:
        print(BUSY_WARNING)
    grads = "autograd" if args.torch_autograd else "hand-written backprop"
    print(f"scale {args.scale}, {args.repeat} rounds, {RUNS} runs per workload, torch: {grads}")
    if args.repeat < 3:
        print("NOTE: fewer than 3 rounds; do not report these numbers")
    if args.scale != 1:
        print("NOTE: the targets are for the full length (--scale 1); PASS/MISS here is a hint")
    print()

    summary = []
    busy_keys = []
    for w in chosen:
        key = workload_key(w)
        params0 = w.model.init(range(RUNS), "glorot_normal")
        impls: dict[str, Callable[[Workload, list], np.ndarray]] = {
            "engine": blas.wrap(engine_train)
        }
        if not args.skip_loop:
            impls["loop"] = blas.wrap(loop_train)
        impls["compiled"] = compiled_run
        impls["torch"] = torch_autograd_train if args.torch_autograd else torch_train
        impls["jax"] = make_jax_train(w)

        # Agreement first (this is also JAX's compile / warm-up call).
        t0 = time.perf_counter()
        finals = {name: fn(w, params0) for name, fn in impls.items()}
        compile_s = time.perf_counter() - t0
        print(f"{w.name}: {w.epochs} epochs x {RUNS} runs (check + warm-up {compile_s:.1f} s)")
        check_agreement(w, params0, impls, finals)

        w_quiet, w_machine = quiet_check(0.5)
        print(f"  machine before timing: {w_machine}")
        if not w_quiet:
            print("  WARNING: busy machine; the figures of this workload are unusable")
            busy_keys.append(key)
        both = time_alternately(impls, w, params0, args.repeat)
        med = {name: t for name, (t, _) in both.items()}
        med_cpu = {name: c for name, (_, c) in both.items()}
        work = RUNS * w.epochs
        print(
            f"  {'impl':9s} {'wall s':>10s} {'cpu s':>10s} {'cpu/wall':>9s} {'run-epochs/s':>14s}"
        )
        for name, t in med.items():
            c = med_cpu[name]
            print(f"  {name:9s} {t:10.4f} {c:10.4f} {c / t:9.2f} {work / t:14,.0f}")
        ratios = {}
        for num, den, maxima in TARGETS:
            r, r_cpu = med[num] / med[den], med_cpu[num] / med_cpu[den]
            ratios[f"{num}/{den}"] = (r, maxima[key])
            print(
                f"  {num + '/' + den:15s} wall {r:6.2f}  (cpu {r_cpu:6.2f})  target <= "
                f"{maxima[key]:g}  {_verdict(r <= maxima[key])}"
            )
        if "loop" in med:
            r, r_cpu = med["loop"] / med["engine"], med_cpu["loop"] / med_cpu["engine"]
            print(
                f"  {'loop/engine':15s} wall {r:6.2f}  (cpu {r_cpu:6.2f})  target >= "
                f"{LOOP_MIN[key]:g}  {_verdict(r >= LOOP_MIN[key])}"
            )
        print()
        summary.append((key, ratios))

    names = [f"{num}/{den}" for num, den, _ in TARGETS]
    print("summary: wall-time ratios (target) per workload")
    print(f"  {'':8s}" + "".join(f" {n:>22s}" for n in names))
    met = total = 0
    for key, ratios in summary:
        cells = []
        for n in names:
            r, limit = ratios[n]
            met, total = met + (r <= limit), total + 1
            cells.append(f"{r:6.2f} (<= {limit:g}) {_verdict(r <= limit)}")
        mark = "  busy machine: unusable" if key in busy_keys else ""
        print(f"  {key:8s}" + "".join(f" {c:>22s}" for c in cells) + mark)
    print(f"  targets met: {met} of {total}")
    notes = []
    if len(summary) < len(WORKLOADS):
        notes.append("not all four workloads run")
    if args.scale != 1:
        notes.append(f"scale {args.scale}, not the full length")
    if args.repeat < 3:
        notes.append(f"{args.repeat} round{'s' if args.repeat != 1 else ''}, fewer than 3")
    if notes:
        print(f"  not a report of the targets: {'; '.join(notes)}")
    if not quiet or busy_keys:
        print(BUSY_WARNING)


if __name__ == "__main__":
    main()
