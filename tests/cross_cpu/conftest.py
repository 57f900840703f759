"""The ``crosscpu`` marker's opt-in. Tests marked ``crosscpu`` replay config/test.yaml
under qemu-x86_64 as other CPUs (minutes of emulation, qemu-user installed): they run
only when asked for, ``pytest -m crosscpu tests/cross_cpu``, and are skipped otherwise."""

import pytest


def pytest_collection_modifyitems(config, items):
    if "crosscpu" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="emulates other CPUs with qemu-user; run: pytest -m crosscpu")
    for item in items:
        if item.get_closest_marker("crosscpu"):
            item.add_marker(skip)
