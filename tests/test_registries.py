"""Each extension point is one registry, and the config schema names exactly its entries.

A new activation, loss, initialiser, generator or figure kind is registered in one place;
the schema's enums (and the figures' properties) are the other copy, which users see in
error messages. These tests keep the two equal, in the same order, so that a name added
to one and not the other fails here rather than in a user's config.
"""

import inspect
import re

import numpy as np
import pytest
import yaml

from backproplab import config, datasets
from backproplab.engine import (
    ACTIVATION_NAMES,
    INIT_SCHEMES,
    LOSS_NAMES,
    RANDOM_INIT_SCHEMES,
    RNG_MODES,
    activations,
    initializers,
)
from backproplab.figures.catalog import KINDS

# Dataset keys every generator has; all others belong to some generator.
COMMON_DATASET_KEYS = {"generator"}


@pytest.fixture(scope="module")
def schema():
    with open(config.SCHEMA_PATH) as f:
        return yaml.safe_load(f)


@pytest.fixture(scope="module")
def defs(schema):
    return schema["$defs"]


def _resolve(node, defs):
    while "$ref" in node:
        node = defs[node["$ref"].removeprefix("#/$defs/")]
    return node


def _enum(node, defs) -> list:
    """The enum a schema node allows, through any ``$ref``."""
    return _resolve(node, defs)["enum"]


def _forms(defs, name):
    """A definition's two forms: a bare name, and a mapping with its parameters."""
    bare, mapping = defs[name]["oneOf"]
    assert _resolve(mapping, defs)["type"] == "object"
    return bare, _resolve(mapping, defs)


def test_activations_are_the_schemas_both_as_a_name_and_as_a_mapping(defs):
    bare, mapping = _forms(defs, "activation")
    assert _enum(bare, defs) == list(ACTIVATION_NAMES)
    assert _enum(mapping["properties"]["name"], defs) == list(ACTIVATION_NAMES)


def test_activation_mappings_allow_exactly_the_activations_parameters(defs):
    _, mapping = _forms(defs, "activation")
    taken = set().union(*(activations._parameters(c) for c in activations._REGISTRY.values()))
    assert set(mapping["properties"]) - {"name"} == taken


def test_losses_are_the_schemas(defs):
    assert _enum(defs["loss"], defs) == list(LOSS_NAMES)


def test_initialisers_are_the_schemas_random_ones_by_name_all_in_a_mapping(defs):
    bare, mapping = _forms(defs, "init")
    assert _enum(bare, defs) == list(RANDOM_INIT_SCHEMES)
    assert _enum(mapping["properties"]["name"], defs) == list(INIT_SCHEMES)
    assert set(INIT_SCHEMES) - set(RANDOM_INIT_SCHEMES) == {"explicit"}


def test_initialiser_mappings_allow_exactly_the_schemes_parameters(defs):
    _, mapping = _forms(defs, "init")
    taken = set().union(*(rule.parameters for rule in initializers._SCHEMES.values()))
    assert set(mapping["properties"]) - {"name"} == taken


def test_rng_modes_are_the_schemas_for_data_sets_and_experiments(defs):
    assert _enum(defs["dataset"]["properties"]["rng"], defs) == list(RNG_MODES)
    assert _enum(defs["experiment"]["properties"]["rng"], defs) == list(RNG_MODES)


def test_generators_are_the_schemas(defs):
    generator = defs["dataset"]["properties"]["generator"]
    assert _enum(generator, defs) == list(datasets.GENERATORS)
    assert all(name == g.name for name, g in datasets.GENERATORS.items())


def test_figure_kinds_are_the_schemas(defs):
    figures = defs["figures"]
    assert figures["additionalProperties"] is False  # so its properties are the kinds
    assert list(figures["properties"]) == list(KINDS)


# -- generator options ------------------------------------------------------------------


def test_every_dataset_key_is_common_or_read_by_a_generator(defs):
    keys = set(defs["dataset"]["properties"])
    read = set().union(*(g.options for g in datasets.GENERATORS.values()))
    assert COMMON_DATASET_KEYS <= keys
    assert read == keys - COMMON_DATASET_KEYS


@pytest.mark.parametrize("name", list(datasets.GENERATORS))
def test_a_generators_options_are_its_functions_parameters(name):
    g = datasets.GENERATORS[name]
    assert g.options == tuple(inspect.signature(g.function).parameters)


def test_the_schema_says_which_generators_read_each_key(defs):
    """A key's description starts with the generators that read it ("moons, digits and
    file; the share of ..."): they are the generators that declare it."""
    documented, declared = {}, {}
    for key, node in defs["dataset"]["properties"].items():
        if key in COMMON_DATASET_KEYS:
            continue
        words = set(re.findall(r"\w+", node["description"].split(";")[0]))
        documented[key] = sorted(words & set(datasets.GENERATORS))
        declared[key] = sorted(g.name for g in datasets.GENERATORS.values() if key in g.options)
    assert documented == declared


class _Recording(dict):
    """A data-set spec that remembers which keys were read."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)


def _defaulted(schema, spec: dict) -> _Recording:
    spec = dict(spec)
    config.apply_defaults(spec, schema["$defs"]["dataset"], schema)
    return _Recording(spec)


@pytest.fixture
def spec_of(schema, tmp_path):
    """``spec_of(name)``: a schema-defaulted spec of generator ``name`` (a small CSV for
    ``file``)."""
    csv = tmp_path / "points.csv"
    rows = [f"{i % 3},{i / 7},{i % 2}" for i in range(12)]
    csv.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    extra = {"file": {"path": str(csv), "features": ["a", "b"]}}

    def spec_of(name: str) -> _Recording:
        return _defaulted(schema, {"generator": name, **extra.get(name, {})})

    return spec_of


@pytest.mark.parametrize("name", list(datasets.GENERATORS))
def test_a_generator_reads_exactly_its_options(name, spec_of):
    spec = spec_of(name)
    datasets.generate(spec)
    datasets.dataset_info(spec)
    assert spec.read == {"generator", *datasets.GENERATORS[name].options}


@pytest.mark.parametrize("name", list(datasets.GENERATORS))
def test_a_generators_info_describes_what_it_generates(name, spec_of):
    spec = spec_of(name)
    info = datasets.dataset_info(spec)
    ds = datasets.generate(spec)
    assert (info.n_features, info.n_targets) == (ds.X.shape[1], ds.Y.shape[1])
    assert info.n_train == (ds.split == "train").sum()
    assert datasets.has_test_split(spec) == (ds.split == "test").any()
    if info.kind == "binary":
        assert ds.Y.shape[1] == 1 and np.isin(ds.Y, (0.0, 1.0)).all()
    elif info.kind == "multiclass":
        assert ds.Y.shape[1] >= 2 and (ds.Y.sum(axis=1) == 1).all()
    else:
        assert info.kind == "regression"
