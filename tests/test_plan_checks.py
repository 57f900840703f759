"""Checks at plan time that go beyond one key: options that nothing would read, selections
against the recording schedule, run ids unique by construction, budgets counted in O(1),
user data files (their errors, their provenance, and as inputs of the dataset rule), and
the published tables against the examples they are compared with.

The bad configs of each class are in tests/bad_configs/ (80 to 119); these tests check
what one file cannot: speed, the default config's totals, the spelling of ids, the data
set's provenance and a real Snakemake rerun."""

import copy
import hashlib
import json
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from backproplab import config as cfg
from backproplab import datasets
from backproplab.config import ConfigError
from backproplab.experiments import format_number, plan, run_epoch_samples
from backproplab.figures import catalog
from backproplab.training.plan import Resources

TINY = {
    "datasets": {"moons": {"generator": "moons", "n_samples": 40}},
    "experiments": {
        "tiny": {
            "dataset": "moons",
            "model": {"sizes": [2, 4, 1], "activations": ["tanh", "sigmoid"], "loss": "bce"},
            "train": {"epochs": 5},
            "seeds": [0, 1],
            "learning_rates": [0.1],
        }
    },
}


def _tiny(**changes) -> dict:
    config = copy.deepcopy(TINY)
    config["experiments"]["tiny"].update(changes)
    return config


def _plan(config):
    result = plan(cfg.validate(config))
    catalog.check(result)
    return result


# -- run ids and variant names -----------------------------------------------------------


def test_numbers_keep_their_short_spelling_and_never_share_one():
    for value in (0.2, 5.0, 10.0, 0.05, 1e-05, 1e6, 0.25, 1000.0, 0.015):
        assert format_number(value) == f"{value:g}"
    assert format_number(0.2000001) == "0.2000001"
    values = [0.2, 0.2000001, 0.20000000000000004, 1e-06, 1e6, 1234567.0, 1234568.0]
    assert len({format_number(v) for v in values}) == len(values)
    for value in values:
        assert float(format_number(value)) == value


def test_close_learning_rates_get_their_own_run_ids():
    result = _plan(_tiny(learning_rates=[0.2, 0.2000001]))
    ids = [r.run_id for r in result.runs]
    assert len(set(ids)) == len(ids) == 4
    assert "tiny/base/lr=0.2/seed=0" in ids and "tiny/base/lr=0.2000001/seed=0" in ids


def test_grid_values_with_exponents_of_either_sign_get_their_own_names():
    result = _plan(_tiny(train={"epochs": 5, "clip": [1.0e-6, 1.0e6]}))
    names = [v.name for v in result.experiments["tiny"].variants]
    assert names == ["clip-1e_06", "clip-1e06"]


def test_colliding_variant_names_name_both_values():
    with pytest.raises(ConfigError, match=r"'clip-1' \(train\.clip: 1; and train\.clip: 1\.0\)"):
        _plan(_tiny(train={"epochs": 5, "clip": [1, 1.0]}))


# -- budgets --------------------------------------------------------------------------------


def test_runs_are_counted_before_any_variant_is_built():
    """A grid of 8 x 10**10 variants fails the run budget at once (never expanded)."""
    model = dict(TINY["experiments"]["tiny"]["model"])
    model["init"] = [{"name": "normal", "std": 0.1 * (i + 1)} for i in range(100)]
    model["bias_init"] = ["zeros", "like_weights"]
    train = {
        "epochs": list(range(1, 101)),
        "momentum": [i / 200 for i in range(100)],
        "clip": [None] + [0.5 * (i + 1) for i in range(99)],
        "diverge_factor": [float(i + 2) for i in range(100)],
        "shuffle": [True, False],
        "batch_size": [None, 10],
    }
    start = time.perf_counter()
    with pytest.raises(
        ConfigError, match=r"limits\.max_runs: the config defines 160,000,000,000 runs"
    ):
        plan(cfg.validate(_tiny(model=model, train=train)))
    assert time.perf_counter() - start < 2


def test_an_astronomical_run_is_estimated_in_constant_time():
    """10**12 epochs with state at every epoch: each budget is counted, never listed."""
    config = _tiny(train={"epochs": 10**12}, trace={"state_every": 1, "norms_every": 1})
    config["experiments"]["tiny"]["figures"] = {
        "decision_boundary": {"epoch": 10**11},
        "gradient_flow": {"epoch": 10**11 + 1},
        "ulp_fanout": {"marks": [10**11], "nudges": 2},
    }
    start = time.perf_counter()
    with pytest.raises(
        ConfigError, match=r"limits\.max_state_values: .* about 34,000,000,000,034 state"
    ):
        _plan(config)
    config["limits"] = {"max_state_values": 10**18}
    with pytest.raises(ConfigError, match=r"limits\.max_run_epoch_samples: the runs would train"):
        _plan(config)
    config["limits"]["max_run_epoch_samples"] = 10**18
    result = _plan(config)  # every figure selection checked against the schedule
    resources = Resources(result)
    for block in result.experiments["tiny"].blocks:
        assert resources.runtime("tiny", block.name) > 10**6
    assert time.perf_counter() - start < 2


def test_the_default_config_passes_the_compute_budget_with_a_wide_margin(default_config):
    result = plan(cfg.validate(default_config))
    total = sum(run_epoch_samples(result).values())
    limit = result.config["limits"]["max_run_epoch_samples"]
    assert total == 148_481_000  # config/README.md states it
    assert total * 100 < limit


# -- options and selections (what one bad config cannot show) ------------------------------


def test_every_generator_option_is_read_by_some_generator():
    """The schema's data-set keys are exactly the generators' options (and generator)."""
    keys = set(cfg.schema()["$defs"]["dataset"]["properties"]) - {"generator"}
    assert keys == {o for g in datasets.GENERATORS.values() for o in g.options}


def test_an_option_of_the_chosen_generator_is_accepted():
    config = _tiny()
    config["datasets"]["moons"].update(noise=0.1, test_fraction=0.5, split_seed=3)
    assert _plan(config).config["datasets"]["moons"]["test_fraction"] == 0.5


def test_explicit_init_without_weights_names_the_init():
    model = dict(TINY["experiments"]["tiny"]["model"], init={"name": "explicit"})
    with pytest.raises(ConfigError, match=r"^experiments\.tiny\.model\.init: init explicit needs"):
        _plan(_tiny(model=model))


def test_shuffle_is_accepted_where_some_variant_uses_mini_batches():
    result = _plan(_tiny(train={"epochs": 5, "shuffle": False, "batch_size": [None, 10]}))
    assert len(result.experiments["tiny"].variants) == 2


def test_the_diagram_limit_is_the_drawings():
    from backproplab.figures import network

    assert catalog.MAX_DIAGRAM_UNITS == network._MAX_UNITS


# -- published tables --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("sizes", [3, 4, 1], r"seed001\.sizes: \[3, 4, 1\] does not fit the spiral notebook"),
        ("sizes", [2], r"seed001\.sizes: \[2\] does not fit"),
        ("weight_norms", ["5.5906"], r"seed001\.weight_norms: 1 numbers for a network of 3"),
    ],
)
def test_seed001_tables_fit_its_network(key, value, message):
    config = _tiny()
    config["validation"] = {"references": {"seed001": {key: value}}}
    with pytest.raises(ConfigError, match=message):
        cfg.validate(config)


def test_band_nudges_fit_the_weights_they_nudge():
    config = _tiny()
    seed001 = {"sizes": [2, 2, 1], "weight_norms": ["1.0", "1.0"], "gradient_norms": ["1.0"] * 2}
    config["validation"] = {"band_nudges": 16, "references": {"seed001": seed001}}
    with pytest.raises(ConfigError, match=r"validation\.band_nudges: 16 one-ulp replays, but"):
        cfg.validate(config)


def test_seed003_needs_a_second_hidden_layer():
    config = _tiny()
    config["validation"] = {"references": {"seed003": {"weights": [[[0.1, 0.2], [0.3, 0.4]]]}}}
    with pytest.raises(ConfigError, match=r"seed003\.weights: 1 layer\(s\)"):
        cfg.validate(config)


def test_ragged_published_matrices_are_refused():
    config = _tiny()
    config["validation"] = {"references": {"mazur": {"weights": [[[0.1, 0.2], [0.3]]] * 2}}}
    with pytest.raises(ConfigError, match=r"mazur\.weights: expected 2 x 2 x 2 .* unequal"):
        cfg.validate(config)


# -- data files -------------------------------------------------------------------------------


def _file_config(path, **spec) -> dict:
    config = _tiny()
    config["datasets"] = {
        "mine": {"generator": "file", "path": str(path), "features": ["a", "b"], "label": "y"}
        | spec
    }
    config["experiments"]["tiny"]["dataset"] = "mine"
    return config


def test_a_huge_first_line_is_not_echoed(tmp_path):
    path = tmp_path / "wide.csv"
    path.write_text("a,b," + "x" * 10_000_000 + "\n1,2,3\n")
    with pytest.raises(ConfigError) as info:
        _plan(_file_config(path))
    message = str(info.value)
    assert "has no column(s) ['y']" in message and len(message) < 300 + len(str(path))


def test_a_long_column_name_is_quoted_cut(tmp_path):
    path = tmp_path / "long.csv"
    name = "c" * 200
    path.write_text(f"a,{name},y\n1,x,0\n2,y,1\n")
    with pytest.raises(ConfigError) as info:
        _plan(_file_config(path, features=["a", name]))
    assert "... (200 characters)" in str(info.value)
    assert name not in str(info.value)


def test_a_file_data_set_records_its_source(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("a,b,y\n0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,1\n0.7,0.1,0\n")
    spec = cfg.validate(_file_config(path))["datasets"]["mine"]
    out = tmp_path / "mine.parquet"
    datasets.make(spec, out)
    meta = pq.read_schema(out).metadata
    source = json.loads(meta[b"backproplab.source"])
    assert source == datasets.source_digest(spec)
    assert source["bytes"] == path.stat().st_size and len(source["sha256"]) == 64
    first = json.loads(meta[b"backproplab.provenance"])["config_hash"]
    path.write_text("a,b,y\n0.1,0.2,1\n0.3,0.4,1\n0.5,0.6,1\n0.7,0.1,0\n")
    datasets.make(spec, out)
    meta = pq.read_schema(out).metadata
    assert json.loads(meta[b"backproplab.provenance"])["config_hash"] != first
    # A generated data set records no source: its hash is its spec's, as before.
    moons = cfg.validate(_tiny())["datasets"]["moons"]
    assert datasets.source_digest(moons) is None


@pytest.mark.slow
def test_editing_a_user_csv_reruns_its_data_set_and_what_follows(tmp_path, copy_workflow):
    """Through Snakemake: the CSV is an input of the dataset rule, so editing it reruns
    the data set and the training that reads it, and the new content's hash is recorded."""
    copy_workflow(tmp_path, ("Snakefile", "workflow"))
    (tmp_path / "data").mkdir()
    csv = tmp_path / "data" / "points.csv"
    csv.write_text("a,b,y\n0.1,0.2,0\n0.3,0.4,1\n0.5,0.6,1\n0.7,0.1,0\n")
    config = _file_config("data/points.csv")
    config["experiments"]["tiny"]["figures"] = {}
    (tmp_path / "mine.yaml").write_text(json.dumps(config))
    targets = ["results/datasets/mine.parquet", "results/traces/tiny/runs/base-c0.parquet"]

    def snakemake(*args):
        cmd = [sys.executable, "-m", "snakemake", *targets, *args, "--cores", "1"]
        proc = subprocess.run(
            [*cmd, "--configfile", "mine.yaml"], cwd=tmp_path, capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr
        return proc.stdout + proc.stderr

    snakemake()
    assert "Nothing to be done" in snakemake("-n")
    time.sleep(1.1)  # a later modification time, whatever the file system's resolution
    csv.write_text("a,b,y\n0.1,0.2,1\n0.3,0.4,1\n0.5,0.6,1\n0.7,0.1,0\n")
    planned = snakemake("-n")
    assert "rule dataset:" in planned and "rule train:" in planned, planned
    snakemake()
    meta = pq.read_schema(tmp_path / "results" / "datasets" / "mine.parquet").metadata
    source = json.loads(meta[b"backproplab.source"])
    assert source["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
    assert "Nothing to be done" in snakemake("-n")
