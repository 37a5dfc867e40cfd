"""Reading the PDF a command was given: clear one-line errors for every way it can fail.

A missing file, a directory or a file without read permission is a
:class:`~signers.exceptions.FileAccessError`; an empty file, a non-PDF, a truncated PDF
or one whose cross-reference table or trailer is damaged is the caller's error class
(:class:`~signers.exceptions.VerificationError` when verifying,
:class:`~signers.exceptions.SigningRefused` when signing), naming the file and what is
wrong with it.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

from pyhanko.pdf_utils.reader import PdfFileReader

from .exceptions import FileAccessError, SignersError

__all__ = ["one_line", "open_pdf", "read_file", "read_pdf"]


def read_file(path: str | os.PathLike[str]) -> bytes:
    """The bytes of ``path`` (:class:`FileAccessError` when it cannot be read)."""
    target = Path(path)
    if target.is_dir():
        raise FileAccessError(f"{path}: is a directory, not a PDF file; give the path of "
                              "the PDF")
    try:
        return target.read_bytes()
    except FileNotFoundError as exc:
        raise FileAccessError(f"{path}: no such file; check the path") from exc
    except OSError as exc:
        raise FileAccessError(f"{path}: cannot read the file ({exc.strerror or exc}); "
                              "check the path and its permissions") from exc


def open_pdf(path: str | os.PathLike[str], data: bytes,
             error: type[SignersError]) -> PdfFileReader:
    """A pyHanko reader of ``data`` (the bytes of ``path``), or ``error`` saying why the
    file is not a readable PDF."""
    if not data or data.isspace():
        raise error(f"{path}: the file is empty; it is not a PDF")
    if not data.startswith(b"%PDF-"):
        raise error(f"{path}: not a PDF (it does not start with %PDF-); give the PDF file")
    try:
        return PdfFileReader(io.BytesIO(data), strict=False)
    except Exception as exc:  # noqa: BLE001 - any parser failure means "not readable"
        raise error(f"{path}: not a readable PDF ({one_line(exc)}): the file is truncated "
                    "or its cross-reference table or trailer is damaged") from exc


def read_pdf(path: str | os.PathLike[str], error: type[SignersError]) -> PdfFileReader:
    """:func:`read_file` then :func:`open_pdf`: a reader of the PDF at ``path``."""
    return open_pdf(path, read_file(path), error)


def one_line(exc: BaseException, limit: int = 200) -> str:
    """The message of ``exc`` on one line, at most ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
