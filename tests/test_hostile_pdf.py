"""Damaged and hostile PDFs given to ``ctg verify``, ``ctg sign`` and ``ctg seal``: a
one-line error naming the file, a documented exit code, nothing written, no traceback.

The fixed cases (empty file, not a PDF, truncated, damaged cross-reference table or
trailer, a directory, a missing path) have their exact exit code; Hypothesis then feeds
random truncations, byte flips and splices of a signed package to the three commands
in-process, and one case runs as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from fixtures_pki import DEMO_SUBJECTS
from guards import no_hang
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ctgdocs.cli import main
from ctgdocs.exceptions import ExitCode
from signers.credentials import Pkcs12Credentials
from signers.demo_pki import DemoPki
from signers.fields import add_signature_fields
from signers.model import ExpectedSigner, FieldSpec
from signers.services import RunningServices
from signers.sign import seal_package, sign_field

FIELDS = ("caf-directeur", "caf-president", "maire-gignac", "maire-aniane")
OUTCOMES = {
    "verify": {ExitCode.OK, ExitCode.VERIFICATION_FAILED},
    "sign": {ExitCode.OK, ExitCode.SIGNING_REFUSED, ExitCode.SIGNING_ERROR},
    "seal": {ExitCode.OK, ExitCode.SIGNING_REFUSED, ExitCode.SIGNING_ERROR},
}
"""The exit codes each command may end with on a damaged file that exists."""


@dataclass(frozen=True)
class Samples:
    """An unsigned and a signed package, and how to run the commands on a copy."""

    unsigned: bytes
    signed: bytes
    pki: DemoPki
    passphrase_file: Path
    build_json: str
    tsa_url: str

    def args(self, command: str, pdf: Path, out: Path) -> list[str]:
        creds = ["--pkcs12", str(self.pki.pkcs12("maire-aniane" if command == "sign"
                                                 else "cachet-caf")),
                 "--passphrase-file", str(self.passphrase_file)]
        if command == "verify":
            return ["verify", str(pdf), "--trust", str(self.pki.root_cert)]
        if command == "sign":
            return ["sign", str(pdf), "--as", "maire-aniane", "-o", str(out), *creds]
        return ["seal", str(pdf), "-o", str(out), *creds]


def _expected(sid: str) -> ExpectedSigner:
    s = next(s for s in DEMO_SUBJECTS if s.id == sid)
    return ExpectedSigner(sid, s.title or "", (s.name,), (s.email,) if s.email else ())


@pytest.fixture(scope="module")
def samples(demo_pki: DemoPki, demo_services: RunningServices,
            tmp_path_factory: pytest.TempPathFactory) -> Samples:
    """A one-page package with four visible fields and the invisible seal field, then
    sealed and signed twice (PAdES B-T)."""
    from pypdf import PdfWriter

    base = tmp_path_factory.mktemp("hostile")
    writer = PdfWriter()
    writer.add_blank_page(595, 842)
    writer.write(base / "blank.pdf")
    specs = [FieldSpec(name, 0, (40 + (i % 2) * 280, 60 + (i // 2) * 100,
                                 290 + (i % 2) * 280, 130 + (i // 2) * 100), name)
             for i, name in enumerate(FIELDS)]
    specs.append(FieldSpec("cachet-caf", 0, (0, 0, 0, 0), "Cachet de la Caf"))
    unsigned = base / "package.pdf"
    add_signature_fields(base / "blank.pdf", unsigned, specs)
    signed = base / "signed.pdf"
    seal_package(unsigned, signed, Pkcs12Credentials(demo_pki.pkcs12("cachet-caf"),
                                                     demo_pki.passphrase),
                 tsa_url=demo_services.tsa_url)
    for sid in FIELDS[:2]:
        sign_field(signed, signed, sid, Pkcs12Credentials(demo_pki.pkcs12(sid),
                                                          demo_pki.passphrase),
                   expected=_expected(sid), tsa_url=demo_services.tsa_url)
    secret = base / "passphrase.txt"
    secret.write_text(demo_pki.passphrase + "\n", encoding="utf-8")
    records = [{"id": s.id, "field": s.id, "name": s.name, "email": s.email,
                "capacity": s.title, "page": 1, "rect": [0, 0, 0, 0]} for s in DEMO_SUBJECTS]
    seal = {"field": "cachet-caf", "label": "Cachet de la Caf", "names": ["Caf de l'Hérault"]}
    return Samples(unsigned.read_bytes(), signed.read_bytes(), demo_pki, secret,
                   json.dumps({"fields": records, "seal": seal}), demo_services.tsa_url)


@dataclass(frozen=True)
class Run:
    """What one command did."""

    code: int
    out: str
    err: str
    written: bool
    """The output file (or a temporary file beside it) exists."""
    source_changed: bool


def _run(samples: Samples, command: str, data: bytes | None,
         capsys: pytest.CaptureFixture[str], place: Callable[[Path], Path] | None = None
         ) -> Run:
    """Run ``command`` in-process on ``data`` written as a package next to a
    build.json (or on the path ``place`` gives)."""
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "build.json").write_text(samples.build_json, encoding="utf-8")
        pdf = work / "package.pdf"
        if data is not None:
            pdf.write_bytes(data)
        target = place(work) if place is not None else pdf
        out = work / "out" / "signed.pdf"
        out.parent.mkdir()
        capsys.readouterr()
        with no_hang():
            code = main(samples.args(command, target, out))
        printed = capsys.readouterr()
        written = any(out.parent.iterdir())
        changed = data is not None and pdf.read_bytes() != data
    return Run(code, printed.out, printed.err, written, changed)


def _check(run: Run, command: str, allowed: set[ExitCode] | None = None) -> None:
    assert "Traceback" not in run.err, run.err
    assert run.code in (allowed or OUTCOMES[command]), (run.code, run.err)
    assert not run.source_changed
    if run.code != ExitCode.OK:
        errors = [line for line in run.err.splitlines() if line.startswith("ctg: error:")]
        # verify reports a damaged signature in its table, a damaged file in one line
        assert len(errors) == (len(errors) and 1 if command == "verify" else 1), run.err
        assert not run.written, run.err


# --------------------------------------------------------------------------- fixed cases


@dataclass(frozen=True)
class _Xref:
    """Where the last cross-reference section lies: a table and its trailer dictionary,
    or a stream whose dictionary is the trailer (pyHanko updates a file in its form)."""

    entries: slice
    trailer: slice

    @classmethod
    def last(cls, data: bytes) -> _Xref:
        table = data.rfind(b"\nxref\n")
        if table >= 0:
            trailer = data.index(b"trailer", table)
            return cls(slice(table + len(b"\nxref\n"), trailer),
                       slice(trailer, data.index(b"startxref", trailer)))
        head = data.rindex(b"/Type /XRef")
        start = data.index(b"stream\n", head) + len(b"stream\n")
        return cls(slice(start, data.index(b"endstream", start)),
                   slice(data.rindex(b"<<", 0, head), start))


def _damaged_xref(data: bytes) -> bytes:
    """The entries of the last cross-reference section garbled (same length)."""
    where = _Xref.last(data).entries
    garbled = bytes(b ^ 0x5A if chr(b).isdigit() or b > 127 else b for b in data[where])
    return data[:where.start] + garbled + data[where.stop:]


def _damaged_trailer(data: bytes) -> bytes:
    """The last trailer's /Root and /Prev pointing nowhere (same length)."""
    where = _Xref.last(data).trailer
    trailer = data[where].replace(b"/Root 1 0 R", b"/Root 9 9 R")
    trailer = re.sub(rb"/Prev (\d+)", lambda m: b"/Prev " + b"7" * len(m[1]), trailer)
    assert trailer != data[where]
    return data[:where.start] + trailer + data[where.stop:]


def _truncated(data: bytes) -> bytes:
    """Cut in the middle of the last revision (its %%EOF and the one before it are far
    apart: the signature fills most of it)."""
    previous = data.rindex(b"%%EOF", 0, len(data) - 10)
    return data[: (previous + len(data)) // 2]


def _cut_after_earlier_revision(data: bytes) -> bytes:
    """Cut 100 bytes into the last revision: the %%EOF of the one before is near the end
    of what is left."""
    return data[: data.rindex(b"%%EOF", 0, len(data) - 10) + 100]


CASES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "not a PDF": lambda data: b"Convention territoriale globale\n" * 40,
    "truncated": _truncated,
    "cut after an earlier revision": _cut_after_earlier_revision,
    "damaged xref": _damaged_xref,
    "damaged trailer": _damaged_trailer,
}
MESSAGES = {
    "empty": "the file is empty; it is not a PDF",
    "not a PDF": "not a PDF (it does not start with %PDF-)",
    "truncated": "not a readable PDF (EOF marker not found)",
    "cut after an earlier revision": "",  # read as that revision + bytes after it
    "damaged xref": "its cross-reference table or trailer is damaged",
    "damaged trailer": "its cross-reference table or trailer is damaged",
}
DAMAGED = {"verify": ExitCode.VERIFICATION_FAILED, "sign": ExitCode.SIGNING_REFUSED,
           "seal": ExitCode.SIGNING_REFUSED}


@pytest.mark.parametrize("command", ["verify", "sign", "seal"])
@pytest.mark.parametrize("case", list(CASES))
def test_damaged_file(samples: Samples, command: str, case: str,
                      capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(samples, command, CASES[case](samples.signed), capsys)
    _check(run, command, {DAMAGED[command]})
    if MESSAGES[case]:
        assert run.err.startswith("ctg: error: ") and "package.pdf: " in run.err, run.err
        assert MESSAGES[case] in run.err, run.err
    elif command == "verify":  # the report names the bytes after the earlier revision
        assert "bytes were appended after the end of the last revision" in run.out
    else:
        assert "package.pdf: " in run.err


def _unclosed_signature_value(data: bytes) -> bytes:
    """The ``>`` closing the first signature's ``/Contents`` replaced by a letter: the
    hex string runs on into the thousands of zeros that pad it, then into the rest."""
    start = re.search(rb"/Contents\s*<", data)
    assert start is not None
    end = data.index(b">", start.end())
    assert data[end - 1000:end] == b"0" * 1000  # the padding the damage runs into
    return data[:end] + b"x" + data[end + 1:]


@pytest.mark.parametrize("command", ["verify", "sign", "seal"])
def test_an_unclosed_signature_value(samples: Samples, command: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """Found by the random damage below: one changed byte made the speed-ups' object
    scanner search through the padding zeros in cubic time, and ``ctg verify`` ran for
    hours. The damage is reported; signing on top of it is refused."""
    run = _run(samples, command, _unclosed_signature_value(samples.signed), capsys)
    _check(run, command, {DAMAGED[command]})
    if command == "verify":
        assert "tampered:  YES" in run.out, (run.out, run.err)


@pytest.mark.parametrize("command", ["verify", "sign", "seal"])
@pytest.mark.parametrize("where", ["a directory", "a missing path"])
def test_not_a_file(samples: Samples, command: str, where: str,
                    capsys: pytest.CaptureFixture[str]) -> None:
    def place(work: Path) -> Path:
        if where == "a directory":
            (work / "folder.pdf").mkdir()
            return work / "folder.pdf"
        return work / "nowhere.pdf"

    run = _run(samples, command, None, capsys, place)
    _check(run, command, {ExitCode.IO_ERROR})
    expected = "is a directory" if where == "a directory" else "no such file"
    assert (".pdf: " + expected) in run.err, run.err


def test_output_that_is_a_directory_is_refused_first(samples: Samples, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    pdf = tmp_path / "package.pdf"
    pdf.write_bytes(samples.unsigned)
    (tmp_path / "build.json").write_text(samples.build_json, encoding="utf-8")
    code = main(samples.args("seal", pdf, tmp_path))
    assert code == ExitCode.IO_ERROR
    assert f"{tmp_path}: is a directory" in capsys.readouterr().err
    assert pdf.read_bytes() == samples.unsigned


def test_truncated_package_as_a_real_subprocess(samples: Samples, tmp_path: Path) -> None:
    pdf = tmp_path / "package.pdf"
    pdf.write_bytes(samples.signed[:-5000])
    done = subprocess.run([sys.executable, "-m", "ctgdocs", "verify", str(pdf)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert done.returncode == ExitCode.VERIFICATION_FAILED
    assert done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"ctg: error: {pdf}:")


# --------------------------------------------------------------------------- random damage


@st.composite
def damaged(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` truncated, with bytes flipped, or with a slice replaced by another slice
    of it or by random bytes; positions favour the end (the last cross-reference table
    and trailer) half of the time."""
    size = len(data)

    def position() -> int:
        if draw(st.booleans()):
            return draw(st.integers(max(0, size - 2048), size - 1))
        return draw(st.integers(0, size - 1))

    kind = draw(st.sampled_from(["truncate", "flip", "splice"]))
    if kind == "truncate":
        return data[: position()]
    out = bytearray(data)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            out[position()] ^= draw(st.integers(1, 255))
        return bytes(out)
    start = position()
    end = min(size, start + draw(st.integers(0, 64)))
    if draw(st.booleans()):
        other = draw(st.integers(0, size - 1))
        piece = data[other: other + draw(st.integers(0, 64))]
    else:
        piece = draw(st.binary(max_size=64))
    return bytes(out[:start]) + piece + bytes(out[end:])


HOSTILE = settings(deadline=None, max_examples=30,
                   suppress_health_check=[HealthCheck.too_slow,
                                          HealthCheck.function_scoped_fixture])


@HOSTILE
@given(st.data())
def test_verify_never_tracebacks(samples: Samples, capsys: pytest.CaptureFixture[str],
                                 data: st.DataObject) -> None:
    _check(_run(samples, "verify", data.draw(damaged(samples.signed)), capsys), "verify")


@HOSTILE
@given(st.data())
def test_sign_never_tracebacks(samples: Samples, capsys: pytest.CaptureFixture[str],
                               data: st.DataObject) -> None:
    _check(_run(samples, "sign", data.draw(damaged(samples.signed)), capsys), "sign")


@HOSTILE
@given(st.data(), st.booleans())
def test_seal_never_tracebacks(samples: Samples, capsys: pytest.CaptureFixture[str],
                               data: st.DataObject, signed: bool) -> None:
    source = samples.signed if signed else samples.unsigned
    _check(_run(samples, "seal", data.draw(damaged(source)), capsys), "seal")


def test_the_hostile_samples_are_sound(samples: Samples, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    """Undamaged, the samples verify, take a signature and (unsigned) a seal: the
    refusals above are the damage's doing."""
    assert _run(samples, "verify", samples.signed, capsys).code == ExitCode.OK
    assert _run(samples, "sign", samples.signed, capsys).code == ExitCode.OK
    sealed = _run(samples, "seal", samples.unsigned, capsys)
    assert sealed.code == ExitCode.OK and sealed.written, sealed.err
