"""Shared fixtures: the repository's paths and validated configs."""

from pathlib import Path

import pytest

from backproplab import config as cfg

ROOT = Path(__file__).resolve().parents[1]


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
