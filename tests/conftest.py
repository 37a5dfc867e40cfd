"""Shared pytest fixtures; area-specific fixtures live in the plugin modules below."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

pytest_plugins: list[str] = ["fixtures_pki", "fixtures_circuit", "fixtures_portal",
                              "fixtures_archive"]

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


class ProcessMarker:
    """A unique environment variable for the processes a test starts: every process they
    start inherits it (LibreOffice workers too), so that any of them still running can be
    found in ``/proc``."""

    NAME = "CTGDOCS_TEST_MARKER"

    def __init__(self) -> None:
        self.value = uuid.uuid4().hex
        self.env = {**os.environ, self.NAME: self.value}
        """``os.environ`` (PYTHONPATH included) with the marker."""

    def alive(self) -> list[str]:
        """``"<pid> <command>"`` of each marked process still running (not a zombie)."""
        tag = f"{self.NAME}={self.value}".encode()
        found = []
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                if tag not in (proc / "environ").read_bytes().split(b"\0"):
                    continue
                state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
                command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except (OSError, IndexError):
                continue  # gone meanwhile, or another user's
            if state not in ("Z", "X"):
                found.append(f"{proc.name} {command[:120]}")
        return found


@pytest.fixture
def marker() -> ProcessMarker:
    """Marks the processes a test starts (see :class:`ProcessMarker`)."""
    return ProcessMarker()
