"""The cost of trace recording, as a share of training time.

Run by hand (never in CI)::

    python benchmarks/trace.py                 # both blocks at full length, 3 rounds
    python benchmarks/trace.py --scale 0.1     # a tenth of the epochs, for a quick look
    python benchmarks/trace.py --profile       # then cProfile one recorded run per block

Two training blocks of 25 runs (seeds 0-24), the models, data, learning rates and
initialiser of ``benchmarks/engine.py``'s W2 and W3, written as a config and planned by
the package (``experiments.plan``), so that each block's spec is exactly what the
workflow hands its training job:

- ``W2 spiral``: 2-16-8-1 tanh/tanh/sigmoid, bce, lr 0.5, 1,000 epochs, 400 samples;
- ``W3 moons``: 2-16-16-1 leaky_relu (slope 0.05)/sigmoid, bce, lr 0.25, 2,000 epochs,
  150 training and 50 test samples.

Each block is trained three ways, alternately, ``--repeat`` rounds, in this one process
and with one BLAS thread (as the pipeline pins it), all three with the engine of
``--engine`` (the config's ``engine`` key: ``compiled``, the default, the compiled trainer
on one thread as a pipeline job runs it; ``numpy``, the NumPy engine):

- ``(a) train``: that engine's ``train`` on the same data and initial parameters with
  ``metrics_every=epochs``: no recording beyond the final loss;
- ``(m) + metrics``: the same with the loss, accuracy and the test split's loss and
  accuracy every epoch, as the pipeline records them, but no trace hook and no files:
  the metrics' share of (b), for attribution only;
- ``(b) pipeline``: ``train_job.train_block``, the function the workflow's train job
  calls, with a trace config of metrics every epoch, the state table every 10 epochs
  (by default W and b, the config's default; ``--state all`` records every tensor the
  schema allows, W, b, dW, db, z, a, where z and a hold a value per sample and unit and
  dominate), and norms every 10 epochs: reading the data set's Parquet file, training
  with the recorder hook, and writing the four Parquet trace tables (runs, metrics,
  state, norms) through
  ``traces.TraceWriter``, into a temporary directory, deleted after each round.

The final losses of (a) and of (b)'s run table are checked to be identical first. Printed:
the median wall time of each, the overhead ``(b - a) / a`` against the target (trace
recording <= 10% of training time), the same from the process's CPU time (``cpu b/a``:
``(b - a) / a`` of the median CPU seconds, less sensitive to other work on a shared
machine), and the bytes written per run-epoch (per table and in all). ``--profile`` then
runs (b) once per block under cProfile and prints the functions with the most own time
and the most cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import pstats
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import threadpoolctl

import backproplab as bpl
from backproplab import config as cfg
from backproplab import datasets
from backproplab.experiments import canonical_json, plan
from backproplab.settings import Model
from backproplab.training import job as train_job
from backproplab.training.trainer import train_with

RUNS = 25
TABLES = ("runs", "metrics", "state", "norms")
TARGET = 0.10
TRACE = {  # what the pipeline records in (b); --state chooses the tensors
    "metrics_every": 1,
    "state": ["W", "b"],
    "state_every": 10,
    "norms_every": 10,
}
ALL_TENSORS = ["W", "b", "dW", "db", "z", "a"]
LEAKY = {"name": "leaky_relu", "slope": 0.05}
BLOCKS = {  # engine.py's W2 and W3 as experiments; name -> (data set, model, lr, epochs)
    "W2_spiral": (
        "spiral",
        {"sizes": [2, 16, 8, 1], "activations": ["tanh", "tanh", "sigmoid"], "loss": "bce"},
        0.5,
        1_000,
    ),
    "W3_moons": (
        "moons",
        {"sizes": [2, 16, 16, 1], "activations": [LEAKY, LEAKY, "sigmoid"], "loss": "bce"},
        0.25,
        2_000,
    ),
}
DATASETS = {
    "spiral": {"generator": "spiral", "seed": 0, "n_samples": 200, "noise": 0.3},
    "moons": {"generator": "moons", "n_samples": 200, "noise": 0.2, "random_state": 0},
}


def block_specs(scale: float, trace: dict, engine: str) -> dict[str, dict]:
    """Each block's spec, as ``Plan.block_spec`` builds it for the workflow."""
    config = {
        "engine": engine,
        "limits": {"max_runs": 1000, "max_state_values": 500_000_000},
        "datasets": DATASETS,
        "experiments": {
            name: {
                "dataset": dataset,
                "model": {**model, "init": "glorot_normal"},
                "train": {"epochs": max(10, int(epochs * scale))},
                "seeds": list(range(RUNS)),
                "learning_rates": [lr],
                "trace": trace,
            }
            for name, (dataset, model, lr, epochs) in BLOCKS.items()
        },
    }
    p = plan(cfg.validate(config))
    specs = {}
    for name, exp in p.experiments.items():
        (block,) = exp.blocks
        # The workflow passes the spec as canonical JSON (the job's params).
        specs[name] = json.loads(canonical_json(p.block_spec(name, block.name)))
    return specs


class Block:
    """One block: its data set file, data and initial parameters, and the three ways."""

    def __init__(self, name: str, spec: dict, workdir: Path):
        self.name, self.spec = name, spec
        self.dir = workdir / name
        self.dataset = self.dir / "dataset.parquet"
        datasets.make(spec["dataset_spec"], self.dataset)
        ds = datasets.read_parquet(self.dataset)
        self.X, self.Y = ds.part("train")
        self.eval_sets = {"test": ds.part("test")} if (ds.split == "test").any() else {}
        self.mlp = Model.from_mapping(spec["model"]).mlp()
        self.params = train_job.initial_params(spec)
        tr = spec["train"]
        self.epochs = tr["epochs"]
        self.kwargs = {
            "lr": [r["lr"] for r in spec["runs"]],
            "epochs": tr["epochs"],
            "optimizer": bpl.GradientDescent(tr["momentum"], tr["clip"], tr["update_biases"]),
            "batch_size": tr["batch_size"],
            "shuffle": tr["shuffle"],
            "seeds": [r["seed"] for r in spec["runs"]],
            "diverge_above": tr["diverge_above"],
            "diverge_factor": tr["diverge_factor"],
        }
        self.out = {t: self.dir / "traces" / t / "c0.parquet" for t in TABLES}
        # (a) and (m) train with the engine (b)'s job uses: the config's engine key.
        self.train = train_with(spec["engine"])

    def train_only(self) -> np.ndarray:
        """(a): the final loss only."""
        with threadpoolctl.threadpool_limits(1):
            result = self.train(
                self.mlp, self.params, self.X, self.Y, metrics_every=self.epochs, **self.kwargs
            )
        return result.history["loss"][:, -1]

    def with_metrics(self) -> None:
        """(m): metrics every epoch, the test split included; no hook, no files."""
        with threadpoolctl.threadpool_limits(1):
            self.train(
                self.mlp,
                self.params,
                self.X,
                self.Y,
                metrics=self.spec["metrics"],
                eval_sets=self.eval_sets,
                metrics_every=self.spec["trace"]["metrics_every"],
                **self.kwargs,
            )

    def pipeline(self) -> None:
        """(b): the workflow's train job, minus Snakemake and the interpreter start-up."""
        train_job.train_block(self.spec, self.dataset, self.out)

    def written(self) -> dict[str, int]:
        return {t: path.stat().st_size for t, path in self.out.items()}

    def clear(self) -> None:
        shutil.rmtree(self.dir / "traces", ignore_errors=True)


def profile(block: Block, top: int) -> None:
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    block.pipeline()
    prof.disable()
    elapsed = time.perf_counter() - started
    block.clear()
    print(f"\n== cProfile of (b) on {block.name}: {elapsed:.1f} s under the profiler")
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        stats = pstats.Stats(prof, stream=text).strip_dirs().sort_stats(order)
        stats.print_stats(top)
        lines = text.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"-- top {top} by {order}")
        print("\n".join(lines[start:]).rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the epochs")
    parser.add_argument("--repeat", type=int, default=3, help="timed rounds (median)")
    parser.add_argument("--profile", action="store_true", help="then cProfile (b) per block")
    parser.add_argument("--top", type=int, default=25, help="rows per cProfile listing")
    parser.add_argument(
        "--engine",
        choices=("compiled", "numpy"),
        default="compiled",
        help="the config's engine: the trainer of (a), (m) and (b) (default: compiled, "
        "one thread, as a pipeline job)",
    )
    parser.add_argument(
        "--state",
        default="W,b",
        help="tensors of the state table, comma-separated, or 'all' (default: W,b)",
    )
    args = parser.parse_args()
    state = ALL_TENSORS if args.state == "all" else args.state.split(",")
    if set(state) - set(ALL_TENSORS):
        parser.error(f"--state: expected names from {ALL_TENSORS} or 'all', got {args.state}")
    trace = {**TRACE, "state": state}
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    with tempfile.TemporaryDirectory(prefix="bpl-trace-bench-") as tmp:
        blocks = [
            Block(n, s, Path(tmp)) for n, s in block_specs(args.scale, trace, args.engine).items()
        ]
        print(
            f"{RUNS} runs per block; trace: metrics every {trace['metrics_every']}, state "
            f"{'/'.join(trace['state'])} every {trace['state_every']}, norms every "
            f"{trace['norms_every']} epochs; {args.repeat} rounds, medians\n"
        )
        print(
            f"{'block':<10s} {'epochs':>6s} {'(a) train s':>11s} {'(m) +metrics s':>14s} "
            f"{'(b) pipeline s':>14s} {'(b-a)/a':>8s} {'(m-a)/a':>8s} {'cpu b/a':>8s} "
            f"{'B/run-epoch':>12s}"
        )
        sizes = {}
        for block in blocks:
            # Warm-up and check: (a) and (b) train the same runs to the same final loss.
            final = block.train_only()
            block.pipeline()
            recorded = pq.read_table(block.out["runs"], columns=["final_loss"])
            np.testing.assert_array_equal(final, recorded["final_loss"].to_numpy())
            sizes[block.name] = block.written()
            block.clear()
            ways = {"a": block.train_only, "m": block.with_metrics, "b": block.pipeline}
            wall = {k: [] for k in ways}
            cpu = {k: [] for k in ways}
            for _ in range(args.repeat):
                for key, fn in ways.items():
                    w0, c0 = time.perf_counter(), time.process_time()
                    fn()
                    wall[key].append(time.perf_counter() - w0)
                    cpu[key].append(time.process_time() - c0)
                block.clear()
            a, m, b = (float(np.median(wall[k])) for k in ways)
            ca, _, cb = (float(np.median(cpu[k])) for k in ways)
            per = sum(sizes[block.name].values()) / (RUNS * block.epochs)
            print(
                f"{block.name:<10s} {block.epochs:6d} {a:11.2f} {m:14.2f} {b:14.2f} "
                f"{(b - a) / a:8.0%} {(m - a) / a:8.0%} {(cb - ca) / ca:8.0%} {per:12,.0f}",
                flush=True,
            )

        print("\nbytes written per run-epoch, by table (runs x epochs in the denominator)")
        print(f"{'block':<10s} " + " ".join(f"{t:>10s}" for t in TABLES) + f" {'all':>10s}")
        for block in blocks:
            s = sizes[block.name]
            per = [s[t] / (RUNS * block.epochs) for t in TABLES]
            print(
                f"{block.name:<10s} "
                + " ".join(f"{v:10,.1f}" for v in per)
                + f" {sum(per):10,.1f}   ({sum(s.values()) / 1e6:,.1f} MB per block)"
            )
        print(f"\ntarget: trace recording (b - a) / a <= {TARGET:.0%} of training time")

        if args.profile:
            for block in blocks:
                profile(block, args.top)


if __name__ == "__main__":
    main()
