"""The block-wise literal-string reader and the table-based PDFDocEncoding decoder give
pyHanko's results (and pyHanko's errors) exactly."""

from __future__ import annotations

import io
import itertools

import pytest
from pyhanko.pdf_utils import generic

from signers import fastread

fastread.install_fast_string_reader()
ORIGINAL_READ = fastread._original_read
ORIGINAL_DECODE = fastread._original_decode

STRINGS: list[bytes] = [
    b"()", b"(plain)", b"(maire\\055saint\\055guilhem)", b"(nested (parens (deep)) ok)",
    b"(escaped \\( and \\) and \\\\)", b"(\\n\\r\\t\\b\\f)",
    b"(\\( \\/\\%\\<\\>\\[\\]\\#\\_\\&\\$)",
    b"(\\0\\00\\000\\0000\\1a\\12b\\123c\\377)", b"(octal at the end \\7)",
    b"(line \\\ncontinued)", b"(line \\\r\ncontinued)", b"(line \\\n\rcontinued)",
    b"(line \\\rcontinued)", b"(line \\\r\\\ntwice)", b"(raw\nline\rbreaks\r\n)",
    b"(\xfe\xff\x00A\x00B)", b"(caf\xe9)", b"(\\8 bad octal)", b"(\\48 digit 8)",
    b"(\\400 too big)", b"(\\q unknown escape)", b"(unterminated", b"(ends with \\",
    b"(ends in octal \\1", b"(ends in octal \\12", b"(ends after escaped eol \\\r",
    b"(" + b"x" * 5000 + b")", b"(" + b"(" * 3000 + b")" * 3000 + b")",
    b"(" + b"a\\055" * 2000 + b")",
]


def _read(fn: object, data: bytes, tail: bytes = b" /Next 1 >>") -> tuple[object, int]:
    stream = io.BytesIO(b"<< " + data + tail)
    stream.seek(3)
    try:
        value = fn(stream)  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return (type(exc), str(exc)), -1
    return value, stream.tell()


@pytest.mark.parametrize("tail", [b" /Next 1 >>", b""], ids=["followed", "at-eof"])
@pytest.mark.parametrize("data", STRINGS)
def test_literal_strings_read_as_pyhanko_reads_them(data: bytes, tail: bytes) -> None:
    assert _read(fastread.read_string_literal_bytes, data, tail) == \
        _read(ORIGINAL_READ, data, tail)


def test_every_two_byte_escape_reads_as_pyhanko_reads_it() -> None:
    for a, b in itertools.product(range(256), repeat=2):
        data = b"(x\\" + bytes((a, b)) + b"y) tail"
        assert _read(fastread.read_string_literal_bytes, data) == \
            _read(ORIGINAL_READ, data), data


def test_pdfdocencoding_decodes_as_pyhanko_decodes() -> None:
    samples = [bytes([b]) for b in range(256)] + [bytes(range(256)), b"", b"maire-caf",
                                                 bytearray(b"caf\xe9"), b"\x18\x19\x80\x9f"]
    for raw in samples:
        try:
            expected: object = ORIGINAL_DECODE(raw)  # type: ignore[misc]
        except UnicodeDecodeError as exc:
            expected = (exc.object, exc.start, exc.reason)
        try:
            ours: object = fastread.decode_pdfdocencoding(raw)
        except UnicodeDecodeError as exc:
            ours = (exc.object, exc.start, exc.reason)
        assert ours == expected, raw


def test_installed_in_pyhankos_parser() -> None:
    assert generic._read_string_literal_bytes is fastread.read_string_literal_bytes
    assert generic.decode_pdfdocencoding is fastread.decode_pdfdocencoding
    value = generic.read_object(io.BytesIO(b"(caf\\351 \\(A1\\055\\))"), None)
    assert isinstance(value, generic.TextStringObject) and value == "café (A1-)"
