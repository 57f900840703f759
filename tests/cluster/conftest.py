"""A scratch copy of the workflow. Tests marked ``cluster`` start a real SLURM on this
machine (root, apt, daemons): they run only when asked for, ``pytest -m cluster
tests/cluster`` (the opt-in is in tests/conftest.py), and are skipped otherwise."""

import pytest


@pytest.fixture(scope="module")
def workflow_copy(tmp_path_factory, copy_workflow):
    """The workflow's files in a scratch directory (Snakemake writes .snakemake/ there)."""
    return copy_workflow(tmp_path_factory.mktemp("workflow"))
