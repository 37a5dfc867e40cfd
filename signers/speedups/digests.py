"""Byte-range digests of every signature of a file, hashing the common prefix once.

Each signature of an incrementally signed PDF covers ``[0, a)`` and ``[b, c)``: the file
up to its own ``/Contents`` hole, then the rest of its revision. pyHanko hashes both
ranges for every signature, so *n* signatures hash about *n* × the file size. Sorted by
``a``, the first ranges are prefixes of one another: one running hash state, copied at
each ``a`` and finished with that signature's second range, gives the very same digests
while hashing the file about once.

:func:`prime_digests` stores them where pyHanko's ``EmbeddedPdfSignature.compute_digest``
looks first (``external_digests``); a signature outside the plain two-range form, or
with an unknown algorithm, is left to pyHanko.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from cryptography.hazmat.primitives import hashes
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko_certvalidator.util import get_pyca_cryptography_hash

__all__ = ["prime_digests"]

log = logging.getLogger(__name__)


def prime_digests(embedded: Iterable[EmbeddedPdfSignature], data: bytes) -> int:
    """Compute the ``/ByteRange`` digest of each signature in ``embedded`` (read from
    ``data``, the bytes their reader parses) and cache it on the signature; the number
    of digests computed."""
    by_algorithm: dict[str, list[tuple[int, int, int, EmbeddedPdfSignature]]] = \
        defaultdict(list)
    for emb in embedded:
        ranges = _plain_ranges(emb.byte_range, len(data))
        algorithm = getattr(emb, "external_md_algorithm", None)
        if ranges is None or not isinstance(algorithm, str) \
                or algorithm in emb.external_digests:
            continue
        by_algorithm[algorithm].append((*ranges, emb))
    done = 0
    for algorithm, items in by_algorithm.items():
        try:
            spec = get_pyca_cryptography_hash(algorithm)
        except Exception:  # noqa: BLE001 - pyHanko reports the unknown algorithm
            log.debug("no shared digest for algorithm %s", algorithm, exc_info=True)
            continue
        done += _digest_all(spec, items, memoryview(data))
    return done


def _plain_ranges(byte_range: Any, size: int) -> tuple[int, int, int] | None:
    """``(a, b, c)`` for a ``/ByteRange`` ``[0 a b c-b]`` inside a file of ``size``
    bytes, with ``a <= b <= c``; ``None`` for any other form."""
    try:
        values = list(byte_range)
    except TypeError:
        return None
    if len(values) != 4 or not all(isinstance(v, int) and not isinstance(v, bool)
                                   for v in values):
        return None
    start, first_len, second, second_len = (int(v) for v in values)
    if start != 0 or first_len < 0 or second_len < 0 or second < first_len:
        return None
    if second + second_len > size:
        return None
    return first_len, second, second + second_len


def _digest_all(spec: hashes.HashAlgorithm,
                items: list[tuple[int, int, int, EmbeddedPdfSignature]],
                data: memoryview) -> int:
    running = hashes.Hash(spec)
    position = 0
    for first_end, second, end, emb in sorted(items, key=lambda item: item[0]):
        running.update(data[position:first_end])
        position = first_end
        own = running.copy()
        own.update(data[second:end])
        emb.external_digests[emb.external_md_algorithm] = own.finalize()
    return len(items)
