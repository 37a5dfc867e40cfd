"""Hostile data files: ``ctg check`` and ``ctg build`` never print a traceback.

Each damaged, binary, mis-encoded, huge or malicious data file gets a located data error
(``file:line:col field: message`` with the fix, exit 3) or a one-line refusal (exit 3 for
data, 13 for a path that cannot be read), in bounded time and memory, and writes nothing.
The memory-heavy cases also run as real processes under an address-space limit; a
property-based test feeds mutations of the reference convention to ``ctg check``.
"""

from __future__ import annotations

import codecs
import io
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ctgdocs.cli import main
from ctgdocs.exceptions import ExitCode
from ctgdocs.load import load_convention

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
REF = REFERENCE.read_bytes()
REF_LINES = REF.decode("utf-8").splitlines()
EXAMPLE = "give the convention YAML file, e.g. examples/vallee-herault/convention.yaml"
TO_UTF8 = "save the file with UTF-8 encoding"
TOO_DEEP = ("nested more than 100 levels deep (a convention needs 6); check the brackets "
            "'[', '{' and the indentation")
NOT_MAPPING = ("the document must be a mapping of keys (id, title, territory, period, …), "
               "but {got}; see examples/vallee-herault/convention.yaml")
ADDRESS_SPACE = 3 * 2**29
"""1.5 GiB: the address space of a ``ctg`` process in the memory-heavy tests."""


def _line(prefix: str) -> int:
    """1-based number of the reference's line starting with ``prefix``."""
    return next(i for i, text in enumerate(REF_LINES, 1) if text.startswith(prefix))


def _ref_with(old: bytes, new: bytes) -> bytes:
    assert REF.count(old) >= 1, old
    return REF.replace(old, new, 1)


def _alias_bomb() -> bytes:
    """Billion laughs: nine levels of ten aliases, 10⁹ values once expanded."""
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    return ("\n".join(levels) + "\n").encode()


def _write(data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "convention.yaml"
        path.write_bytes(data)
        return path
    return make


def _big(folder: Path) -> Path:
    """A 50 MiB YAML text file (the reference's communes, repeated)."""
    path = folder / "convention.yaml"
    chunk = REF[REF.index(b"\ncommunes:"):]
    with open(path, "wb") as f:
        f.write(REF)
        for _ in range(50 * 2**20 // len(chunk)):
            f.write(chunk)
        f.truncate(50 * 2**20)
    return path


def _folder(folder: Path) -> Path:
    (folder / "convention.yaml").mkdir()
    return folder / "convention.yaml"


def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "convention.yaml")
    return folder / "convention.yaml"


def _docx(folder: Path) -> Path:
    return Path(shutil.copy(ROOT / "templates" / "convention.docx", folder / "convention.docx"))


def _nested_mappings(levels: int) -> bytes:
    return "".join(" " * i + f"k{i}:\n" for i in range(levels)).encode()


# name → (make the file in a folder, exit code, the message: a full line of stderr, with
# {path} for the path as given, without the "ctg: error: " prefix or the indentation)
CASES: dict[str, tuple[Callable[[Path], Path], ExitCode, str]] = {
    "binary": (_write(bytes(range(256)) * 16), ExitCode.DATA_ERROR,
               f"{{path}}:1:1: not a text file: binary data (byte 0x00); {EXAMPLE}"),
    "pdf-instead-of-yaml": (_write(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"),
                            ExitCode.DATA_ERROR,
                            f"{{path}}:1:1: not a text file: a PDF document; {EXAMPLE}"),
    "docx-instead-of-yaml": (_docx, ExitCode.DATA_ERROR,
                             "{path}:1:1: not a text file: a ZIP archive (a Word .docx or an "
                             f"OpenDocument file is one); {EXAMPLE}"),
    "nul-byte": (_write(_ref_with(b"title: Convention", b"title: Convention\x00")),
                 ExitCode.DATA_ERROR,
                 f"{{path}}:{_line('title: ')}:18: the NUL character (U+0000) is not allowed "
                 "in YAML text; delete it (the file may be damaged)"),
    "control-character": (_write(_ref_with(b"territory: ", b"territory: \x1b")),
                          ExitCode.DATA_ERROR,
                          f"{{path}}:{_line('territory: ')}:12: the control character U+001B "
                          "is not allowed in YAML text; delete it (the file may be damaged)"),
    "windows-1252": (_write(REF.decode("utf-8").encode("cp1252")), ExitCode.DATA_ERROR,
                     f"{{path}}:1:{REF_LINES[0].index('—') + 1}: not valid UTF-8 (byte 0x97); "
                     f"the file is probably Windows-1252 or Latin-1, where it is '—'; {TO_UTF8}"),
    "latin-1": (_write("id: x\nterritory: Hérault\n".encode("latin-1")), ExitCode.DATA_ERROR,
                "{path}:2:13: not valid UTF-8 (byte 0xe9); the file is probably Windows-1252 "
                f"or Latin-1, where it is 'é'; {TO_UTF8}"),
    "bom-then-latin-1": (_write(codecs.BOM_UTF8 + "id: café\n".encode("latin-1")),
                         ExitCode.DATA_ERROR,  # columns of line 1 do not count the BOM
                         "{path}:1:8: not valid UTF-8 (byte 0xe9); the file is probably "
                         f"Windows-1252 or Latin-1, where it is 'é'; {TO_UTF8}"),
    "cut-inside-a-character": (_write(REF[:REF.index(b"territory: Vall\xc3") + 16]),
                               ExitCode.DATA_ERROR,
                               f"{{path}}:{_line('territory: ')}:16: not valid UTF-8 (byte "
                               "0xc3); the file ends inside a character: it is cut short; "
                               "restore its end"),
    "latin-1-byte-in-utf-8": (_write(_ref_with(b"territory: Vall\xc3\xa9e", b"territory: "
                                               b"Vall\xe9e")),
                              ExitCode.DATA_ERROR,
                              f"{{path}}:{_line('territory: ')}:16: not valid UTF-8 (byte "
                              "0xe9); the text before it is UTF-8: the file is damaged here or "
                              "holds text pasted from another encoding; retype this character"),
    "utf-16": (_write(REF.decode("utf-8").encode("utf-16")), ExitCode.DATA_ERROR,
               f"{{path}}:1:1: the file is encoded in UTF-16, not UTF-8; {TO_UTF8}"),
    "utf-16-without-bom": (_write(REF.decode("utf-8").encode("utf-16-be")),
                           ExitCode.DATA_ERROR,
                           "{path}:1:1: the file is encoded in UTF-16 (big-endian, without a "
                           f"byte-order mark), not UTF-8; {TO_UTF8}"),
    "utf-32": (_write(REF.decode("utf-8").encode("utf-32")), ExitCode.DATA_ERROR,
               f"{{path}}:1:1: the file is encoded in UTF-32, not UTF-8; {TO_UTF8}"),
    # a0..a3 expand to 12,345 values with the root; in a4 each '*a3' adds 11,111: the 8th
    # (line 5, column 10 + 7 × 5) crosses 100,000
    "alias-bomb": (_write(_alias_bomb()), ExitCode.DATA_ERROR,
                   "{path}:5:45: the data expands to more than 100,000 values; check the "
                   "aliases ('*name')"),
    "alias-loop": (_write(b"id: &a [x, *a]\n"), ExitCode.DATA_ERROR,
                   "{path}:1:12: the alias '*a' is inside the node it repeats (a loop); an "
                   "alias may only repeat a node complete before it"),
    "alias-chain": (_write(("a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n"
                                                       for i in range(1, 150))).encode()),
                    ExitCode.DATA_ERROR,
                    "{path}:100:12: the data nests more than 100 levels deep through aliases; "
                    "check the aliases ('*name')"),
    "duplicate-anchor": (_write(b"id: &a x\ntitle: &a y\n"), ExitCode.DATA_ERROR,
                         "{path}:2:8: the anchor '&a' is already defined at line 1, column 5; "
                         "give each anchor its own name"),
    "50-mib": (_big, ExitCode.DATA_ERROR,
               "{path}: the file is too large (50.0 MiB); convention data is limited to 10 "
               "MiB (1,000 communes take 1.3 MiB): check that this is the convention YAML file"),
    # just under 10 MiB; the root and the list are values 1 and 2, the 99,999th x (column
    # 6 + 2 × 99,998) the 100,001st
    "too-many-values": (_write(b"id: [" + b"x," * (5 * 2**20 - 4) + b"]\n"),
                        ExitCode.DATA_ERROR,
                        "{path}:1:200002: more than 100,000 values; a convention of 1,000 "
                        "communes holds 50,000: check that this is the convention data"),
    "deep-flow-lists": (_write(b"[" * 100_000 + b"]" * 100_000), ExitCode.DATA_ERROR,
                        f"{{path}}:1:101: {TOO_DEEP}"),
    "deep-flow-mappings": (_write(b"{a: " * 100_000), ExitCode.DATA_ERROR,
                           f"{{path}}:1:401: {TOO_DEEP}"),
    "deep-block-mappings": (_write(_nested_mappings(2_000)), ExitCode.DATA_ERROR,
                            f"{{path}}:101:101: {TOO_DEEP}"),
    "deep-block-lists": (_write(b"- " * 100_000 + b"x\n"), ExitCode.DATA_ERROR,
                         f"{{path}}:1:201: {TOO_DEEP}"),
    "empty": (_write(b""), ExitCode.DATA_ERROR,
              "{path}:1:1: " + NOT_MAPPING.format(got="the file holds no data")),
    "only-comments": (_write(b"# nothing yet\n\n"), ExitCode.DATA_ERROR,
                      "{path}:1:1: " + NOT_MAPPING.format(got="the file holds no data")),
    "a-list": (_write(b"- id: x\n- id: y\n"), ExitCode.DATA_ERROR,
               "{path}:1:1: " + NOT_MAPPING.format(got="it is a list")),
    "a-scalar": (_write(b"Convention de la Vall\xc3\xa9e\n"), ExitCode.DATA_ERROR,
                 "{path}:1:1: " + NOT_MAPPING.format(got="it is a single value")),
    "duplicate-key": (_write(_ref_with(b"\nterritory:", b"\ntitle: Encore\nterritory:")),
                      ExitCode.DATA_ERROR,
                      f"{{path}}:{_line('territory: ')}:1 title: duplicate key 'title' (first "
                      f"at line {_line('title: ')}); keep only one"),
    "tab-indentation": (_write(_ref_with(b"\n  start: 2022", b"\n\tstart: 2022")),
                        ExitCode.DATA_ERROR,
                        f"{{path}}:{_line('  start: ')}:1: YAML syntax error: found character "
                        "that cannot start any token; indent with spaces, not tabs"),
    "several-documents": (_write(b"id: x\n---\nid: y\n"), ExitCode.DATA_ERROR,
                          "{path}:2:1: YAML syntax error: expected a single document in the "
                          "stream, but found another document; keep one convention per file "
                          "(remove the '---' line)"),
    "folder": (_folder, ExitCode.IO_ERROR,
               "{path}: is a folder; give the path of the convention YAML file"),
    "missing": (lambda folder: folder / "absent.yaml", ExitCode.IO_ERROR,
                "{path}: no such file; check the path to the convention data"),
    "fifo": (_fifo, ExitCode.IO_ERROR, "{path}: not a regular file (a device, pipe or "
             "socket); give the path of the convention YAML file"),
    "device": (lambda folder: Path("/dev/zero"), ExitCode.IO_ERROR,
               "{path}: not a regular file (a device, pipe or socket); give the path of the "
               "convention YAML file"),
}
def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _assert_refused(err: str, path: Path, message: str) -> None:
    """stderr is the message (one line, or a count then the located problem), naming the
    file on every line, without a traceback."""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert message.replace("{path}", str(path)) in [line.removeprefix("ctg: error: ").strip()
                                         for line in lines], err
    for line in lines:
        assert line.startswith((f"ctg: error: {path}", f"  {path}")), err


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_data_file(case: str, command: str, tmp_path: Path, capsys,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    make, code, message = CASES[case]
    folder = tmp_path / "work"
    folder.mkdir()
    path = make(folder)
    monkeypatch.chdir(folder)
    before = _listing(folder)
    args = ["check", str(path)] if command == "check" else [
        "build", str(path), "-o", str(folder / "output")]
    assert main(args) == code
    out, err = capsys.readouterr()
    assert out == ""
    _assert_refused(err, path, message)
    assert _listing(folder) == before  # nothing written, no output folder


@pytest.mark.skipif(not os.access("/proc/self/mem", os.F_OK), reason="Linux /proc only")
@pytest.mark.parametrize("command", ["check", "build"])
def test_file_that_cannot_be_read(command: str, tmp_path: Path, capsys) -> None:
    """A regular file whose reading fails (/proc/self/mem at offset 0: EIO, even for root)."""
    path = Path("/proc/self/mem")
    args = ["check", str(path)] if command == "check" else [
        "build", str(path), "-o", str(tmp_path / "output")]
    assert main(args) == ExitCode.IO_ERROR
    _assert_refused(capsys.readouterr().err, path, "{path}: cannot read the file "
                    "(Input/output error); check the path and its permissions")
    assert not (tmp_path / "output").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_without_read_permission(tmp_path: Path, capsys) -> None:
    path = tmp_path / "convention.yaml"
    path.write_bytes(REF)
    path.chmod(0)
    assert main(["check", str(path)]) == ExitCode.IO_ERROR
    _assert_refused(capsys.readouterr().err, path, "{path}: cannot read the file "
                    "(Permission denied); check the path and its permissions")


def test_utf8_bom_is_accepted(tmp_path: Path, capsys) -> None:
    """Windows editors (Notepad, Excel's "CSV UTF-8") start UTF-8 files with a BOM."""
    path = tmp_path / "convention.yaml"
    path.write_bytes(codecs.BOM_UTF8 + REF)
    assert main(["check", str(path)]) == ExitCode.OK
    assert capsys.readouterr().out.startswith(f"{path}: OK — Convention territoriale globale")
    assert load_convention(path) == load_convention(REFERENCE)


def test_bom_keeps_the_positions_of_problems(tmp_path: Path, capsys) -> None:
    path = tmp_path / "convention.yaml"
    path.write_bytes(codecs.BOM_UTF8 + _ref_with(b"title: ", b"titel: "))
    assert main(["check", str(path)]) == ExitCode.DATA_ERROR
    assert f"  {path}:{_line('title: ')}:1 titel: unknown key 'titel'; did you mean 'title'?" \
        in capsys.readouterr().err.splitlines()


def test_more_problems_than_listed_are_counted(tmp_path: Path, capsys) -> None:
    """100,000 empty actions make 600,000 problems: the earliest 100 are listed."""
    path = tmp_path / "convention.yaml"
    path.write_bytes(b"action_plan: [{actions: [" + b"{}," * 1000 + b"]}]\n")
    assert main(["check", str(path)]) == ExitCode.DATA_ERROR
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == (f"ctg: error: {path}: 6,011 problems in the convention data "
                        "(the first 100 listed)")
    assert len(lines) == 101
    assert lines[1] == f"  {path}:1:1: missing required key 'id'"
    assert lines[-1] == f"  {path}:1:68 action_plan[0].actions[14]: missing required key 'lead'"


# --------------------------------------------------------------------------- real processes


def _limited() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def _ctg(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``ctg`` as a process limited to 1.5 GiB of address space; the timeout only guards
    against a hang (nothing is asserted on the duration)."""
    return subprocess.run([sys.executable, "-m", "ctgdocs", *args], cwd=cwd, env=dict(os.environ),
                          capture_output=True, text=True, preexec_fn=_limited, timeout=600)


HEAVY = ["alias-bomb", "50-mib", "too-many-values", "deep-flow-lists", "deep-flow-mappings",
         "deep-block-lists"]


@pytest.mark.parametrize("command", ["check", "build"])
@pytest.mark.parametrize("case", HEAVY)
def test_heavy_case_in_a_limited_process(case: str, command: str, tmp_path: Path) -> None:
    make, code, message = CASES[case]
    path = make(tmp_path)
    before = _listing(tmp_path)
    args = ["check", str(path)] if command == "check" else [
        "build", str(path), "-o", str(tmp_path / "output")]
    proc = _ctg(*args, cwd=tmp_path)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == ""
    _assert_refused(proc.stderr, path, message)
    assert _listing(tmp_path) == before


def test_worst_file_within_the_limits_in_a_limited_process(tmp_path: Path) -> None:
    """The most problems per byte: 99,990 empty actions, each missing its 6 required keys
    (600,000 problems from a 0.3 MB file) — counted, the earliest listed, within 1.5 GiB."""
    path = tmp_path / "convention.yaml"
    path.write_bytes(b"action_plan: [{actions: [" + b"{}," * 99_990 + b"]}]\n")
    proc = _ctg("check", str(path), cwd=tmp_path)
    assert proc.returncode == ExitCode.DATA_ERROR, proc.stderr
    assert proc.stderr.splitlines()[0] == (f"ctg: error: {path}: 599,951 problems in the "
                                           "convention data (the first 100 listed)")
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- property-based

# The same 200 examples on every run and every machine (derandomize, no example database):
# a CI failure replays exactly on a laptop, and a green run cannot turn red on an unrelated
# commit because Hypothesis happened to draw a new example. New examples come with a change
# of this file, of Hypothesis or of Python.
FUZZ = settings(max_examples=200, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
OUTCOMES = {ExitCode.OK, ExitCode.DATA_ERROR, ExitCode.IO_ERROR}
HOSTILE_BYTES = [b"\x00", b"\x1b", b"\t", b"\r", b"\xef\xbb\xbf", b"\xff\xfe", b"\xe9",
                 b"\xc3", b"\xe2\x80\x94", b": ", b"- ", b"? ", b"[", b"]", b"{", b"}", b",",
                 b"&a ", b"*a", b"<<: *a", b"!!binary ", b"%YAML 1.1\n", b"---\n", b"...\n",
                 b"'", b'"', b"#", b"|", b">", b"\n", b"\n  ", b"\n\t", b"~", b"null"]
_offsets = st.integers(min_value=0, max_value=len(REF))


@pytest.fixture(scope="module")
def fuzz_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "convention.yaml"


def _check_mutant(path: Path, data: bytes) -> None:
    """``ctg check`` on ``data``: a documented exit code, never an exception escaping
    ``main`` nor a traceback, and every error line names the file."""
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["check", str(path)])
    assert code in OUTCOMES, err.getvalue()
    assert "Traceback" not in err.getvalue()
    event(f"exit {int(code)}")  # pytest --hypothesis-show-statistics: how the examples end
    if code == ExitCode.OK:
        assert out.getvalue().startswith(f"{path}: OK — ")
    else:
        lines = err.getvalue().splitlines()
        assert lines and all(line.startswith((f"ctg: error: {path}", f"  {path}:"))
                             for line in lines), err.getvalue()


@FUZZ
@given(end=_offsets)
def test_truncated_reference(fuzz_file: Path, end: int) -> None:
    _check_mutant(fuzz_file, REF[:end])


@FUZZ
@given(flips=st.lists(st.tuples(st.integers(min_value=0, max_value=len(REF) - 1),
                                st.integers(min_value=1, max_value=255)),
                      min_size=1, max_size=8))
def test_reference_with_flipped_bytes(fuzz_file: Path, flips: list[tuple[int, int]]) -> None:
    data = bytearray(REF)
    for offset, mask in flips:
        data[offset] ^= mask
    _check_mutant(fuzz_file, bytes(data))


@FUZZ
@given(insertions=st.lists(st.tuples(_offsets, st.sampled_from(HOSTILE_BYTES)
                                     | st.binary(min_size=1, max_size=8)),
                           min_size=1, max_size=4))
def test_reference_with_inserted_bytes(fuzz_file: Path,
                                       insertions: list[tuple[int, bytes]]) -> None:
    data = REF
    for offset, piece in sorted(insertions, reverse=True):
        data = data[:offset] + piece + data[offset:]
    _check_mutant(fuzz_file, data)


@FUZZ
@given(cuts=st.tuples(_offsets, _offsets), how=st.sampled_from(["swap", "duplicate", "drop"]))
def test_reference_spliced(fuzz_file: Path, cuts: tuple[int, int], how: str) -> None:
    """Two cut points make three pieces a|b|c: b and c swapped, b twice, or b dropped."""
    i, j = sorted(cuts)
    a, b, c = REF[:i], REF[i:j], REF[j:]
    _check_mutant(fuzz_file, {"swap": a + c + b, "duplicate": a + b + b + c,
                              "drop": a + c}[how])
