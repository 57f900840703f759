"""Nothing unsafe is loaded: no pickle, configs parsed as data, names constrained."""

import re

import pytest

from backproplab.config import ConfigError, validate

SOURCES = ["src", "workflow", "benchmarks"]


def _files(root):
    for folder in SOURCES:
        for path in (root / folder).rglob("*"):
            if path.suffix in {".py", ".smk"} or path.name == "Snakefile":
                yield path
    yield root / "Snakefile"


def test_no_pickle_and_no_unsafe_yaml(root):
    offenders = []
    for path in _files(root):
        text = path.read_text()
        for pattern in (
            r"\bimport pickle\b",
            r"\bpickle\.",
            r"read_pickle",
            r"allow_pickle=True",
            r"yaml\.load\(",
            r"yaml\.unsafe_load",
            r"\beval\(",
            r"\bexec\(",
        ):
            if re.search(pattern, text):
                offenders.append(f"{path.relative_to(root)}: {pattern}")
        for call in re.finditer(r"np\.load\(([^)]*)\)", text):
            if "allow_pickle=False" not in call.group(1):
                offenders.append(f"{path.relative_to(root)}: np.load without allow_pickle=False")
    assert not offenders, offenders


def test_wildcards_are_constrained(root):
    common = (root / "workflow" / "rules" / "common.smk").read_text()
    block = common[common.index("wildcard_constraints:") :]
    for wildcard in ("dataset", "experiment", "block"):
        assert re.search(rf"{wildcard}=r\"\[A-Za-z0-9", block), wildcard


@pytest.mark.parametrize("name", ["..", "a/b", "../../etc", "x y", "_hidden", ""])
def test_names_that_are_not_plain_words_are_refused(test_config, name):
    config = dict(test_config)
    config["experiments"] = {name: test_config["experiments"]["moons"]}
    with pytest.raises(ConfigError, match="is not a valid name"):
        validate(config)


def test_yaml_tags_are_not_executed(tmp_path):
    from backproplab.config import load

    path = tmp_path / "evil.yaml"
    path.write_text("experiments: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load(path)
