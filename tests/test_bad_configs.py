"""The bad-config corpus: each file in tests/bad_configs/ fails validation before any
job runs, with the message on its first line (``# expect: <regex>``), naming the key."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from backproplab.config import ConfigError, load, validate
from backproplab.experiments import plan
from backproplab.figures import catalog

CORPUS = Path(__file__).parent / "bad_configs"
FILES = sorted(CORPUS.glob("*.yaml"))


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), path
    return first.removeprefix("# expect: ")


def test_the_corpus_is_large_enough():
    assert len(FILES) >= 110  # the README says "over 110"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_bad_config_is_refused_with_its_message(path, monkeypatch):
    monkeypatch.chdir(CORPUS)  # data/*.csv paths are relative to the working directory
    with pytest.raises(ConfigError) as info:  # as the Snakefile (and `check`) does
        catalog.check(plan(validate(load(path))))
    assert re.search(_expected(path), str(info.value)), str(info.value)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        "02_misspelt_learning_rates",
        "18_input_size_mismatch",
        "34_nan_in_csv",
        "38_too_many_runs",
        "95_gradient_flow_epoch_not_recorded",
        "107_too_much_compute",
        "116_long_header_is_capped",
    ],
)
def test_snakemake_stops_before_any_job_and_writes_nothing(name, tmp_path, copy_workflow):
    """Through the command line: a non-zero exit, the message, and no results/ at all."""
    copy_workflow(tmp_path, ("Snakefile", "workflow"))
    (tmp_path / "data").mkdir()
    for csv in (CORPUS / "data").iterdir():
        (tmp_path / "data" / csv.name).write_bytes(csv.read_bytes())
    config = CORPUS / f"{name}.yaml"
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "--cores", "1", "--configfile", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode != 0
    output = proc.stdout + proc.stderr
    assert re.search(_expected(config), output, re.MULTILINE), output  # $: end of line
    assert "invalid config" in output
    assert not (tmp_path / "results").exists()
