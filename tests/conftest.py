"""Shared pytest fixtures; area-specific fixtures live in the plugin modules below."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins: list[str] = ["fixtures_pki"]

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
