"""The official SEDA 2.3 and ETSI schemas shipped with ctgdocs, and offline validation.

Schemas are loaded once per process, with a resolver that serves the two W3C schemas
SEDA and TS 119 612 import by their http addresses from the local copies, and a parser
that refuses any network access: validating never leaves the machine.
"""

from __future__ import annotations

import functools
from pathlib import Path

from lxml import etree

__all__ = ["SCHEMAS_DIR", "XmlInvalid", "etsi_report_schema", "parse", "seda_schema",
           "trusted_list_schema", "validate"]

SCHEMAS_DIR = Path(__file__).resolve().parent
"""Folder of the schemas (``seda-2.3/``, ``etsi/``, ``w3c/``)."""
_W3C = {"http://www.w3.org/2001/xml.xsd": "xml.xsd",
        "http://www.w3.org/XML/1998/xml.xsd": "xml.xsd",
        "http://www.w3.org/1999/xlink.xsd": "xlink.xsd"}


class XmlInvalid(ValueError):
    """An XML document does not conform to its schema (``problems``: each error with
    its line)."""

    def __init__(self, message: str, problems: list[str]) -> None:
        super().__init__(message)
        self.problems = problems


class _OfflineResolver(etree.Resolver):  # type: ignore[misc]
    def resolve(self, url: str, pubid: str | None, context: object) -> object:
        if url in _W3C:
            return self.resolve_filename(str(SCHEMAS_DIR / "w3c" / _W3C[url]), context)
        if url.startswith(("http://", "https://", "ftp://")):
            raise etree.XMLSchemaParseError(f"network access refused for {url}")
        return None  # local file: the default loader


def _parser() -> etree.XMLParser:
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    parser.resolvers.add(_OfflineResolver())
    return parser


def _load(relative: str) -> etree.XMLSchema:
    tree = etree.parse(str(SCHEMAS_DIR / relative), _parser())
    return etree.XMLSchema(tree)


@functools.cache
def seda_schema() -> etree.XMLSchema:
    """SEDA 2.3 (``ArchiveTransfer`` and the other messages)."""
    return _load("seda-2.3/seda-2.3-main.xsd")


@functools.cache
def etsi_report_schema() -> etree.XMLSchema:
    """ETSI TS 119 102-2 validation reports."""
    return _load("etsi/ts_11910202.xsd")


@functools.cache
def trusted_list_schema() -> etree.XMLSchema:
    """ETSI TS 119 612 trusted lists."""
    return _load("etsi/ts_119612.xsd")


def parse(data: bytes, name: str) -> etree._Element:
    """Parse ``data`` (the file ``name``) without network or entities; :class:`XmlInvalid`
    when it is not well-formed XML."""
    try:
        return etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise XmlInvalid(f"{name}: not well-formed XML ({exc})", [str(exc)]) from exc


def validate(data: bytes | etree._Element, schema: etree.XMLSchema, name: str) -> None:
    """Raise :class:`XmlInvalid` listing every schema error of ``data`` (the file
    ``name``)."""
    root = parse(data, name) if isinstance(data, bytes) else data
    if schema.validate(root):
        return
    problems = [f"{name}:{e.line}: {e.message}" for e in schema.error_log]  # type: ignore[attr-defined]
    raise XmlInvalid(f"{name}: does not conform to its schema ({problems[0]})", problems)
