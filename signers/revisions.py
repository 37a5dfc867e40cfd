"""What each incremental update of a signed PDF changed, judged by pyHanko's difference
analysis through its public API (the plain path of :mod:`signers.verify`).

Each revision *r* is compared with revision *r - 1* by ``StandardDiffPolicy.apply`` (no
modification policy), once; a signature's own locks are then applied to those results:
a FieldMDP lock is broken by a step whose changed form fields it locks (exactly the
updates pyHanko's policy refuses for that lock), a certification by a step pyHanko's
policy refuses when given the certification level (one more analysis per revision, for
the certifying signature only). :class:`~signers.speedups.diffcache.FastRevisions` gives
the same facts in linear time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffPolicy,
    DiffResult,
    ModificationLevel,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.fields import FieldMDPSpec, MDPPerm

__all__ = ["PlainRevisions", "Revisions", "Step", "first_line"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    """What revision ``revision`` changed, judged against revision ``revision - 1``."""

    revision: int
    """Index of the newer revision (0 is the original document)."""
    suspicious: bool
    """The step contains changes no rule of pyHanko's policy explains."""
    level: ModificationLevel
    """Modification level of the step (``OTHER`` when suspicious)."""
    changed_fields: frozenset[str]
    """Form fields whose value the step changed (updates a field lock forbids)."""
    detail: str
    """pyHanko's complaint about a suspicious step (first line), else empty."""
    dss: bool
    """The catalog of the newer revision has a document security store."""


class Revisions(Protocol):
    """The difference analysis of one document, revision by revision."""

    @property
    def policy(self) -> DiffPolicy:
        """The policy handed to pyHanko's validation of each signature."""

    def step(self, revision: int) -> Step:
        """Revision ``revision`` against the one before it."""

    def violates(self, revision: int, field_mdp: FieldMDPSpec | None,
                 doc_mdp: MDPPerm | None) -> bool:
        """Whether the step is suspicious, or breaks the given lock or certification."""

    def close(self) -> None:
        """Let go of what the analysis keeps of the document."""


def step_of(revision: int, result: DiffResult | SuspiciousModification, dss: bool) -> Step:
    """The :class:`Step` of pyHanko's judgment ``result`` of a revision."""
    if isinstance(result, SuspiciousModification):
        return Step(revision, True, ModificationLevel.OTHER, frozenset(), first_line(result),
                    dss)
    return Step(revision, False, result.modification_level,
                frozenset(str(f) for f in result.changed_form_fields), "", dss)


def first_line(result: object) -> str:
    """The first line of pyHanko's text for ``result``."""
    text = str(result).strip()
    return text.splitlines()[0] if text else repr(result)


class PlainRevisions:
    """:class:`Revisions` through pyHanko's public API (quadratic memory in the number of
    revisions: pyHanko keeps every historical view it made)."""

    def __init__(self, reader: PdfFileReader,
                 policy: StandardDiffPolicy = DEFAULT_DIFF_POLICY) -> None:
        self.reader = reader
        self.policy = policy
        self._steps: dict[int, Step] = {}
        self._certification: dict[tuple[int, MDPPerm], bool] = {}

    def step(self, revision: int) -> Step:
        """Revision ``revision`` against the one before it (computed once)."""
        if revision not in self._steps:
            result = self._judge(revision, None)
            self._steps[revision] = step_of(revision, result, self._has_dss(revision))
        return self._steps[revision]

    def violates(self, revision: int, field_mdp: FieldMDPSpec | None,
                 doc_mdp: MDPPerm | None) -> bool:
        """pyHanko's policy, given these settings, would refuse the step."""
        step = self.step(revision)
        if step.suspicious:
            return True
        if field_mdp is not None and any(field_mdp.is_locked(f) for f in step.changed_fields):
            return True
        if doc_mdp is None:
            return False
        key = (revision, doc_mdp)
        if key not in self._certification:
            judged = self._judge(revision, doc_mdp)
            self._certification[key] = isinstance(judged, SuspiciousModification)
        return self._certification[key]

    def close(self) -> None:
        """Drop the cached judgments."""
        self._steps.clear()
        self._certification.clear()

    def _judge(self, revision: int, doc_mdp: MDPPerm | None
               ) -> DiffResult | SuspiciousModification:
        try:
            old = self.reader.get_historical_resolver(revision - 1)
            new = self.reader.get_historical_resolver(revision)
            return self.policy.apply(old, new, doc_mdp=doc_mdp)
        except SuspiciousModification as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - fail closed on malformed revisions
            log.debug("difference analysis of revision %d failed", revision, exc_info=True)
            return SuspiciousModification(
                f"difference analysis of revision {revision} failed: {exc!r}")

    def _has_dss(self, revision: int) -> bool:
        try:
            return "/DSS" in self.reader.get_historical_resolver(revision).root
        except Exception:  # noqa: BLE001 - an unreadable catalog has no usable DSS
            log.debug("cannot read the catalog of revision %d", revision, exc_info=True)
            return False
