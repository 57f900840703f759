"""The config schema: unknown keys and wrong types are refused with the key's path."""

import copy

import pytest

from backproplab.config import ConfigError, format_path, validate


def test_the_shipped_configs_are_valid(default_config, test_config):
    for config in (default_config, test_config):
        validated = validate(config)
        assert validated["block_size"] >= 1


def test_defaults_are_filled_in(test_config):
    validated = validate(test_config)
    trace = validated["experiments"]["moons"]["trace"]
    assert trace == {**trace, "metrics_every": 1, "state": ["W", "b"], "state_every": 100}
    assert validated["experiments"]["moons"]["rng"] == "seedsequence"
    assert validated["datasets"]["mazur"]["test_fraction"] == 0.25
    # Model and train keys are defaulted after variants are merged, not here.
    assert "init" not in validated["experiments"]["moons"]["model"]


def test_format_path():
    assert format_path(["experiments", "spiral", "seeds", 2]) == "experiments.spiral.seeds[2]"
    assert format_path([]) == "(top level)"


def _broken(config, path, value):
    config = copy.deepcopy(config)
    node = config
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    return config


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (
            ["experiments", "moons", "train", "lr"],
            0.1,
            r"experiments\.moons\.train: unknown key 'lr'",
        ),
        (
            ["experiments", "moons", "trace", "state_evry"],
            5,
            r"experiments\.moons\.trace: unknown key 'state_evry' \(did you mean 'state_every'\?\)",
        ),
        (
            ["experiments", "moons", "train", "epochs"],
            "ten",
            r"experiments\.moons\.train\.epochs: 'ten' is not valid here",
        ),
        (
            ["experiments", "moons", "seeds"],
            [1, "two"],
            r"experiments\.moons\.seeds\[1\]: 'two' is not of type 'integer'",
        ),
        (
            ["experiments", "moons", "learning_rates"],
            [0.1, -0.5],
            r"experiments\.moons\.learning_rates\[1\]: -0\.5 is less than or equal to",
        ),
        (
            ["experiments", "moons", "seeds"],
            [],
            r"experiments\.moons\.seeds: \[\] should be non-empty",
        ),
        (["experiments", "moons", "seeds"], [3, 3], r"experiments\.moons\.seeds: .*non-unique"),
        (["block_size"], 0, r"block_size: 0 is less than the minimum of 1"),
        (
            ["datasets", "moons", "generator"],
            "circles",
            r"datasets\.moons\.generator: 'circles' is not one of",
        ),
    ],
)
def test_schema_errors_name_the_key_path(test_config, path, value, message):
    with pytest.raises(ConfigError, match=message):
        validate(_broken(test_config, path, value))


def test_names_that_would_escape_results_are_refused(test_config):
    config = copy.deepcopy(test_config)
    config["experiments"]["../evil"] = config["experiments"].pop("moons")
    with pytest.raises(ConfigError, match=r"'\.\./evil' is not a valid name"):
        validate(config)
