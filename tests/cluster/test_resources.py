"""Training asks a scheduler for what its block needs (backproplab.training.plan, wired in
workflow/rules/common.smk), and a sweep of 100,000 runs is hundreds of jobs, planned in
seconds."""

import collections
import copy
import time

import pytest
import yaml
from snakemake_runs import resources, scheduled_jobs, snakemake

from backproplab import config as cfg
from backproplab.experiments import plan
from backproplab.training.plan import MIN_MEM_MB, MIN_RUNTIME_MINUTES

# The least a training job asks for.
FLOOR = (MIN_MEM_MB, MIN_RUNTIME_MINUTES)


def _train_requests(work, config: dict, name: str) -> dict[str, tuple[int, int]]:
    """(mem_mb, runtime) of every training job of ``config``, by block."""
    path = work / "config" / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    dry_run = snakemake(work, "--configfile", path, "--dry-run", "--forceall")
    requests = {}
    for job in scheduled_jobs(dry_run):
        if job["rule"] == "train":
            asked = resources(job)
            requests[job["wildcards"]] = (int(asked["mem_mb"]), int(asked["runtime"]))
    return requests


def _largest(requests: dict) -> tuple[int, int]:
    return max(m for m, _ in requests.values()), max(r for _, r in requests.values())


@pytest.fixture(scope="module")
def encoder(root):
    """config/test.yaml with only its encoder experiment (two variants, one per loss) and
    one figure (which needs no particular state)."""
    config = cfg.load(root / "config" / "test.yaml")
    config["experiments"] = {"encoder": config["experiments"]["encoder"]}
    config["experiments"]["encoder"]["figures"] = {"learning_curves": {}}
    return config


def test_small_blocks_ask_for_the_least(root, workflow_copy):
    test_config = cfg.load(root / "config" / "test.yaml")
    requests = _train_requests(workflow_copy, test_config, "small")
    assert len(requests) > 1
    assert set(requests.values()) == {FLOOR}


def test_more_runs_epochs_or_state_ask_for_more(workflow_copy, encoder):
    big = copy.deepcopy(encoder)
    big["block_size"] = 512
    big["limits"] = {"max_runs": 2000, "max_state_values": 10**9}
    exp = big["experiments"]["encoder"]
    exp["seeds"] = list(range(256))  # x 2 learning rates: 512 runs per variant
    exp["train"]["epochs"] = 20000
    exp["trace"]["state_every"] = 10
    mem, runtime = _largest(_train_requests(workflow_copy, big, "big"))
    assert mem > FLOOR[0] and runtime > FLOOR[1]

    fewer_epochs = copy.deepcopy(big)
    fewer_epochs["experiments"]["encoder"]["train"]["epochs"] = 10000
    mem_e, runtime_e = _largest(_train_requests(workflow_copy, fewer_epochs, "epochs"))
    assert mem_e < mem and runtime_e < runtime

    less_state = copy.deepcopy(big)
    less_state["experiments"]["encoder"]["trace"]["state"] = ["W", "b"]
    _, runtime_s = _largest(_train_requests(workflow_copy, less_state, "state"))
    assert runtime_s < runtime

    smaller_blocks = copy.deepcopy(big)
    smaller_blocks["block_size"] = 64
    requests = _train_requests(workflow_copy, smaller_blocks, "blocks")
    assert len(requests) == 2 * 512 // 64
    mem_b, runtime_b = _largest(requests)
    assert mem_b < mem and runtime_b < runtime


@pytest.mark.slow
def test_a_100000_run_sweep_is_hundreds_of_jobs_planned_in_seconds(root, workflow_copy):
    sweep = cfg.load(root / "config" / "sweep100k.yaml")
    assert len(plan(cfg.validate(sweep)).runs) == 100_000

    started = time.monotonic()
    dry_run = snakemake(workflow_copy, "--configfile", "config/sweep100k.yaml", "--dry-run")
    elapsed = time.monotonic() - started

    jobs = collections.Counter(job["rule"] for job in scheduled_jobs(dry_run))
    assert jobs["train"] == 392  # 4 variants x ceil(25,000 runs / 256)
    assert sum(jobs.values()) < 500, jobs
    assert elapsed < 30, f"the dry run took {elapsed:.1f} s"
