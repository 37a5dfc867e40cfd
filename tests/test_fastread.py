"""The block-wise literal-string reader and the table-based PDFDocEncoding decoder give
pyHanko's results (and pyHanko's errors) exactly."""

from __future__ import annotations

import io
import itertools

import pytest
from pyhanko.pdf_utils import generic

from signers.speedups import fastread

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


def test_pyhankos_parser_reads_through_the_patch(speedups_switch: bool) -> None:
    """With the speed-ups applied, pyHanko's parser reads with these functions inside a
    speed-up attempt, and with its own anywhere else; same values either way."""
    from signers import speedups
    from signers.speedups._patches import unpatched

    if not speedups_switch:
        pytest.skip("SIGNERS_SPEEDUPS=off")
    assert unpatched(generic, "_read_string_literal_bytes") is ORIGINAL_READ
    assert generic._read_string_literal_bytes is not ORIGINAL_READ  # the dispatcher
    for where in (speedups.plain, lambda: speedups.attempt("test")):
        with where():
            value = generic.read_object(io.BytesIO(b"(caf\\351 \\(A1\\055\\))"), None)
        assert isinstance(value, generic.TextStringObject) and value == "café (A1-)"


ARRAYS: list[bytes] = [
    b"[]", b"[ ]", b"[(a)]", b"[ (caf\\055directeur) (maire\\055aniane) ]",
    b"[\n(a)\r\n(b)\t(c)\x00(d)\x0c]", b"[(a)(b)]", b"[ (nested (paren)) ]", b"[ (a) % comment\n]",
    b"[ (a) 1 ]", b"[ 1 0 R (a) ]", b"[ (bad \\8) ]", b"[ (x\\\ny) (\\101) ]", b"[ (a)",
    b"[ (unterminated ]", b"[ <41> (a) ]", b"[ (" + b"x" * 5000 + b") ]",
    b"[ " + b" ".join(b"(maire\\055%d)" % i for i in range(300)) + b" ]", b"(not an array)",
    b"[()()]", b"[(a\\000b) (c)]", b"[(a) (caf\\351)]", b"[(\\376\\377\\000A) (b)]",
    b"[(\\357\\273\\277a) (b)]", b"[(a\\030) (b)]", b"[(a\\177) (b)]", b"[(a\x00) (b)]",
]


def _read_array(fn: object, data: bytes, tail: bytes) -> tuple[object, int]:
    stream = io.BytesIO(b"<< /Fields " + data + tail)
    stream.seek(11)
    try:
        value = fn(stream, "container")  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the error itself is compared
        return (type(exc), str(exc)), -1
    items = [(type(v), v, getattr(v, "autodetected_encoding", None), v.container_ref)
             for v in value]
    return (type(value), items), stream.tell()


@pytest.mark.parametrize("tail", [b" /Next 1 >>", b""], ids=["followed", "at-eof"])
@pytest.mark.parametrize("data", ARRAYS)
def test_arrays_read_as_pyhanko_reads_them(data: bytes, tail: bytes) -> None:
    original = fastread._original_array
    assert _read_array(fastread.read_array, data, tail) == _read_array(original, data, tail)


def test_arrays_in_content_streams_are_left_to_pyhanko() -> None:
    stream = io.BytesIO(b"[(a) (b)] TJ")
    value = generic.ArrayObject.read_from_stream(
        stream, None, in_content_stream=generic.ContentOpReading.GRAPHIC_OPS)
    assert list(value) == ["a", "b"] and stream.tell() == 9


def test_every_three_digit_escape_reads_as_pyhanko_reads_it() -> None:
    for digits in itertools.product(b"0123456789", repeat=3):
        for after in (b"", b"7", b"\\055"):
            data = b"(a\\" + bytes(digits) + after + b"\\101b) tail"
            assert _read(fastread.read_string_literal_bytes, data) == \
                _read(ORIGINAL_READ, data), data


def test_every_byte_in_a_string_array_reads_as_pyhanko_reads_it() -> None:
    """Arrays of plain ASCII names are decoded at once; any other byte, raw or escaped,
    in any position, gives pyHanko's result too."""
    original = fastread._original_array
    for b in range(256):
        for data in (b"[(x\\%03o) (y)]" % b, b"[(y) (%sx)]" % bytes((b,)),
                     b"[(\\%03o) (y) ()]" % b):
            assert _read_array(fastread.read_array, data, b" >>") == \
                _read_array(original, data, b" >>"), data
