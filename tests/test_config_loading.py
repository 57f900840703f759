"""Loading a config: the strict safe loader, number kinds, names, and --configfile.

Every bad input fails before any job with the file and line (what YAML says) or the key
path (what the schema says); the bad-config corpus (tests/bad_configs/47-79) has one file
per case, and these tests the loader's other cases and the properties that hold for every
key of the schema.
"""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from backproplab import config as cfg
from backproplab.__main__ import main
from backproplab.config import ConfigError, format_path, load, load_configfiles, validate

ROOT = Path(__file__).resolve().parents[1]
CORPUS = Path(__file__).parent / "bad_configs"
SHIPPED = sorted((ROOT / "config").glob("*.yaml"))


def _write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -- the loader ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("experiments:\n  no: {}\n", r"line 2: the key 'no' is read as False \(bool\)"),
        ("experiments:\n  1: {}\n", r"line 2: the key '1' is read as 1 \(int\)"),
        ("experiments: {a: {epochs: 1:30}}\n", r"1:30 is read by YAML 1\.1 as a base-60 number"),
        ("experiments: {a: {lr: 1:30.5}}\n", r"1:30\.5 is read by YAML 1\.1 as a base-60"),
        ("- experiments\n", r"expected keys at the top level \(a mapping\), got a list"),
        ("just text\n", r"expected keys at the top level \(a mapping\), got 'just text'"),
        ("experiments: {a: 1}\n---\nexperiments: {b: 1}\n", r"not valid YAML: expected a single"),
        ("experiments: !!python/name:os.system\n", r"not valid YAML: could not determine"),
    ],
)
def test_yaml_that_would_be_resolved_silently_is_refused(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message):
        load(_write(tmp_path, text))


def test_an_alias_bomb_is_refused_in_linear_time(tmp_path):
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):  # 10**9 values once expanded
        prev, name = "abcdefghij"[i - 1], "abcdefghij"[i]
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 10)}]")
    lines.append("experiments: {x: *i}")
    with pytest.raises(ConfigError, match=r"its aliases expand to more than 1,000,000 values"):
        load(_write(tmp_path, "\n".join(lines) + "\n"))


def test_aliases_of_whole_values_are_fine(tmp_path):
    data = load(_write(tmp_path, "x: &s [2, 4, 1]\nexperiments: {a: {sizes: *s}, b: {s: *s}}\n"))
    assert data["experiments"]["a"]["sizes"] == [2, 4, 1] == data["experiments"]["b"]["s"]


def test_json_configs_are_read_as_snakemake_reads_them(tmp_path):
    """JSON first (so 1e-3 is a number, as Snakemake reads it), with duplicate keys refused."""
    path = _write(tmp_path, json.dumps({"experiments": {"a": {"lr": 1e-3}}}), "c.json")
    assert load(path) == {"experiments": {"a": {"lr": 1e-3}}}
    dup = _write(tmp_path, '{"experiments": {"a": 1,\n "a": 2}}', "d.json")
    with pytest.raises(ConfigError, match=r"duplicate key 'a' at line 2 \(first at line 1\)"):
        load(dup)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        load(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("experiments: {caf\xe9: 1}\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        load(bad)


def test_a_misspelt_experiments_key_is_left_to_the_schema(tmp_path):
    data = load(_write(tmp_path, "experiment: {}\n"))
    with pytest.raises(ConfigError, match=r"unknown key 'experiment' \(did you mean"):
        validate(data)
    with pytest.raises(ConfigError, match="defines no experiments"):
        load(_write(tmp_path, "datasets: {}\nblock_size: 3\n"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_configs_load_as_snakemake_loads_them(path):
    from snakemake.common.configfile import load_configfile

    theirs = load_configfile(path)
    assert load_configfiles([path], theirs) == theirs


# -- several files, --config, and Snakemake's reading -------------------------------------


def test_config_files_merge_as_snakemake_merges_them(tmp_path):
    a = _write(tmp_path, "datasets: {d: {generator: xor}}\nblock_size: 3\n", "a.yaml")
    b = _write(tmp_path, "experiments: {e: {dataset: d}}\nblock_size: 4\n", "b.yaml")
    snakemake = {
        "datasets": {"d": {"generator": "xor"}},
        "block_size": 5,
        "experiments": {"e": {"dataset": "d"}},
    }
    merged = load_configfiles([a, b], snakemake, {"block_size": 5})
    assert merged == snakemake
    with pytest.raises(ConfigError, match=r"config files \S+a\.yaml, \S+ define no experiments"):
        load_configfiles([a, a], {})


def test_what_snakemake_read_differently_is_refused(tmp_path):
    path = _write(tmp_path, "experiments: {e: {seeds: [1, 2]}}\n")
    with pytest.raises(ConfigError, match=r"^experiments\.e\.seeds\[1\]: Snakemake read"):
        load_configfiles([path], {"experiments": {"e": {"seeds": [1, 2.0]}}})
    with pytest.raises(ConfigError, match=r"^experiments\.f: Snakemake read"):
        load_configfiles([path], {"experiments": {"e": {"seeds": [1, 2]}, "f": {}}})


def test_without_config_files_snakemakes_config_is_validated_as_it_is():
    assert load_configfiles([], {"block_size": 3}) == {"block_size": 3}


# -- number kinds, for every integer of a validated config --------------------------------


def _integers(value, path):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _integers(item, [*path, key])
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _integers(item, [*path, i])
    elif isinstance(value, int) and not isinstance(value, bool):
        yield path, value


def _set(config, path, value):
    node = config
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def test_every_integer_refuses_a_whole_float(test_config):
    """Each integer of config/test.yaml with its defaults filled in, one at a time."""
    full = validate(test_config)
    cases = list(_integers(full, []))
    assert len(cases) > 60
    for path, value in cases:
        if path[-1] in ("mean", "std", "low", "high"):  # numbers, written as integers
            continue
        broken = copy.deepcopy(full)
        _set(broken, path, float(value))
        expected = f"{format_path(path)}: expected an integer, got the float {float(value)!r}"
        with pytest.raises(ConfigError) as info:
            validate(broken)
        assert str(info.value) == f"{expected}; write {value}", path


def _nodes(node, root, seen=()):
    """Every schema node reachable from ``node`` (each $def once)."""
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            if name not in seen:
                yield from _nodes(root["$defs"][name], root, (*seen, name))
            return
        yield node
        for value in node.values():
            yield from _nodes(value, root, seen)
    elif isinstance(node, list):
        for item in node:
            yield from _nodes(item, root, seen)


def test_every_pattern_matches_the_whole_string():
    schema = cfg.schema()
    patterns = [n["pattern"] for n in _nodes(schema, schema) if isinstance(n.get("pattern"), str)]
    assert len(set(patterns)) >= 3
    for pattern in set(patterns):
        assert pattern.startswith("^") and pattern.endswith("\\Z"), pattern
        assert not re.search(pattern, "a\n") and not re.search(pattern, "1.5\n"), pattern


def test_every_string_is_bounded():
    schema = cfg.schema()
    for node in _nodes(schema, schema):
        if node.get("type") == "string" and "enum" not in node:
            assert "maxLength" in node, node


def test_every_seed_is_bounded_by_what_its_generator_takes():
    """RandomState and scikit-learn take seeds below 2**32; SeedSequence any, but seeds are
    stored as 64-bit integers."""
    schema = cfg.schema()
    seeds = []
    for node in _nodes(schema, schema):
        for key, sub in node.get("properties", {}).items():
            if "seed" in key or key == "random_state":
                sub = cfg._resolve(sub, schema)
                if key == "seeds" and sub.get("type") == "integer":
                    continue  # validation.seeds: how many seeds, not a seed
                items = [sub.get("items", sub), *sub.get("oneOf", [])]
                for item in (cfg._resolve(i, schema) for i in items):
                    if item.get("type") == "integer":
                        seeds.append((key, item.get("maximum")))
    assert {k for k, _ in seeds} >= {"seed", "seeds", "random_state", "split_seed", "random_seed"}
    assert all(m is not None and m < 2**63 for _, m in seeds), seeds


def test_the_wildcard_constraints_refuse_a_trailing_newline(root):
    common = (root / "workflow" / "rules" / "common.smk").read_text()
    block = common[common.index("wildcard_constraints:") :].split("\n\n")[0]
    constraints = dict(re.findall(r'(\w+)=r"([^"]+)"', block))
    assert {"dataset", "experiment", "block"} <= set(constraints)
    for name, regex in constraints.items():
        assert not re.fullmatch(regex, "encoder\n"), name


# -- python -m backproplab check: the safe mode ------------------------------------------


def test_check_reads_a_yte_config_without_evaluating_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    text = (
        "__use_yte__: true\n"
        "experiments:\n"
        "  ?__import__('pathlib').Path('ran').write_text('yes'):\n"
        "    dataset: moons\n"
    )
    path = _write(tmp_path, text)
    assert main(["check", str(path)]) == 1
    assert "yte templating is not supported" in capsys.readouterr().err
    assert not (tmp_path / "ran").exists()


def test_check_accepts_the_test_config(capsys):
    assert main(["check", str(ROOT / "config" / "test.yaml")]) == 0
    assert capsys.readouterr().out.startswith("ok: 3 experiments")


# -- through Snakemake ---------------------------------------------------------------------

YTE = (
    "__use_yte__: true\n"
    "datasets:\n"
    "  moons: {generator: moons, n_samples: 40}\n"
    "experiments:\n"
    "  ?__import__('pathlib').Path('yte_ran').write_text('the expression ran'):\n"
    "    dataset: moons\n"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("66_duplicate_key", None),
        ("73_empty_mapping", None),
        ("yte", r"invalid config: config file \S+yte\.yaml: yte templating is not supported"),
        # Snakemake reads these itself, before the Snakefile runs: its message, not ours
        ("72_empty_file", r"Config file must be given as JSON or YAML with keys at top level"),
        ("71_merge_key_misused", r"Config file is not valid JSON or YAML"),
    ],
)
def test_snakemake_refuses_what_the_loader_refuses(name, message, tmp_path, copy_workflow):
    """``snakemake -n --configfile``: a non-zero exit, the message, no results/, and no
    default config run instead. A yte expression has run by then: Snakemake evaluates it
    while reading --configfile, before the Snakefile (see the README's "Trust model")."""
    copy_workflow(tmp_path, ("Snakefile", "workflow", "config"))
    if name == "yte":
        config = _write(tmp_path, YTE, "yte.yaml")
    else:
        config = CORPUS / f"{name}.yaml"
        message = message or config.read_text().splitlines()[0].removeprefix("# expect: ")
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--cores", "1", "--configfile", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert re.search(message.rstrip("$"), output), output
    assert "Job stats" not in output and "localrule" not in output, output
    assert not (tmp_path / "results").exists()
    # Not a protection: the expression ran while Snakemake read the file.
    assert (tmp_path / "yte_ran").exists() == (name == "yte")
