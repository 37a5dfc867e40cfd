"""Atomic writes: all or nothing, and the file mode of an ordinary file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from signers.atomic import atomic_output, atomic_write_bytes


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_new_file_gets_the_umask_mode_not_a_temporary_files(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write_bytes(tmp_path / "a.pdf", b"%PDF-1.7\n")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "a.pdf") == 0o640
    atomic_write_bytes(tmp_path / "b.pdf", b"%PDF-1.7\n")
    assert _mode(tmp_path / "b.pdf") == 0o666 & ~old


def test_replacing_keeps_the_mode_and_a_failure_keeps_the_file(tmp_path: Path) -> None:
    target = tmp_path / "signed.pdf"
    target.write_bytes(b"old")
    target.chmod(0o604)
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new" and _mode(target) == 0o604
    with pytest.raises(RuntimeError), atomic_output(target) as out:
        out.write(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["signed.pdf"]
