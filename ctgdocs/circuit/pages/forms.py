"""The pages' forms: small URL-encoded forms, the signed PDF's upload (multipart, read as
it arrives and refused as soon as it is too large) and their CSRF tokens."""

from __future__ import annotations

import urllib.parse
from typing import Any

from starlette.requests import Request

from signers.circuit.errors import TooLarge, UnsupportedMedia

from ..web import csrf_token, csrf_valid

__all__ = ["CSRF_FIELD", "FormRefused", "Forbidden", "UploadReader", "check_csrf",
           "csrf_for", "read_form"]

CSRF_FIELD = "csrf"
"""Name of the CSRF field of every form."""
FORM_LIMIT = 64 * 1024
"""Largest URL-encoded form (a reason is at most 2,000 characters)."""
FRAMING = 64 * 1024
"""Bytes allowed beyond the upload limit for the multipart framing and the small fields."""
DRAIN = 2
"""A too large upload is read (and thrown away) up to this many times the limit before
the answer, so that the browser shows the answer instead of a broken connection; a body
declared larger still is answered at once."""
_FIELD_LIMIT = 4096


class FormRefused(Exception):
    """A form that cannot be read (status 400, 413 or 415)."""

    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.status = status
        self.code = code


class Forbidden(Exception):
    """A form without the CSRF token of its link (403; nothing is done)."""


def csrf_for(request: Request, token: str) -> str:
    """The CSRF token of the forms of the link ``token``."""
    return csrf_token(request.app.state.engine.secret, token, "pages")


def check_csrf(request: Request, token: str, presented: str | None) -> None:
    """:class:`Forbidden` unless ``presented`` is the CSRF token of ``token``'s forms."""
    if not csrf_valid(request.app.state.engine.secret, token, presented, "pages"):
        raise Forbidden("missing or wrong CSRF token")


def _declared(request: Request) -> int | None:
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


async def read_form(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form (each name once: the last value wins; a POST
    without a body is an empty form)."""
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if ctype not in ("application/x-www-form-urlencoded", ""):
        raise FormRefused(415, "bad-request")
    declared = _declared(request)
    if declared is not None and declared > FORM_LIMIT:
        raise FormRefused(413, "bad-request")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > FORM_LIMIT:
            raise FormRefused(413, "bad-request")
    if not ctype and body:
        raise FormRefused(415, "bad-request")
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                       max_num_fields=30)
    except (UnicodeDecodeError, ValueError):
        raise FormRefused(400, "bad-request") from None
    return dict(pairs)


class UploadReader:
    """Reads a ``multipart/form-data`` upload of one PDF file and small fields as the
    body arrives: :class:`TooLarge` as soon as the file exceeds ``limit`` bytes (its
    fields read so far stay in :attr:`fields`), :class:`UnsupportedMedia` when it is
    not a PDF, :class:`FormRefused` for a malformed form."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.fields: dict[str, str] = {}
        """The small fields read (the CSRF token comes before the file)."""
        self.filename: str | None = None
        """The file's name as sent."""
        self._data = bytearray()
        self._body = bytearray()
        self._part: dict[str, str] = {}
        self._header = [b"", b""]

    async def read(self, request: Request) -> bytes:
        """The uploaded file's bytes."""
        from python_multipart.multipart import MultipartParser, parse_options_header

        ctype, params = parse_options_header(request.headers.get("content-type"))
        if ctype != b"multipart/form-data" or not params.get(b"boundary"):
            raise FormRefused(415, "bad-request")
        declared = _declared(request)
        cap = self.limit * DRAIN + FRAMING
        if declared is not None and declared > cap:
            raise TooLarge("too-large", f"{declared} bytes declared", limit=self.limit)
        try:
            parser = MultipartParser(params[b"boundary"], self._callbacks())
        except ValueError:
            raise FormRefused(400, "bad-request") from None
        failure, seen = None, 0
        async for chunk in request.stream():
            seen += len(chunk)
            if seen > cap:
                failure = "too-large"
                break
            if failure is None:
                failure = _write(parser, chunk)
        if failure is None:
            failure = _write(parser, None)
        if failure == "too-large":
            raise TooLarge("too-large", f"more than {self.limit} bytes", limit=self.limit)
        if failure is not None:
            raise FormRefused(400, "bad-request")
        return self._file()

    def _file(self) -> bytes:
        if self.filename is None or not self._data:
            raise FormRefused(400, "no-file")
        data = bytes(self._data)
        if not data.startswith(b"%PDF-"):
            raise UnsupportedMedia("not-pdf", "the file does not start with %PDF-")
        return data

    def _callbacks(self) -> Any:
        def header_field(data: bytes, start: int, end: int) -> None:
            self._header[0] += data[start:end]

        def header_value(data: bytes, start: int, end: int) -> None:
            self._header[1] += data[start:end]

        def header_end() -> None:
            name, value = (x.decode("latin-1") for x in self._header)
            if name.strip().lower() == "content-disposition":
                self._part = _disposition(value.strip())
            self._header[:] = [b"", b""]

        def part_begin() -> None:
            self._part, self._body = {}, bytearray()

        def headers_finished() -> None:
            if "filename" in self._part:
                if self.filename is not None:
                    raise ValueError("one file only")
                self.filename = self._part["filename"]

        def part_data(data: bytes, start: int, end: int) -> None:
            if "filename" in self._part:
                self._data += data[start:end]
                if len(self._data) > self.limit:
                    raise _TooLargeSignal("file over the limit")
                return
            self._body += data[start:end]
            if len(self._body) > _FIELD_LIMIT:
                raise ValueError("field too long")

        def part_end() -> None:
            name = self._part.get("name")
            if "filename" not in self._part and name is not None and len(self.fields) < 10:
                self.fields[name] = bytes(self._body).decode("utf-8", "replace")

        return {"on_header_field": header_field, "on_header_value": header_value,
                "on_header_end": header_end, "on_part_begin": part_begin,
                "on_headers_finished": headers_finished, "on_part_data": part_data,
                "on_part_end": part_end}


class _TooLargeSignal(ValueError):
    """Raised inside the parser's callbacks to stop at the size limit."""


def _write(parser: Any, chunk: bytes | None) -> str | None:
    """Feed ``chunk`` to ``parser`` (``None``: the end); what went wrong, if anything."""
    try:
        if chunk is None:
            parser.finalize()
        else:
            parser.write(chunk)
    except _TooLargeSignal:
        return "too-large"
    except ValueError:
        return "malformed"
    return None


def _disposition(value: str) -> dict[str, str]:
    """The parameters of a ``Content-Disposition: form-data; name=…; filename=…``."""
    from python_multipart.multipart import parse_options_header

    _, params = parse_options_header(value)
    return {k.decode("latin-1"): v.decode("utf-8", "replace") for k, v in params.items()}
