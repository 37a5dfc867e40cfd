"""A difference-analysis policy that diffs each pair of consecutive revisions only once.

pyHanko's :class:`~pyhanko.sign.diff_analysis.StandardDiffPolicy` re-runs the analysis
of every later revision for every signature, which makes verifying *n* signatures cost
O(n²) revision diffs. The diff of revision *k* against revision *k-1* does not depend on
the signature being checked; only two checks do:

* the signature's FieldMDP lock (a changed form field that the lock covers), and
* the certification DocMDP (a form update that is not allowed after certification).

:class:`CachingDiffPolicy` therefore computes each step ``(k-1, k)`` once with no MDP
settings, records the form updates it saw, and applies each signature's own FieldMDP
and DocMDP to the cached steps. Verdicts match the standard policy's: a suspicious step
fails every signature made before it, a locked field changed after a signature fails
that signature only.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pyhanko.pdf_utils.generic import Reference
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffPolicy,
    DiffResult,
    ModificationLevel,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.diff_analysis.form_rules_api import (
    FieldComparisonContext,
    FieldComparisonSpec,
    FieldMDPRule,
    FormUpdate,
    FormUpdatingRule,
)
from pyhanko.sign.diff_analysis.rules.form_field_rules import SigFieldCreationRule
from pyhanko.sign.fields import FieldMDPAction, FieldMDPSpec, MDPPerm

from ..revisions import Step, step_of
from ._attempt import failed, guarded
from .formlist import ListingFormRule
from .refgraph import ReferenceGraph, accelerate, forget_superseded, release

__all__ = ["CachingDiffPolicy", "FastRevisions", "RevisionStep"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _SeenUpdate:
    """The MDP-relevant facts of one form update found in a revision."""

    field_name: str | None
    valid_when_locked: bool
    valid_when_certifying: bool
    ref: str


@dataclass(frozen=True)
class RevisionStep:
    """The difference analysis of revision ``revision`` against ``revision - 1``."""

    revision: int
    """Index of the newer revision (0 is the original document)."""
    result: DiffResult | SuspiciousModification
    """pyHanko's judgment of the step, computed without any MDP restriction."""
    updates: tuple[_SeenUpdate, ...] = field(default=())
    """Form updates seen in the step, for the per-signature FieldMDP/DocMDP checks."""
    dss: bool = False
    """Whether the catalog of the newer revision has a document security store."""

    @property
    def suspicious(self) -> bool:
        """Whether the step contains changes no whitelist rule explains."""
        return isinstance(self.result, SuspiciousModification)

    @property
    def level(self) -> ModificationLevel:
        """Modification level of the step (``OTHER`` when suspicious)."""
        if isinstance(self.result, DiffResult):
            return self.result.modification_level
        return ModificationLevel.OTHER

    @property
    def changed_fields(self) -> frozenset[str]:
        """Form fields changed in the step (changes not valid when locked)."""
        if isinstance(self.result, DiffResult):
            return frozenset(self.result.changed_form_fields)
        return frozenset()

    def mdp_violation(self, field_mdp: FieldMDPSpec | None,
                      doc_mdp: MDPPerm | None) -> SuspiciousModification | None:
        """The error pyHanko's standard policy would raise for these MDP settings."""
        if field_mdp is not None:
            for name, ref in self._unlockable:
                if _is_locked(field_mdp, name):
                    return SuspiciousModification(
                        f"Update of {ref} in revision {self.revision} is not allowed "
                        f"because the form field {name} is locked.")
        if doc_mdp is not None and self._breaks_certification is not None:
            return SuspiciousModification(
                f"Update of {self._breaks_certification} in revision {self.revision} is "
                "only allowed after an approval signature, not a certification signature.")
        return None

    @cached_property
    def _unlockable(self) -> tuple[tuple[str, str], ...]:
        """(field, ref) of the first update of each field that a lock forbids."""
        seen: dict[str, str] = {}
        for upd in self.updates:
            if upd.field_name is not None and not upd.valid_when_locked:
                seen.setdefault(upd.field_name, upd.ref)
        return tuple(seen.items())

    @cached_property
    def _breaks_certification(self) -> str | None:
        """The first update not allowed after a certification signature, if any."""
        return next((u.ref for u in self.updates if not u.valid_when_certifying), None)


_SCOPES: dict[int, tuple[weakref.ref[FieldMDPSpec], frozenset[str] | None]] = {}
"""The scoped field names of each FieldMDP policy alive, as a set of plain strings
(``None``: not all names are strings, pyHanko judges). The names are copied: a name
read from the file refers to its reader, which would keep the whole parsed document in
memory after the check (in a long-running process, one document per verification)."""


def _is_locked(field_mdp: FieldMDPSpec, name: str) -> bool:
    """``field_mdp.is_locked(name)``, without going through the list of scoped names:
    a scoped name covers the field of that name and the fields below it, so the field
    is in scope when its name, or one of the dotted prefixes of its name, is in the set.
    Every signature's lock names every other field, so pyHanko's list scan for each
    signature and each later revision made the lock checks grow as n³."""
    if field_mdp.action == FieldMDPAction.ALL:
        return True
    scope = _scope(field_mdp)
    if scope is None or not isinstance(name, str):
        return field_mdp.is_locked(name)
    in_scope = name in scope or ("." in name and any(
        name[:i] in scope for i, c in enumerate(name) if c == "."))
    lock_result = field_mdp.action == FieldMDPAction.INCLUDE
    return lock_result if in_scope else not lock_result


def _scope(field_mdp: FieldMDPSpec) -> frozenset[str] | None:
    known = _SCOPES.get(id(field_mdp))
    if known is not None and known[0]() is field_mdp:
        return known[1]
    names = list(field_mdp.fields or ())
    scope = frozenset(map(str, names)) if all(isinstance(n, str) for n in names) else None
    key = id(field_mdp)
    _SCOPES[key] = (weakref.ref(field_mdp, lambda _: _SCOPES.pop(key, None)), scope)
    return scope


class _RecordingFormRule(ListingFormRule):
    """A copy of a form rule that records every form update it yields; when
    accelerated, it lists fields cheaply (:class:`~signers.formlist.ListingFormRule`) and
    spares its field-modification rules the signature fields a revision did not touch."""

    def __init__(self, inner: FormUpdatingRule, fast: bool) -> None:
        rules = [r if isinstance(r, SigFieldCreationRule) or not fast
                 else _UntouchedSigFieldsSkipped(r) for r in inner.field_rules]
        super().__init__(field_rules=rules, ignored_acroform_keys=inner.ignored_acroform_keys)
        self._fast = fast
        # the creation rule ignores fields that both revisions list; the others skip them
        self.skip_untouched_sig_fields = fast and all(
            type(r) is SigFieldCreationRule or isinstance(r, _UntouchedSigFieldsSkipped)
            for r in rules)
        self.seen: list[FormUpdate] = []

    def apply(self, old: HistoricalResolver,
              new: HistoricalResolver) -> Iterator[tuple[ModificationLevel, FormUpdate]]:
        source = (ListingFormRule.apply(self, old, new) if self._fast
                  else FormUpdatingRule.apply(self, old, new))
        for level, upd in source:
            self.seen.append(upd)
            yield level, upd


class _UntouchedSigFieldsSkipped(FieldMDPRule):
    """Runs a field-modification rule on every field except signature fields whose
    dictionary the new revision does not rewrite.

    For such a field pyHanko's modification rules only yield updates of the field
    dictionary itself, valid when locked; the dictionary is not among the revision's
    objects, so those updates explain nothing and change no verdict. Skipping them
    removes the per-revision cost proportional to the number of fields."""

    def __init__(self, inner: FieldMDPRule) -> None:
        self._inner = inner

    def apply(self, context: FieldComparisonContext
              ) -> Iterable[tuple[ModificationLevel, FormUpdate]]:
        written = context.new.explicit_refs_in_revision()
        specs = {name: spec for name, spec in context.field_specs.items()
                 if not _untouched_sig_field(spec, written)}
        return self._inner.apply(dataclasses.replace(context, field_specs=specs))


def _untouched_sig_field(spec: FieldComparisonSpec, written: set[Any]) -> bool:
    old, new = spec.old_field_ref, spec.new_field_ref
    return (spec.field_type == "/Sig" and old is not None and new is not None
            and old == new and new not in written)


class CachingDiffPolicy(DiffPolicy):
    """A :class:`DiffPolicy` giving the standard policy's verdicts in linear time.

    Use one instance per document: the cache is keyed by revision and is reset when
    the policy sees a different reader. With ``accelerate`` (the default) the reader is
    given memoised xref lookups and a parse cache (see :func:`signers.refgraph.accelerate`),
    and the reverse cross-reference maps come from :class:`~signers.refgraph.ReferenceGraph`."""

    def __init__(self, base: StandardDiffPolicy = DEFAULT_DIFF_POLICY, *,
                 accelerate: bool = True) -> None:
        self._base = base
        self._accelerate = accelerate
        self._reader: PdfFileReader | None = None
        self._graph: ReferenceGraph | None = None
        self._steps: dict[int, RevisionStep] = {}

    def apply(self, old: HistoricalResolver, new: HistoricalResolver,
              field_mdp_spec: FieldMDPSpec | None = None,
              doc_mdp: MDPPerm | None = None) -> DiffResult:
        """Same as the base policy (no caching for arbitrary revision pairs)."""
        return self._base.apply(old, new, field_mdp_spec=field_mdp_spec, doc_mdp=doc_mdp)

    @guarded("CachingDiffPolicy.review_file")
    def review_file(self, reader: PdfFileReader, base_revision: int | HistoricalResolver,
                    field_mdp_spec: FieldMDPSpec | None = None,
                    doc_mdp: MDPPerm | None = None) -> DiffResult | SuspiciousModification:
        """Combine the cached steps after ``base_revision`` and apply the MDP settings."""
        base_no = base_revision if isinstance(base_revision, int) else base_revision.revision
        changed: set[str] = set()
        level = ModificationLevel.NONE
        for revision in range(base_no + 1, reader.xrefs.total_revisions):
            step = self.step(reader, revision)
            if isinstance(step.result, SuspiciousModification):
                return step.result
            violation = step.mdp_violation(field_mdp_spec, doc_mdp)
            if violation is not None:
                return violation
            level = max(level, step.result.modification_level)
            changed |= step.result.changed_form_fields
        return DiffResult(level, changed)

    def forget(self) -> None:
        """Drop the cached steps and the reference graph (the next use starts afresh)."""
        self._reader, self._steps, self._graph = None, {}, None

    def steps(self, reader: PdfFileReader) -> list[RevisionStep]:
        """Every step of the file, revision 1 to the last (computed on demand)."""
        return [self.step(reader, r) for r in range(1, reader.xrefs.total_revisions)]

    @guarded("CachingDiffPolicy.step")
    def step(self, reader: PdfFileReader, revision: int) -> RevisionStep:
        """The cached analysis of ``revision`` against ``revision - 1``."""
        if reader is not self._reader:
            self._reader, self._steps, self._graph = reader, {}, None
            if self._accelerate:
                accelerate(reader)
                self._graph = _graph_for(reader)
        if revision not in self._steps:
            self._steps[revision] = self._compute(reader, revision)
        return self._steps[revision]

    def _compute(self, reader: PdfFileReader, revision: int) -> RevisionStep:
        form_rule = self._base.form_rule
        fast = (self._accelerate and reader.security_handler is None
                and not _rewrites_object_streams(reader, revision))
        recorder = _RecordingFormRule(form_rule, fast) if form_rule else None
        policy = StandardDiffPolicy(
            global_rules=self._base.global_rules, form_rule=recorder,
            reject_object_freeing=self._base.reject_object_freeing,
            ignore_orphaned_objects=self._base.ignore_orphaned_objects,
            ignore_identical_objects=self._base.ignore_identical_objects)
        old = reader.get_historical_resolver(revision - 1)
        new = reader.get_historical_resolver(revision)
        result: DiffResult | SuspiciousModification
        try:
            self._install_paths(old)
            result = policy.apply(old, new)
        except SuspiciousModification as exc:
            result = exc
        except Exception as exc:  # noqa: BLE001 - fail closed on malformed revisions
            failed(f"difference analysis of revision {revision}", exc)
            result = SuspiciousModification(
                f"difference analysis of revision {revision} failed: {exc!r}")
        finally:
            if self._graph is not None:
                self._graph.release(old)
        seen = recorder.seen if recorder else []
        step = RevisionStep(revision, result, tuple(_seen(u) for u in seen), _has_dss(new))
        if self._accelerate:
            forget_superseded(reader, revision)
        return step


    def _install_paths(self, old: HistoricalResolver) -> None:
        if self._graph is None:
            return
        try:
            self._graph.install(old)
        except Exception as exc:  # noqa: BLE001 - pyHanko then builds the map itself
            failed(f"reference graph of revision {old.revision}", exc)
            self._graph = None


def _rewrites_object_streams(reader: PdfFileReader, revision: int) -> bool:
    """Whether ``revision`` stores objects in an object stream that existed before (then
    an object not listed in the revision may still have changed)."""
    old = reader.get_historical_resolver(revision - 1)
    return any(not old.is_ref_unassignable(Reference(ref.idnum, ref.generation))
               for ref in reader.xrefs.object_streams_used_in(revision))


def _graph_for(reader: PdfFileReader) -> ReferenceGraph | None:
    try:
        return ReferenceGraph(reader)
    except ValueError:
        return None


def _has_dss(view: HistoricalResolver) -> bool:
    try:
        return "/DSS" in view.root
    except Exception:  # noqa: BLE001 - an unreadable catalog has no usable DSS
        log.debug("cannot read the catalog of revision %d", view.revision, exc_info=True)
        return False


def _seen(upd: FormUpdate) -> _SeenUpdate:
    ref: Any = upd.updated_ref
    return _SeenUpdate(upd.field_name, upd.valid_when_locked, upd.valid_when_certifying,
                       repr(ref))


class FastRevisions:
    """:class:`~signers.revisions.Revisions` through :class:`CachingDiffPolicy`: the
    facts :class:`~signers.revisions.PlainRevisions` gives, in linear time."""

    def __init__(self, reader: PdfFileReader,
                 base: StandardDiffPolicy = DEFAULT_DIFF_POLICY) -> None:
        self.reader = reader
        self.policy = CachingDiffPolicy(base)
        self._facts: dict[int, Step] = {}

    def step(self, revision: int) -> Step:
        """Revision ``revision`` against the one before it."""
        if revision not in self._facts:
            step = self.policy.step(self.reader, revision)
            self._facts[revision] = step_of(revision, step.result, step.dss)
        return self._facts[revision]

    def violates(self, revision: int, field_mdp: FieldMDPSpec | None,
                 doc_mdp: MDPPerm | None) -> bool:
        """Whether the step is suspicious, or breaks the given lock or certification."""
        step = self.policy.step(self.reader, revision)
        return step.suspicious or step.mdp_violation(field_mdp, doc_mdp) is not None

    def close(self) -> None:
        """Free the parsed document now (the report holds plain values only)."""
        self._facts.clear()
        self.policy.forget()
        release(self.reader)
