"""The ``cluster`` marker's opt-in, and a scratch copy of the workflow. Tests marked
``cluster`` start a real SLURM on this machine (root, apt, daemons): they run only when
asked for, ``pytest -m cluster tests/cluster``, and are skipped otherwise."""

import pytest


def pytest_collection_modifyitems(config, items):
    if "cluster" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="starts a real SLURM (root, apt); run: pytest -m cluster")
    for item in items:
        if item.get_closest_marker("cluster"):
            item.add_marker(skip)


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory, copy_workflow):
    """The workflow's files in a scratch directory (Snakemake writes .snakemake/ there)."""
    return copy_workflow(tmp_path_factory.mktemp("workflow"))
