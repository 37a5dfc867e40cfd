"""The bytes-level skeleton scanner gives pyHanko's pruned objects, or declines."""

from __future__ import annotations

import io

import pytest
from guards import no_hang
from pyhanko.pdf_utils.generic import Reference
from pyhanko.pdf_utils.reader import PdfFileReader

from signers.speedups.skelscan import (
    UNSURE,
    PrunedArray,
    PrunedDict,
    prune,
    read_hex_string,
    repeats_value,
    scan_skeleton,
    value_span,
)

# Object bodies (after "N 0 obj"), numbered from 1. Object 1 is the catalog.
BODIES: list[bytes] = [
    b"<< /Type /Catalog /Pages 2 0 R /StructTreeRoot 5 0 R >>",
    b"<< /Type /Pages /Kids [ 3 0 R ] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R\n"
    b"/Resources << /Font << /F1 6 0 R >> >> /Annots [ ] >>",
    b"<< /Length 7 0 R >>\nstream\nBT (a) Tj ET\nendstream",
    b"<< /Type /StructTreeRoot /K [ 8 0 R 9 0 R ] /RoleMap << /Texte#20tableau /P >> >>",
    b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>",
    b"12",
    b"<< /Type /StructElem /S /Texte#20tableau /P 5 0 R /Pg 3 0 R /K [ 0 1 ]\n"
    b"/Alt (nested (parens) \\) and \\\\ escapes \\053 \\n) /T <FEFF0041> >>",
    b"<< /Type /StructElem /S /P /P 5 0 R /K << /Type /MCR /Pg 3 0 R /MCID 2 >>\n"
    b"/A [ << /O /Layout >> 10 0 R [ null true false 1.5 -.5 +3 ] ] >>",
    b"[ 1 0 R (x) /N 3 0 R ]",
    # Outside the subset: the scanner must decline (pyHanko decides).
    b"<< /A 1 0 R % a comment\n/B 2 0 R >>",                 # 11 comment
    b"<< /A 1 0 R /A 2 0 R >>",                              # 12 duplicate key
    b"<< /Type (Pages) /Kids [ 3 0 R ] >>",                  # 13 /Type not a name
    b"<< /Length 99 >>\nstream\nshort\nendstream",           # 14 wrong /Length
    b"<< /A (bad escape \\8) /B 1 0 R >>",                    # 15 escape pyHanko rejects
    b"2 0 R",                                                # 16 a bare reference
    b"<< /A 123456789 123456789 R >>",                       # 17 reference too long
]
DECLINED = {11, 12, 13, 14, 15, 16, 17}


def _pdf(bodies: list[bytes]) -> tuple[bytes, list[int]]:
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for n, body in enumerate(bodies, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
              % (len(bodies) + 1, xref))
    return out.getvalue(), offsets


@pytest.fixture(scope="module")
def crafted() -> tuple[bytes, list[int], PdfFileReader]:
    data, offsets = _pdf(BODIES)
    return data, offsets, PdfFileReader(io.BytesIO(data), strict=False)


@pytest.mark.parametrize("n", range(1, len(BODIES) + 1))
def test_scan_matches_pyhanko_or_declines(crafted: tuple[bytes, list[int], PdfFileReader],
                                          n: int) -> None:
    data, offsets, reader = crafted
    ref = Reference(n, 0)
    got = scan_skeleton(data, offsets[n - 1], ref, lambda r: reader.get_object(r))
    if n in DECLINED:
        assert got is UNSURE
        return
    assert got is not UNSURE
    try:
        expected = prune(reader.get_object(ref))
    except Exception:  # noqa: BLE001
        pytest.fail(f"pyHanko cannot parse object {n}, the scanner should have declined")
    assert got == expected


def test_scan_details(crafted: tuple[bytes, list[int], PdfFileReader]) -> None:
    data, offsets, reader = crafted
    elem = scan_skeleton(data, offsets[7], Reference(8, 0), reader.get_object)
    assert elem == PrunedDict((("/P", Reference(5, 0)), ("/Pg", Reference(3, 0))),
                              "/StructElem")
    arr = scan_skeleton(data, offsets[9], Reference(10, 0), reader.get_object)
    assert arr == PrunedArray(((0, Reference(1, 0)), (3, Reference(3, 0))))
    root = scan_skeleton(data, offsets[4], Reference(5, 0), reader.get_object)
    assert isinstance(root, PrunedDict) and root.type == "/StructTreeRoot"


def test_wrong_object_number_declines(crafted: tuple[bytes, list[int], PdfFileReader]) -> None:
    data, offsets, reader = crafted
    assert scan_skeleton(data, offsets[0], Reference(2, 0), reader.get_object) is UNSURE
    assert scan_skeleton(data, offsets[0] + 1, Reference(1, 0), reader.get_object) is UNSURE


HOSTILE = {
    # a signature value whose closing ">" was damaged, running into its padding zeros:
    # a search from there through them took hours (cubic in the zeros)
    "unclosed hex string": b"<< /Contents <3082" + b"0" * 200_000 + b"x >>",
    "undelimited number": b"<< /A " + b"1" * 200_000 + b"x >>",
    "whitespace, then no token": b"<< /A " + b" " * 200_000 + b"\x80 >>",
    "undelimited name": b"<< /A /" + b"a" * 200_000 + b"\x80 >>",
    "undelimited reference": b"<< /A " + b"1 " * 100_000 + b"Rx >>",
    "broken after many tokens": b"[ " + b"0 " * 100_000 + b"\x80 ]",
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_bytes_are_declined_where_they_start(case: str) -> None:
    """The scanner reads token after token where the last one ended: bytes that are no
    token end the scan there (UNSURE), whatever follows them."""
    data, offsets = _pdf([HOSTILE[case]])
    with no_hang(60):
        assert scan_skeleton(data, offsets[0], Reference(1, 0), lambda r: None) is UNSURE
        assert value_span(data, offsets[0], Reference(1, 0)) is None


def test_value_span(crafted: tuple[bytes, list[int], PdfFileReader]) -> None:
    data, offsets, _ = crafted
    start, end = value_span(data, offsets[1], Reference(2, 0)) or (0, 0)
    assert data[start:end].strip() == BODIES[1]
    assert value_span(data, offsets[3], Reference(4, 0)) is None  # a stream
    assert value_span(data, offsets[10], Reference(11, 0)) is None  # outside the subset
    assert value_span(data, offsets[1], Reference(3, 0)) is None  # another object


def test_same_value_bytes_share_one_parse(tmp_path: object) -> None:
    """An object rewritten with identical bytes (as each signature rewrites the
    catalog) is parsed once; its historical values are still right."""
    from signers.speedups.refgraph import accelerate

    first, _ = _pdf(BODIES[:10])
    body = b"<< /Type /Catalog /Pages 2 0 R /StructTreeRoot 5 0 R >>"
    xref_at = len(first) + len(b"1 0 obj\n" + body + b"\nendobj\n")
    prev = int(first.rsplit(b"startxref\n", 1)[1].split(b"\n")[0])
    update = (b"1 0 obj\n" + body + b"\nendobj\n"
              + b"xref\n1 1\n%010d 00000 n \n" % len(first)
              + b"trailer\n<< /Size 11 /Root 1 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
              % (prev, xref_at))
    reader = PdfFileReader(io.BytesIO(first + update), strict=False)
    assert accelerate(reader)
    old = reader.get_object(Reference(1, 0), 0, transparent_decrypt=False)
    new = reader.get_object(Reference(1, 0), 1, transparent_decrypt=False)
    assert old is new
    assert reader.get_historical_root(0)["/Pages"] == reader.get_historical_root(1)["/Pages"]


@pytest.mark.parametrize("n", range(1, len(BODIES) + 1))
def test_repeated_value_is_recognised_without_scanning(n: int) -> None:
    """A later version with the very same value bytes has the same span as a scan would
    find; any other bytes, or a value whose end depends on what follows, is not."""
    body = BODIES[n - 1]
    variants = [body, body + b" ", body[:-1], body + b"0", body.replace(b" ", b"  ", 1)]
    data, offsets = _pdf([*BODIES, *variants])
    ref = Reference(n, 0)
    span = value_span(data, offsets[n - 1], ref)
    if span is None:
        return
    value = data[span[0]:span[1]]
    for k in range(len(variants)):
        offset = offsets[len(BODIES) + k]
        moved = data[:offset] + b"%d 0 obj" % n + data[offset:].split(b" obj", 1)[1]
        theirs = value_span(moved, offset, ref)
        same = theirs is not None and moved[theirs[0]:theirs[1]] == value
        assert repeats_value(moved, offset, ref, value) == same, (n, k)


def test_repeated_value_needs_a_delimited_end() -> None:
    data = b"7 0 obj\n12\nendobj\n7 0 obj\n12endobj\n7 0 obj\n123\nendobj\n"
    ref = Reference(7, 0)
    assert repeats_value(data, 0, ref, b"\n12")
    assert not repeats_value(data, data.index(b"7 0 obj", 1), ref, b"\n12")
    assert not repeats_value(data, data.rindex(b"7 0 obj"), ref, b"\n12")
    assert not repeats_value(data, 0, Reference(8, 0), b"\n12")


@pytest.mark.parametrize("raw", [b"<48 65\n6c6C6f>rest", b"<414>x", b"<>", b"< 4 1 >"])
def test_fast_hex_reader_matches_pyhanko(raw: bytes) -> None:
    from pyhanko.pdf_utils import generic

    from signers.speedups._patches import unpatched

    original = unpatched(generic, "read_hex_string_from_stream")
    fast, slow = io.BytesIO(raw), io.BytesIO(raw)
    assert read_hex_string(fast) == original(slow)
    assert fast.tell() == slow.tell()


def test_fast_hex_reader_rejects_garbage() -> None:
    from pyhanko.pdf_utils.generic import PdfStreamError

    with pytest.raises(PdfStreamError):
        read_hex_string(io.BytesIO(b"<41zz>"))
    with pytest.raises(PdfStreamError):
        read_hex_string(io.BytesIO(b"<4142"))
