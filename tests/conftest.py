"""Shared pytest fixtures; area-specific fixtures live in the plugin modules below."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# `ctg build` starts a build server after building; tests that want one say so
# (tests/test_server.py), the others must leave no process behind.
os.environ["CTGDOCS_SERVER"] = "off"

pytest_plugins: list[str] = ["fixtures_pki", "fixtures_circuit", "fixtures_portal"]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def root() -> Path:
    """The repository root."""
    return ROOT


@pytest.fixture(scope="session")
def resources() -> Path:
    """``tests/resources``."""
    return ROOT / "tests" / "resources"


@pytest.fixture
def outdir(tmp_path: Path) -> Path:
    """An empty output folder for one test."""
    out = tmp_path / "out"
    out.mkdir()
    return out
