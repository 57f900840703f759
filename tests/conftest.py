"""Shared fixtures: the repository's paths and validated configs."""

# The pipeline's default numerics profile, applied before numpy loads, so that numbers
# computed in this process are the bits the pipeline's jobs compute (backproplab.numerics).
from backproplab import numerics

numerics.apply("canonical")

import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

from backproplab import config as cfg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# Markers whose tests run only when selected (`pytest -m cluster tests/cluster`): they
# need root, apt and minutes of daemons, emulation or a browser. .ci/run selects each.
OPT_IN = {
    "cluster": "starts a real SLURM (root, apt); run: pytest -m cluster",
    "crosscpu": "emulates other CPUs with qemu-user; run: pytest -m crosscpu",
    "browser": "opens the report in headless Chromium (apt); run: pytest -m browser",
}


def pytest_collection_modifyitems(config, items):
    selected = config.getoption("markexpr") or ""
    for marker, reason in OPT_IN.items():
        if marker in selected:
            continue
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if item.get_closest_marker(marker):
                item.add_marker(skip)


WORKFLOW_FILES = ("Snakefile", "workflow", "config", "profiles")


def _copy_workflow(dest: Path, items=WORKFLOW_FILES) -> Path:
    """Copy the workflow's files into ``dest`` (Snakemake then writes only there)."""
    for item in items:
        src = ROOT / item
        if src.is_dir():
            shutil.copytree(src, dest / item)
        else:
            shutil.copy(src, dest / item)
    return dest


@pytest.fixture(scope="session")
def copy_workflow():
    """``copy_workflow(dest, items=WORKFLOW_FILES)``: a scratch copy of the workflow."""
    return _copy_workflow


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture
def test_config() -> dict:
    """config/test.yaml as plain data (not yet validated)."""
    return cfg.load(ROOT / "config" / "test.yaml")


@pytest.fixture
def default_config() -> dict:
    return cfg.load(ROOT / "config" / "config.yaml")
