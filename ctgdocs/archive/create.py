"""``ctg archive``: turn a signed convention into an evidence bundle.

The orchestrator reads like the bundle's table: bring the PDF to PAdES B-LTA, judge it
(revisions and signers with :func:`signers.verify.verify_document`, every signature as
pyHanko's long-term validation judges it), write the ETSI report, the French report, the
journal and trusted lists, the SEDA bordereau, the manifest and its token — in memory —
then the bundle at once (:func:`~ctgdocs.archive.layout.write_bundle`). Any refusal
happens before anything is written.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..exceptions import ArchiveError
from ..signatories import SEAL_FIELD, expected_for_package
from . import inputs
from .layout import (
    BORDEREAU,
    HUMAN_REPORT,
    LISTS,
    MANIFEST,
    MANIFEST_TOKEN,
    PDF,
    VALIDATION_REPORT,
    Bundle,
    write_bundle,
)
from .manifest import build_manifest, file_entry
from .model import ArchivedSignature, ArchiveOptions, BundleResult
from .seda import Agency, Transfer, build_bordereau

if TYPE_CHECKING:
    from signers.ltv_validation import LongTermReport, LongTermSignature
    from signers.model import ExpectedSigner
    from signers.report import DocumentReport

    from ..model import Convention

__all__ = ["create_bundle"]

log = logging.getLogger(__name__)


def create_bundle(signed: str | Path, options: ArchiveOptions,
                  say: Callable[[str], None] = lambda _: None) -> BundleResult:
    """Archive the signed convention ``signed``; ``say`` gets one line per step.

    Raises :class:`~ctgdocs.exceptions.ArchiveError` (nothing written) when the package
    does not verify, is incomplete without ``allow_incomplete``, or a journal or trusted
    list does not hold; :class:`~signers.exceptions.SigningError` when the timestamping
    authority fails."""
    pdf = Path(signed)
    inputs.require_file(pdf)
    dest = options.output or inputs.default_output(pdf, options.zip)
    if dest.exists():
        from ..exceptions import InputError

        raise InputError(f"{dest}: already exists; choose another output (-o) or remove it")
    if not options.tsa_url:
        raise ArchiveError("no timestamping authority: the archive timestamp and the "
                           "manifest token need one, pass --tsa URL")
    roots = inputs.load_roots(options.trust)
    conv, data = inputs.convention_for(pdf, options.data)
    expected = expected_for_package(pdf, data) or []
    journal = inputs.journal_for(pdf, options.journal, roots)
    lists = inputs.trusted_lists_for(options.trusted_lists, roots)
    with tempfile.TemporaryDirectory(prefix="ctg-archive-") as tmp:
        work = Path(tmp)
        lta = _long_term(pdf, work / PDF, options.tsa_url, roots, say)
        structure, judged = _judge(lta, expected, roots, lists, say)
        missing = _missing(structure, judged, expected)
        _refuse_unless_archivable(pdf, structure, judged, missing, options.allow_incomplete)
        signatures = _archived(structure, judged, expected)
        bundle = Bundle(zip=options.zip)
        bundle.put(PDF, lta.read_bytes())
        labels = [next((e.label for e in expected if e.field == f), f) for f in missing]
        _reports(bundle, conv, signatures, labels, judged, roots, lists, journal, work, say)
        if journal is not None:
            for name, data_ in journal.files.items():
                bundle.put(name, data_)
        for info in lists.lists if lists else ():
            bundle.put(f"{LISTS}/{Path(info.path).name}", Path(info.path).read_bytes())
        transfer = _transfer(conv, signatures, judged, options)
        bundle.put(BORDEREAU, _validated_bordereau(build_bordereau(transfer, bundle)))
        _seal_manifest(bundle, _record(conv, data, signatures, roots, journal, lists, judged),
                       options.tsa_url, roots)
        write_bundle(bundle, dest)
    say(f"bundle written: {dest}")
    stamp = judged.timestamps[-1].info
    return BundleResult(dest, tuple(file_entry(p, bundle.files[p]) for p in bundle.content()
                                    + [BORDEREAU]),
                        tuple(signatures), stamp.time, stamp.tsa_expires,
                        not missing, tuple(missing),
                        journal.events if journal else 0)


def _long_term(pdf: Path, out: Path, tsa: str, roots: Sequence[Any],
               say: Callable[[str], None]) -> Path:
    from signers.exceptions import VerificationError
    from signers.ltv import add_long_term_validation

    try:
        result = add_long_term_validation(pdf, out, tsa_url=tsa, trust_roots=roots)
    except VerificationError as exc:
        raise ArchiveError(f"{pdf} cannot be archived: {exc}") from exc
    say(f"validation data of {len(result.covered)} signatures and a document timestamp "
        f"added (PAdES B-LTA, {result.timestamp.time.isoformat()})")
    return out


def _judge(lta: Path, expected: list[ExpectedSigner], roots: Sequence[Any], lists: Any,
           say: Callable[[str], None]) -> tuple[DocumentReport, LongTermReport]:
    from signers.ltv_validation import validate_long_term
    from signers.verify import verify_document

    structure = verify_document(lta, expected=expected or None, trust_roots=list(roots),
                                offline=True)
    judged = validate_long_term(lta, trust_roots=roots, etsi_report=True, trusted_lists=lists,
                                seals=(SEAL_FIELD,))
    say(f"{sum(s.passed for s in judged.signatures)} of {len(judged.signatures)} signatures "
        "valid in long-term validation (offline, from the file's own data)")
    return structure, judged


_STRUCTURE_PROBLEMS = ("the signed bytes", "the signature value", "the signature does not "
                       "cover", "illegitimate change", "a later change", "wrong signer",
                       "the signature violates", "the signature cannot be parsed")


def _missing(structure: DocumentReport, judged: LongTermReport,
             expected: list[ExpectedSigner]) -> list[str]:
    """Expected signatories without a signature that holds: by the right person
    (:func:`~signers.verify.verify_document`) and valid in long-term validation (a
    certificate revoked after signing does not make it missing)."""
    passed = {s.field for s in judged.signatures if s.passed}
    matched = {s.field for s in structure.signatures
               if s.kind == "signature" and s.signer_matches is not False}
    return [e.field for e in expected if e.field not in passed & matched]


def _refuse_unless_archivable(pdf: Path, structure: DocumentReport, judged: LongTermReport,
                              missing: list[str], allow_incomplete: bool) -> None:
    """Refuse on anything about the document, the revisions, who signed, or a signature
    that long-term validation does not pass; revocation and trust are judged by the
    latter, as of each signature's own time."""
    problems = [f"document: {p}" for p in (*structure.problems, *structure.tampering)]
    for s in structure.signatures:
        problems += [f"signature {s.field}: {p}" for p in s.problems
                     if p.startswith(_STRUCTURE_PROBLEMS)]
    problems += [f"signature {f}: no signatory is expected in this field"
                 for f in structure.unexpected]
    problems += [f"signature {s.field}: {s.indication}/{s.subindication}: {s.message}"
                 for s in judged.signatures if not s.passed]
    problems += [f"document timestamp {t.field}: {t.indication}/{t.subindication}: "
                 f"{t.message}" for t in judged.timestamps if not t.passed]
    if missing and not allow_incomplete:
        problems.append(f"incomplete: not signed by {', '.join(missing)} "
                        "(--allow-incomplete archives it anyway)")
    if problems:
        raise ArchiveError(f"{pdf} cannot be archived:\n  " + "\n  ".join(problems))


def _archived(structure: DocumentReport, judged: LongTermReport,
              expected: list[ExpectedSigner]) -> list[ArchivedSignature]:
    levels = {s.field: s.pades_level for s in structure.signatures}
    by_field = {e.field: e for e in expected}
    return [_one(s, levels.get(s.field), by_field.get(s.field)) for s in judged.signatures]


def _one(s: LongTermSignature, level: str | None,
         exp: ExpectedSigner | None) -> ArchivedSignature:
    return ArchivedSignature(
        field=s.field, signatory=exp.label if exp else None,
        organisation=exp.extra.get("organisation") if exp else None, holder=s.signer,
        subject=s.subject, issuer=s.issuer, fingerprint=s.fingerprint, reason=s.reason,
        claimed_time=s.claimed_time, timestamp_time=s.timestamp.time if s.timestamp else None,
        tsa=s.timestamp.tsa if s.timestamp else None, level=level, indication=s.indication,
        subindication=s.subindication, revoked_at=s.revoked_at,
        qualification=s.qualification.status.value if s.qualification else "not assessed")


def _reports(bundle: Bundle, conv: Convention, signatures: list[ArchivedSignature],
             missing: list[str], judged: LongTermReport, roots: Sequence[Any],
             lists: Any, journal: inputs.ArchivedJournal | None, work: Path,
             say: Callable[[str], None]) -> None:
    from .report import ReportFacts, render_report, report_context
    from .schemas import etsi_report_schema, validate

    xml = judged.etsi_report.encode("utf-8")
    validate(xml, etsi_report_schema(), VALIDATION_REPORT)
    bundle.put(VALIDATION_REPORT, xml)
    pdf = bundle.get(PDF)
    assert pdf is not None
    stamp = judged.timestamps[-1].info
    facts = ReportFacts(
        document=file_entry(bundle.path(PDF), pdf), pages=_pages(pdf),
        archived_at=stamp.time, tsa=stamp.tsa, renewal_due=stamp.tsa_expires,
        anchors=[(a["subject"], a["sha256"]) for a in inputs.anchor_lines(roots)],
        lists=[f"{Path(i.path).name} ({i.name}, {i.territory})" for i in lists.lists]
        if lists else [],
        missing=missing,
        journal=(journal.events, journal.tokens, journal.head) if journal else None)
    out = work / HUMAN_REPORT
    render_report(report_context(conv, signatures, facts), out)
    bundle.put(HUMAN_REPORT, out.read_bytes())
    say("validation report (ETSI TS 119 102-2) and signature report (PDF/A) written")


def _pages(pdf: bytes) -> int:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(pdf), strict=False).root["/Pages"]["/Count"])


def _validated_bordereau(xml: bytes) -> bytes:
    from .schemas import seda_schema, validate

    validate(xml, seda_schema(), BORDEREAU)
    return xml


def _transfer(conv: Convention, signatures: list[ArchivedSignature], judged: LongTermReport,
              options: ArchiveOptions) -> Transfer:
    from ..model import slugify
    from .report import qualification_label

    now = dt.datetime.now(dt.UTC)
    caf = Agency(slugify(conv.caf.short_name), conv.caf.name)
    transferring = Agency(options.transferring_agency) if options.transferring_agency else caf
    archival = Agency(options.archival_agency) if options.archival_agency else caf
    parties = [conv.caf.name, conv.epci.name, *(f"Commune {_de(c.name)}" for c in conv.communes),
               *(p.name for p in conv.partners)]
    keywords = [("convention territoriale globale", "subject"), ("CTG", "subject"),
                *((f.label, "subject") for f in conv.fields),
                (conv.territory, "geogname"), *((c.name, "geogname") for c in conv.communes),
                *((p, "corpname") for p in parties)]
    stamps = [(t.info.time, t.info.tsa) for t in judged.timestamps]
    return Transfer(
        identifier=f"{conv.id}-{now:%Y%m%dT%H%M%SZ}", date=now,
        comment=f"Versement de la {conv.title} signée électroniquement, avec ses preuves "
        "(paquet produit par ctgdocs)", title=conv.title,
        description=f"Convention territoriale globale {conv.period.start}-{conv.period.end} "
        f"entre la {conv.caf.name}, la {conv.epci.name} et ses {len(conv.communes)} communes",
        reference=conv.id, start=dt.date(conv.period.start, 1, 1),
        end=dt.date(conv.period.end, 12, 31), territory=conv.territory, keywords=keywords,
        parties=parties, originating=caf, submission=transferring, archival=archival,
        transferring=transferring, signatures=signatures,
        signing_types={s.field: qualification_label(s.qualification) for s in signatures},
        validator=_generator(), validated=judged.evaluated_time, archive_timestamps=stamps,
        events=[("Archivage", stamps[-1][0], "Archivage du document signé au niveau PAdES "
                 f"B-LTA : données de validation de chaque signature intégrées et horodatage "
                 f"d'archive par {stamps[-1][1]}")])


def _de(name: str) -> str:
    from ..model import de

    return de(name)


def _generator() -> str:
    from importlib.metadata import version

    return f"ctgdocs {version('ctgdocs')} (pyHanko {version('pyHanko')})"


def _record(conv: Convention, data: Path, signatures: list[ArchivedSignature],
            roots: Sequence[Any], journal: inputs.ArchivedJournal | None, lists: Any,
            judged: LongTermReport) -> dict[str, Any]:
    import hashlib

    stamp = judged.timestamps[-1].info
    return {
        "created": dt.datetime.now(dt.UTC).isoformat(), "generator": _generator(),
        "convention": {"id": conv.id, "title": conv.title,
                       "data_sha256": hashlib.sha256(data.read_bytes()).hexdigest()},
        "document": {"path": PDF, "archive_timestamp": stamp.time.isoformat(),
                     "tsa": stamp.tsa, "renew_before": stamp.tsa_expires.isoformat()},
        "signatures": [{"field": s.field, "signatory": s.signatory, "holder": s.holder,
                        "fingerprint": s.fingerprint,
                        "timestamp": s.timestamp_time.isoformat() if s.timestamp_time else None,
                        "qualification": s.qualification} for s in signatures],
        "trust_anchors": inputs.anchor_lines(roots),
        "journal": None if journal is None else {
            "events": journal.events, "tokens": journal.tokens, "head": journal.head},
        "trusted_lists": [{"file": f"{LISTS}/{Path(i.path).name}", "sha256": i.sha256,
                           "territory": i.territory, "list_of_lists": i.list_of_lists}
                          for i in (lists.lists if lists else ())],
        "renewals": [],
    }


def _seal_manifest(bundle: Bundle, record: dict[str, Any], tsa: str,
                   roots: Sequence[Any]) -> None:
    from signers.ltv import timestamp_data
    from signers.tokens import check_timestamp_token

    manifest = build_manifest(bundle, record)
    token = timestamp_data(manifest, tsa)
    _, problem = check_timestamp_token(token, manifest, roots)
    if problem:
        raise ArchiveError(f"the manifest token from {tsa} does not hold: {problem}")
    bundle.put(MANIFEST, manifest)
    bundle.put(MANIFEST_TOKEN, token)
