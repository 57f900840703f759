"""What a training job asks a scheduler for: memory and wall time, estimated per block.

Parse-time code (workflow/rules/common.smk calls it for every training job of a dry run),
so it computes from the plan alone: no data set is generated, a user's file is read once.

Training runs on one core by design (one BLAS thread, so that results never depend on
the machine); its memory and wall time grow with the block. The estimates were checked
against blocks of 1 to 1,000 runs (spiral, digits, online updates, with and without
per-sample state) on a shared 2-core machine: the requests were 1.5 to 2.2 times the
memory and at least 3 times the wall time the jobs used. A job that still runs out is
retried with its request times the attempt (profiles/slurm sets ``retries``).
"""

from __future__ import annotations

import itertools
import math

from ..datasets import GENERATORS, dataset_info
from ..experiments import Plan, state_values_per_run

__all__ = ["MIN_MEM_MB", "MIN_RUNTIME_MINUTES", "Resources"]

MIN_MEM_MB = 1000
MIN_RUNTIME_MINUTES = 10


class Resources:
    """The resource requests of every training block of one plan.

    Parameters
    ----------
    plan : Plan
        The validated config's plan (``experiments.plan``).
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self._samples: dict[str, int] = {}
        self._load: dict[tuple[str, str], tuple[float, float]] = {}

    def n_train_samples(self, dataset: str) -> int:
        """Training samples of a data set (a user's file is read once, not once per job)."""
        if dataset not in self._samples:
            spec = self.plan.config["datasets"][dataset]
            self._samples[dataset] = dataset_info(spec, f"datasets.{dataset}").n_train
        return self._samples[dataset]

    def load(self, experiment: str, block: str) -> tuple[float, float]:
        """(seconds, bytes) that training one block is expected to need.

        Time: a start-up, a cost per mini-batch step (Python overhead, shared by the
        block's runs), a cost per run and epoch that grows with samples x (weights + 40
        units) (matrix products, then element-wise activations), and one per state row
        written. Memory: about 600 MB for the job's Snakemake processes and the script's
        interpreter and libraries; then, with a margin of half, the per-sample work arrays
        and metric history of every run, and the largest batch of state rows in flight
        (one tensor of one layer for every run).
        """
        key = (experiment, block)
        if key not in self._load:
            self._load[key] = self._estimate(experiment, block)
        return self._load[key]

    def _estimate(self, experiment: str, block: str) -> tuple[float, float]:
        exp = self.plan.experiments[experiment]
        blk = exp.block(block)
        variant = exp.variant(blk.variant)
        sizes, train, trace = variant.model.sizes, variant.train, exp.trace
        runs, epochs, n = len(blk.runs), train.epochs, self.n_train_samples(exp.dataset)
        # Test samples are evaluated at every record too. A data set without a test split
        # is counted as if a quarter were held out (its requests were measured so, a
        # third above its n), never through a test_fraction its generator does not read.
        spec = self.plan.config["datasets"][exp.dataset]
        held_out = spec["test_fraction"] if GENERATORS[spec["generator"]].splits else 0.25
        n_all = n / (1 - held_out)
        units = sum(sizes[1:])
        weights = sum((i + 1) * o for i, o in itertools.pairwise(sizes))
        batch = train.batch_size
        steps = epochs * (1 if batch is None else math.ceil(n / batch))
        records = len(trace.schedule(epochs).metrics)
        state_rows = runs * state_values_per_run(exp, variant, n)
        seconds = (
            30
            + 5e-4 * steps
            + runs * epochs * (5e-5 + 1e-9 * n_all * (weights + 40 * units))
            + 2e-7 * state_rows
        )
        widths = [i * o for i, o in itertools.pairwise(sizes)]
        if {"z", "a"} & set(trace.state):
            widths += [n * o for o in sizes[1:]]
        working = 8 * runs * (5 * n_all * units + 8 * weights + 8 * records)
        in_flight = 60 * runs * max(widths)
        return seconds, 6e8 + 1.5 * (working + in_flight)

    def mem_mb(self, experiment: str, block: str, attempt: int = 1) -> int:
        """A training job's memory (MB): its estimate, at least 1,000, times the attempt."""
        _, needed = self.load(experiment, block)
        return max(MIN_MEM_MB, 100 * math.ceil(needed / 1e8)) * attempt

    def runtime(self, experiment: str, block: str, attempt: int = 1) -> int:
        """A training job's wall time (minutes): twice its estimate, at least 10, times
        the attempt."""
        seconds, _ = self.load(experiment, block)
        return max(MIN_RUNTIME_MINUTES, math.ceil(2 * seconds / 60)) * attempt
