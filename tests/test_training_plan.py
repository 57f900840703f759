"""The training jobs' resource requests (backproplab.training.plan), computed from the plan
alone: the floor for small blocks, more for more runs, epochs, state or samples, and the
attempt's multiple on a retry. (tests/cluster/test_resources.py checks the same through
Snakemake's dry run.)"""

import copy

import pytest

from backproplab import config as cfg
from backproplab.experiments import plan
from backproplab.training.plan import MIN_MEM_MB, MIN_RUNTIME_MINUTES, Resources


def _resources(config: dict) -> Resources:
    return Resources(plan(cfg.validate(config)))


def _largest(res: Resources, experiment: str) -> tuple[int, int]:
    blocks = [b.name for b in res.plan.experiments[experiment].blocks]
    return (
        max(res.mem_mb(experiment, b) for b in blocks),
        max(res.runtime(experiment, b) for b in blocks),
    )


@pytest.fixture
def big(test_config):
    """The test config's encoder, 512 runs per variant, 20,000 epochs, state every 10."""
    config = copy.deepcopy(test_config)
    config["experiments"] = {"encoder": config["experiments"]["encoder"]}
    config["block_size"] = 512
    config["limits"] = {"max_runs": 2000, "max_state_values": 10**9}
    exp = config["experiments"]["encoder"]
    exp["seeds"] = list(range(256))  # x 2 learning rates
    exp["train"]["epochs"] = 20000
    exp["trace"]["state_every"] = 10
    return config


def test_small_blocks_ask_for_the_floor(test_config):
    res = _resources(test_config)
    for name, exp in res.plan.experiments.items():
        for block in exp.blocks:
            assert res.mem_mb(name, block.name) == MIN_MEM_MB
            assert res.runtime(name, block.name) == MIN_RUNTIME_MINUTES


def test_more_epochs_state_or_runs_ask_for_more(big):
    mem, runtime = _largest(_resources(big), "encoder")
    assert mem > MIN_MEM_MB and runtime > MIN_RUNTIME_MINUTES
    fewer_epochs = copy.deepcopy(big)
    fewer_epochs["experiments"]["encoder"]["train"]["epochs"] = 10000
    mem_e, runtime_e = _largest(_resources(fewer_epochs), "encoder")
    assert mem_e < mem and runtime_e < runtime
    less_state = copy.deepcopy(big)
    less_state["experiments"]["encoder"]["trace"]["state"] = ["W", "b"]
    assert _largest(_resources(less_state), "encoder")[1] < runtime
    smaller_blocks = copy.deepcopy(big)
    smaller_blocks["block_size"] = 64
    res = _resources(smaller_blocks)
    assert len(res.plan.experiments["encoder"].blocks) == 2 * 512 // 64
    mem_b, runtime_b = _largest(res, "encoder")
    assert mem_b < mem and runtime_b < runtime


def test_a_retry_asks_for_the_attempts_multiple(big):
    res = _resources(big)
    block = res.plan.experiments["encoder"].blocks[0].name
    assert res.mem_mb("encoder", block, attempt=2) == 2 * res.mem_mb("encoder", block)
    assert res.runtime("encoder", block, attempt=3) == 3 * res.runtime("encoder", block)


def test_requests_round_the_estimate_up(big):
    """Wall time: twice the estimate, in whole minutes; memory: whole 100 MB steps."""
    res = _resources(big)
    block = res.plan.experiments["encoder"].blocks[0].name
    seconds, needed = res.load("encoder", block)
    assert needed > 6e8  # the interpreter and libraries, then the block's arrays
    assert res.runtime("encoder", block) == max(MIN_RUNTIME_MINUTES, -(-2 * seconds // 60))
    assert res.mem_mb("encoder", block) == max(MIN_MEM_MB, 100 * -(-needed // 1e8))
    assert res.load("encoder", block) is res.load("encoder", block)  # estimated once


def test_the_stage_package_leaves_the_engines_train_alone():
    """``backproplab.training`` (the stage) must not shadow ``backproplab.train`` (the
    engine's function), as a subpackage named ``train`` would once imported."""
    import backproplab as bpl
    import backproplab.training.job  # noqa: F401

    assert callable(bpl.train) and bpl.train.__module__ == "backproplab.engine.train"
