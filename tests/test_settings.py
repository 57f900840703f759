"""backproplab.settings: one owner per key, tied to the schema, the engine and the traces."""

import copy
import inspect
import itertools

import pandas as pd
import pyarrow as pa
import pytest
import yaml

from backproplab import config as cfg
from backproplab import datasets, engine, traces
from backproplab.experiments import plan as _plan
from backproplab.settings import TENSORS, Model, Trace, Train
from backproplab.training.job import train_block

TRACES_SCHEMA = cfg.SCHEMA_PATH.parent / "traces.schema.yaml"


def plan(config):
    return _plan(cfg.validate(config))


@pytest.mark.parametrize(("section", "settings"), [("model", Model), ("train", Train)])
def test_every_schema_key_has_one_settings_field(section, settings):
    schema_keys = set(cfg.schema()["$defs"][section]["properties"])
    assert set(settings.keys()) == schema_keys


def test_trace_settings_cover_the_schemas_trace_keys():
    schema_keys = set(cfg.schema()["$defs"]["trace"]["properties"])
    assert {f for f in Trace.__dataclass_fields__} == schema_keys
    state = cfg.schema()["$defs"]["trace"]["properties"]["state"]["items"]["enum"]
    assert tuple(state) == TENSORS


def test_engine_args_are_arguments_of_the_engines_train():
    parameters = inspect.signature(engine.train).parameters
    args = Train.from_mapping(cfg.defaults_of("train")).engine_args()
    assert set(args) <= set(parameters)


def _settings(test_config):
    variants = [v for e in plan(test_config).experiments.values() for v in e.variants]
    return [(v.model, v.train) for v in variants]


def test_settings_round_trip_through_config_data_and_the_run_table(test_config):
    for model, tr in _settings(test_config):
        assert Model.from_mapping(model.as_dict()) == model
        assert Train.from_mapping(tr.as_dict()) == tr
        table = pa.table({**model.columns(2), **tr.columns(2)})
        for row in (table.to_pylist()[1], table.to_pandas().iloc[1]):
            assert Model.from_row(row) == model
            assert Train.from_row(row) == tr


def test_a_null_setting_is_a_typed_null_column(test_config):
    tr = plan(test_config).experiments["encoder"].variants[0].train
    columns = tr.columns(3)
    assert tr.batch_size is None and tr.clip is None
    assert columns["batch_size"].type == pa.int64() and columns["batch_size"].null_count == 3
    assert columns["clip"].type == pa.float64() and columns["clip"].null_count == 3


def test_from_mapping_names_unknown_and_missing_keys():
    values = cfg.defaults_of("train")
    with pytest.raises(KeyError, match=r"unknown keys \['lr'\]"):
        Train.from_mapping({**values, "lr": 0.1})
    del values["epochs"]
    with pytest.raises(KeyError, match=r"missing keys \['epochs'\]"):
        Train.from_mapping(values)


def _reference(every, epochs, extra):
    """The recorded epochs, by enumeration."""
    regular = set(range(0, epochs, every)) if every else {0}
    return sorted(regular | {e for e in extra if e <= epochs} | {epochs})


@pytest.mark.parametrize(
    ("every", "epochs", "extra"),
    list(
        itertools.product([None, 1, 3, 10], [1, 9, 10, 11, 30], [(), (0,), (5, 10, 40), (7, 7, 9)])
    ),
)
def test_schedule_counts_and_tests_epochs_as_enumerating_them_does(every, epochs, extra):
    trace = Trace(1, ("W", "dW"), every, extra, every)
    s = trace.schedule(epochs)
    expected = _reference(every, epochs, extra)
    assert s.state.as_list() == expected
    assert len(s.state) == len(expected)
    assert [e for e in range(-1, epochs + 3) if e in s.state] == expected
    assert s.epochs_with("dW") == expected
    assert s.epochs_with("z") == []
    assert s.tensors_at(epochs) == ["W", "b", "dW"]
    assert len(s.metrics) == len(_reference(1, epochs, ()))
    sizes, n = (2, 3, 1), 5
    per_epoch = 2 * (2 * 3 + 3 * 1)  # W and dW
    endpoints = 2 * (3 + 1)  # b at the first and the last epoch
    assert s.state_values(sizes, n) == len(expected) * per_epoch + endpoints


def test_a_schedule_of_a_trillion_epochs_is_counted_without_enumerating():
    s = Trace(1, ("W", "b"), 1, (5,), 10).schedule(10**12)
    assert len(s.state) == 10**12 + 1
    assert len(s.norms) == 10**11 + 1
    assert 10**12 - 1 in s.state and 10**12 + 1 not in s.state
    assert s.state_values((2, 1), 100) == (10**12 + 1) * 3


def test_variants_are_labelled_by_what_varies(test_config):
    config = copy.deepcopy(test_config)
    config["experiments"]["encoder"]["model"]["activations"] = [
        ["tanh", "sigmoid"],
        [{"name": "leaky_relu", "slope": 0.1}, "sigmoid"],
    ]
    exp = plan(config).experiments["encoder"]
    labels, title = exp.legend()
    assert labels["act-tanh.sigmoid__loss-half_sse"] == "tanh-sigmoid, half_sse"
    assert labels["act-leaky_relu-0p1.sigmoid__loss-mse"] == "leaky_relu(0.1)-sigmoid, mse"
    assert title == "activations, loss"
    moons = plan(test_config).experiments["moons"]
    assert moons.legend() == (
        {
            "literal": "literal: init normal(-1, 1), bias init like_weights, clip 1",
            "sound": "sound: init he_normal, bias init zeros, clip none",
        },
        "variant",
    )
    assert plan(test_config).experiments["mazur"].legend() == (
        {"base": "sigmoid-sigmoid, half_sse"},
        "activations, loss",
    )


def test_named_variants_read_in_words_unless_the_config_labels_them(default_config):
    """Legends and tables never show internal names (option1, base): a named variant
    reads as its name in words and the settings in which it differs from the other named
    variants (seed 000's "Option 1"); a config label wins; an experiment has one too."""
    compare = plan(default_config).experiments["encoder_compare"]
    assert compare.legend() == (
        {
            "option1": "option 1: sigmoid output, half summed squared error",
            "option2": "option 2: softmax output, cross-entropy",
        },
        "variant",
    )
    assert compare.label == "encoder compare (seed 000)"
    config = copy.deepcopy(default_config)
    spec = config["experiments"]["encoder_compare"]
    spec["label"] = "seed 000's two options"
    spec["variants"]["option2"]["label"] = "Option 2"
    spec["model"]["loss"] = ["half_sse", "mse"]  # a grid inside each named variant
    spec["variants"]["option2"]["model"].pop("loss")
    exp = plan(config).experiments["encoder_compare"]
    labels, title = exp.legend()
    assert exp.label == "seed 000's two options"
    assert labels["option1__loss-mse"] == "option 1: sigmoid output; mse"
    assert labels["option2__loss-half_sse"] == "Option 2; half_sse"
    assert len(set(labels.values())) == len(labels)
    assert title == "variant, loss"
    schema = yaml.safe_load(cfg.SCHEMA_PATH.read_text())
    for where in ("experiment", "variant_overrides"):
        label = schema["$defs"][where]["properties"]["label"]
        assert label["default"] == "" and "table" in label["description"]


def test_the_run_table_holds_every_setting_in_the_documented_order(test_config, tmp_path):
    p = plan(test_config)
    spec = p.block_spec("mazur", "base-c0")
    ds = tmp_path / "mazur.parquet"
    datasets.write_parquet(datasets.generate(spec["dataset_spec"]), ds, spec["dataset_spec"])
    out = {t: tmp_path / f"{t}.parquet" for t in ("runs", "metrics", "state", "norms")}
    train_block(spec, ds, out)
    runs = traces.read_table(out["runs"]).to_pandas()
    documented = list(yaml.safe_load(TRACES_SCHEMA.read_text())["$defs"]["runs"]["columns"])
    settings = [
        *Model.from_mapping(spec["model"]).columns(1),
        *Train.from_mapping(spec["train"]).columns(1),
    ]
    at = documented.index("<setting>")
    expected = documented[:at] + settings + documented[at + 1 : documented.index("final_loss")]
    assert list(runs.columns[: len(expected)]) == expected
    assert all(c.startswith("final_") for c in runs.columns[len(expected) :])
    assert Train.from_row(runs.iloc[0]) == Train.from_mapping(spec["train"])
    assert isinstance(runs, pd.DataFrame)
