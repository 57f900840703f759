"""The run table: variants, runs and blocks from a config, and the meaning checks."""

import copy

import pytest

from backproplab.config import ConfigError, validate
from backproplab.experiments import plan


def _plan(config):
    return plan(validate(config))


def test_grid_expansion_and_run_ids(test_config):
    p = _plan(test_config)
    enc = p.experiments["encoder"]
    # loss: [half_sse, mse] is a list -> two variants; 2 seeds x 2 learning rates each.
    assert [v.name for v in enc.variants] == ["loss-half_sse", "loss-mse"]
    assert len(enc.runs) == 8
    assert enc.runs[0].run_id == "encoder/loss-half_sse/lr=0.2/seed=0"
    assert enc.variants[0].model.init == {"name": "normal", "mean": 0, "std": 1}
    assert enc.variants[0].train.batch_size is None  # schema default
    moons = p.experiments["moons"]
    assert [v.name for v in moons.variants] == ["literal", "sound"]
    assert moons.variant("literal").train.clip == 1.0
    assert moons.variant("sound").train.clip is None
    assert moons.variant("sound").train.batch_size == 10  # shared train settings


def test_sizes_and_activations_lists_of_lists_make_a_grid(test_config):
    config = copy.deepcopy(test_config)
    model = config["experiments"]["encoder"]["model"]
    model["sizes"] = [[8, 3, 8], [8, 4, 8]]
    model["activations"] = [["sigmoid", "sigmoid"], ["tanh", "sigmoid"]]
    names = [v.name for v in _plan(config).experiments["encoder"].variants]
    assert len(names) == 8 == len(set(names))
    assert "sizes-8.4.8__act-tanh.sigmoid__loss-mse" in names


def test_blocks_are_seed_major_and_appending_a_seed_only_grows_the_last(test_config):
    config = copy.deepcopy(test_config)
    config["block_size"] = 3
    before = _plan(config).experiments["encoder"]
    config["experiments"]["encoder"]["seeds"].append(7)
    after = _plan(config).experiments["encoder"]
    b0 = [b for b in before.blocks if b.variant == "loss-mse"]
    b1 = [b for b in after.blocks if b.variant == "loss-mse"]
    assert [len(b.runs) for b in b0] == [3, 1]
    assert [len(b.runs) for b in b1] == [3, 3]
    assert b0[0] == b1[0]  # the first block is untouched: its job does not rerun
    assert [r.seed for r in b1[1].runs] == [1, 7, 7]


def test_block_spec_is_plain_data(test_config):
    import json

    p = _plan(test_config)
    spec = p.block_spec("mazur", "base-c0")
    assert json.loads(json.dumps(spec)) == spec
    assert spec["train"]["update_biases"] is False
    # The job computes the recorded epochs from the spec's trace settings.
    schedule = p.experiments["mazur"].trace.schedule(spec["train"]["epochs"])
    assert schedule.epochs_with("W") == [0, 1, 10]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda c: c["experiments"]["moons"].update(dataset="nope"),
            r"experiments\.moons\.dataset: no data set named 'nope'",
        ),
        (
            lambda c: c["experiments"]["moons"]["model"].update(sizes=[3, 8, 1]),
            r"experiments\.moons\.variants\.literal\.model\.sizes: the input layer has 3 units "
            r"but data set 'moons' has 2 features",
        ),
        (
            lambda c: c["experiments"]["encoder"]["model"].update(sizes=[8, 3, 7]),
            r"experiments\.encoder\.model\.sizes: the output layer has 7 units but data set "
            r"'encoder8' has 8 target columns",
        ),
        (
            lambda c: c["experiments"]["encoder"]["model"].update(loss="bce"),
            r"experiments\.encoder\.model\.loss: bce treats each output as its own yes/no",
        ),
        (
            lambda c: c["experiments"]["moons"]["model"].update(
                sizes=[2, 8, 2], activations=["tanh", "softmax"], loss="cross_entropy"
            ),
            r"experiments\.moons\.variants\.literal\.model\.sizes: the output layer has 2",
        ),
        (
            lambda c: c["experiments"]["moons"]["model"].update(
                activations=["tanh", "softmax"], loss="cross_entropy"
            ),
            r"a softmax output needs at least 2 units",
        ),
        (
            lambda c: c["experiments"]["moons"]["model"].update(activations=["softmax", "sigmoid"]),
            r"softmax is only valid on the output layer",
        ),
        (
            lambda c: (
                c["experiments"]["moons"]["model"].update(
                    loss="half_sse", activations=["tanh", "tanh"]
                )
                or c["experiments"]["moons"].update(metrics=["bce"])
            ),
            r"experiments\.moons\.metrics\[0\]: 'bce' needs a 'sigmoid' output",
        ),
        (
            lambda c: c["experiments"]["mazur"].update(legacy_replay_dataset=True),
            r"experiments\.mazur\.legacy_replay_dataset: only applies with rng: numpy_legacy",
        ),
        (
            lambda c: c["experiments"]["mazur"]["model"]["init"].update(
                weights=[[[0.1, 0.2]], [[0.4, 0.5], [0.4, 0.5]]]
            ),
            r"experiments\.mazur\.model\.init: explicit init weights\[0\] has shape \(1, 2\), "
            r"expected \(2, 2\)",
        ),
        (
            lambda c: c["limits"].update(max_runs=5),
            r"limits\.max_runs: the config defines 13 runs \(encoder: 8, moons: 4, mazur: 1\), "
            r"more than the budget of 5",
        ),
        (
            lambda c: c["limits"].update(max_state_values=1000),
            r"limits\.max_state_values: the traces would hold about [0-9,]+ state values",
        ),
    ],
)
def test_meaning_errors_name_the_key_path(test_config, edit, message):
    config = copy.deepcopy(test_config)
    edit(config)
    with pytest.raises(ConfigError, match=message):
        _plan(config)
