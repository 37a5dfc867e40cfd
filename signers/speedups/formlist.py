"""pyHanko's form-updating rule with a cheaper field listing, for per-revision diffs.

``FormUpdatingRule.apply`` lists every form field of both revisions by copying each
field dictionary into the revision's view (``HistoricalResolver`` "subsumes" objects),
only to read ``/T``, ``/FT`` and ``/Kids``. With *n* fields and *n* revisions that is
O(n²) copies. :class:`ListingFormRule` reads those three entries from the parsed object
version instead and hands the rules the same :class:`FieldComparisonSpec` records (with
references bound to the revision's view); it also keeps each revision's list of
top-level fields, so that the next revision's list reads only the fields that revision
writes (:func:`_listing`). Everything else is pyHanko's code, unchanged.
"""

from __future__ import annotations

import weakref
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import HistoricalResolver, RawPdfPath
from pyhanko.sign.diff_analysis.commons import (
    compare_dicts,
    compare_key_refs,
    qualify_transforming,
)
from pyhanko.sign.diff_analysis.form_rules_api import (
    FieldComparisonContext,
    FieldComparisonSpec,
    FormUpdate,
    FormUpdatingRule,
)
from pyhanko.sign.diff_analysis.policy_api import ModificationLevel, SuspiciousModification
from pyhanko.sign.diff_analysis.rules_api import Context

__all__ = ["ListingFormRule"]


class ListingFormRule(FormUpdatingRule):
    """``FormUpdatingRule`` whose field listing does not copy every field dictionary.

    With ``skip_untouched_sig_fields``, the rules are not given the signature fields that
    both revisions list at the same place, with the same type, and that the new
    revision does not rewrite: pyHanko's signature-field creation rule and the
    field-modification rules (when they skip such fields, as
    :class:`~signers.diffcache.CachingDiffPolicy` has them do) yield nothing for those,
    and listing them cost each revision time in proportion to the number of fields."""

    skip_untouched_sig_fields = False

    def apply(self, old: HistoricalResolver,
              new: HistoricalResolver) -> Iterable[tuple[ModificationLevel, FormUpdate]]:
        """Same as :meth:`FormUpdatingRule.apply` (pyHanko 0.38)."""
        acroform_context = Context.from_absolute(old, RawPdfPath('/Root', '/AcroForm'))
        old_acroform, new_acroform = yield from qualify_transforming(
            ModificationLevel.LTA_UPDATES,
            compare_key_refs('/AcroForm', old, old.root, new.root),
            transform=FormUpdate.curry_ref(field_name=None, context_checked=acroform_context),
        )
        compare_dicts(old_acroform, new_acroform, self.ignored_acroform_keys)
        assert isinstance(old_acroform, generic.DictionaryObject)
        assert isinstance(new_acroform, generic.DictionaryObject)
        fields_path = RawPdfPath('/Root', '/AcroForm', '/Fields')
        fields_context = Context.from_absolute(old, fields_path)
        old_fields, new_fields = yield from qualify_transforming(
            ModificationLevel.LTA_UPDATES,
            compare_key_refs('/Fields', old, old_acroform, new_acroform),
            transform=FormUpdate.curry_ref(field_name=None, context_checked=fields_context),
        )
        dr_context = Context.from_absolute(old, RawPdfPath('/Root', '/AcroForm', '/DR'))
        _old_dr, new_dr = yield from qualify_transforming(
            ModificationLevel.FORM_FILLING,
            compare_key_refs('/DR', old, old_acroform, new_acroform),
            transform=FormUpdate.curry_ref(field_name=None, context_checked=dr_context),
        )
        if new_dr is not None:
            dr_deps = new.collect_dependencies(new_dr, since_revision=old.revision + 1)
            yield from qualify_transforming(
                ModificationLevel.FORM_FILLING, misc._as_gen(dr_deps),
                transform=FormUpdate.curry_ref(field_name=None))
        context = FieldComparisonContext(
            field_specs=dict(_list_fields(old, new, old_fields, new_fields,
                                          old_path=fields_path,
                                          skip_untouched=self.skip_untouched_sig_fields)),
            old=old, new=new)
        for rule in self.field_rules:
            yield from rule.apply(context)


def _raw_field(view: HistoricalResolver, ref: generic.Reference) -> Any:
    """The parsed field object as of the view's revision, without copying it."""
    obj = view.reader.get_object(ref, view.revision, transparent_decrypt=False)
    return obj.get_object() if isinstance(obj, generic.IndirectObject) else obj


def _kids(view: HistoricalResolver, field: generic.DictionaryObject) -> Any:
    try:
        raw = field.raw_get('/Kids')
    except KeyError:
        return generic.ArrayObject()
    if isinstance(raw, generic.IndirectObject):
        return view(generic.Reference(raw.idnum, raw.generation, pdf=view))
    return raw


def _make_list(view: HistoricalResolver, lst: Any, exc: type[Exception], parent_name: str,
               inherited_ft: Any) -> Generator[tuple[str, Any], None, None]:
    """pyHanko's ``_list_fields._make_list``, reading the parsed field versions."""
    if not isinstance(lst, generic.ArrayObject):
        raise exc("Field list is not an array.")
    names_seen = set()
    for ix, field_ref in enumerate(lst):
        if not isinstance(field_ref, generic.IndirectObject):
            raise exc("Fields must be indirect objects")
        ref = generic.Reference(field_ref.idnum, field_ref.generation, pdf=view)
        field = _raw_field(view, ref)
        if not isinstance(field, generic.DictionaryObject):
            raise exc("Fields must be dictionary objects")
        try:
            name: Any = field.raw_get('/T')
        except KeyError:
            continue
        if not isinstance(name, (generic.TextStringObject, generic.ByteStringObject)):
            raise exc("Names must be strings")
        if name in names_seen:
            raise exc("Duplicate field name")
        elif '.' in name:
            raise exc("Partial names must not contain periods")
        names_seen.add(name)
        label: Any = name  # a str or, as in pyHanko, bytes (then the join raises)
        fq_name = parent_name + "." + label if parent_name else label
        try:
            field_type = field.raw_get('/FT')
        except KeyError:
            field_type = inherited_ft
        kids = _kids(view, field)
        if not kids and field_type is None:
            raise exc(f"Field type of terminal field {fq_name!r} could not be determined")
        yield fq_name, (field_type, ref, kids, ix)


_Entry = tuple[Any, int, int, int]
"""A terminal field without kids: (field type, object number, generation, index)."""


@dataclass(frozen=True)
class _Listing:
    """The top-level fields of one revision, when none has kids."""

    refs: tuple[tuple[int, int], ...]
    """The ``/Fields`` array: object number and generation of each field, in order."""
    entries: dict[str, _Entry]
    """Fully qualified name → entry, in array order."""


_LISTINGS: weakref.WeakKeyDictionary[Any, dict[int, _Listing]] = weakref.WeakKeyDictionary()
"""Per reader, the listing of each revision analysed (the latest two are kept)."""


def _listing(view: HistoricalResolver, lst: Any, exc: type[Exception]
             ) -> _Listing | None:
    """The top-level fields of ``lst`` as :func:`_make_list` lists them, worked out from
    the previous revision's listing when the ``/Fields`` array holds the same
    references: only the fields this revision writes are read again. Each step of a file
    with *n* signatures then costs O(changed fields) instead of O(n) field reads.
    ``None`` when a field has kids or the listing fails (the full listing then runs,
    and raises what it must)."""
    refs = _array_refs(lst)
    per_reader = _LISTINGS.setdefault(view.reader, {})
    listing = per_reader.get(view.revision)
    if listing is None or listing.refs != refs:
        listing = _updated(view, lst, refs, per_reader.get(view.revision - 1), exc)
        if listing is None:
            return None
        per_reader[view.revision] = listing
        for old in [r for r in per_reader if r < view.revision - 1]:
            del per_reader[old]
    return listing


def _bound(listing: _Listing, view: HistoricalResolver, names: Iterable[str] | None = None
           ) -> dict[str, tuple[Any, Any, Any, int]]:
    """``dict(_make_list(view, …))`` from ``listing``, restricted to ``names`` if given."""
    entries = listing.entries
    chosen = entries.items() if names is None else \
        ((name, entries[name]) for name in names if name in entries)
    return {name: (ft, generic.Reference(idnum, gen, pdf=view), generic.ArrayObject(), ix)
            for name, (ft, idnum, gen, ix) in chosen}


def _touched(old: _Listing, new: _Listing, view: HistoricalResolver) -> list[str]:
    """Every field of the two listings except the signature fields listed the same way in
    both (same object, place and type) whose dictionary ``view``'s revision does not
    write."""
    written = {(r.idnum, r.generation) for r in view.explicit_refs_in_revision()}
    old_entries, new_entries = old.entries, new.entries
    touched = [name for name in old_entries if name not in new_entries]
    for name, entry in new_entries.items():
        if entry[0] != "/Sig" or old_entries.get(name) != entry \
                or (entry[1], entry[2]) in written:
            touched.append(name)
    return touched


def _array_refs(lst: Any) -> tuple[tuple[int, int], ...] | None:
    if not isinstance(lst, generic.ArrayObject):
        return None
    refs = []
    for item in lst:
        if not isinstance(item, generic.IndirectObject):
            return None
        refs.append((item.idnum, item.generation))
    return tuple(refs)


def _updated(view: HistoricalResolver, lst: Any, refs: tuple[tuple[int, int], ...] | None,
             prev: _Listing | None, exc: type[Exception]) -> _Listing | None:
    """This revision's listing, from ``prev`` (the previous revision's) when it lists the
    same references; ``None`` when it cannot be kept (kids, malformed fields: the full
    listing then runs, and raises what it must)."""
    if refs is None:
        return None
    written = {(r.idnum, r.generation) for r in view.explicit_refs_in_revision()}
    freed = {(r.idnum, r.generation) for r in view.refs_freed_in_revision()}
    if prev is not None and prev.refs == refs and not freed & set(refs):
        reread = {i for i, ref in enumerate(refs) if ref in written}
        entries = {name: e for name, e in prev.entries.items() if e[3] not in reread}
    else:
        reread, entries = set(range(len(refs))), {}
    if reread:
        positions = sorted(reread)
        raw = list(lst)  # (indexing would resolve the references)
        todo = generic.ArrayObject(raw[i] for i in positions)
        try:
            fresh = list(_make_list(view, todo, exc, "", None))
        except Exception:  # noqa: BLE001 - the full listing raises it in order
            return None
        for name, (ft, ref, kids, ix) in fresh:
            # kids, a duplicate name, or a name or type that is not a text string or a
            # name (kept as read by pyHanko): full listing
            if kids or name in entries or not isinstance(name, generic.TextStringObject) \
                    or not (ft is None or isinstance(ft, generic.NameObject)):
                return None
            # plain copies: names and types read from the file refer to its reader,
            # which this listing (kept per reader, weakly) must not keep alive
            entries[str(name)] = (None if ft is None else generic.NameObject(ft), ref.idnum,
                                  ref.generation, positions[ix])
        entries = dict(sorted(entries.items(), key=lambda item: item[1][3]))
    return _Listing(refs, entries)


def _list_fields(old: HistoricalResolver, new: HistoricalResolver, old_fields: Any,
                 new_fields: Any, old_path: RawPdfPath | None, parent_name: str = "",
                 inherited_ft: Any = None, skip_untouched: bool = False
                 ) -> Generator[tuple[str, FieldComparisonSpec], None, None]:
    """pyHanko's ``_list_fields`` with :func:`_make_list` above (top-level fields listed
    incrementally, :func:`_listing`; with ``skip_untouched``, signature fields neither
    revision changes are left out, see :class:`ListingFormRule`)."""
    old_by_name = new_by_name = None
    if not parent_name and inherited_ft is None:
        old_listing = _listing(old, old_fields, misc.PdfReadError)
        new_listing = _listing(new, new_fields, SuspiciousModification)
        if old_listing is not None and new_listing is not None:
            names = _touched(old_listing, new_listing, new) if skip_untouched else None
            old_by_name = _bound(old_listing, old, names)
            new_by_name = _bound(new_listing, new, names)
    if old_by_name is None or new_by_name is None:
        old_by_name = dict(_make_list(old, old_fields, misc.PdfReadError, parent_name,
                                      inherited_ft))
        new_by_name = dict(_make_list(new, new_fields, SuspiciousModification, parent_name,
                                      inherited_ft))
    for field_name in {*old_by_name, *new_by_name}:
        try:
            old_type, old_ref, old_kids, field_index = old_by_name[field_name]
        except KeyError:
            old_type = old_ref = None
            old_kids, field_index = generic.ArrayObject(), None
        try:
            new_type, new_ref, new_kids, _ = new_by_name[field_name]
        except KeyError:
            new_type = new_ref = None
            new_kids = generic.ArrayObject()
        if old_ref and new_ref and new_type != old_type:
            raise SuspiciousModification(f"Update changed field type of {field_name}")
        common_ft = old_type or new_type
        field_path = (old_path + field_index
                      if field_index is not None and old_path is not None else None)
        yield field_name, FieldComparisonSpec(
            field_type=common_ft, old_field_ref=old_ref, new_field_ref=new_ref,
            old_canonical_path=field_path)
        if old_kids or new_kids:
            yield from _list_fields(
                old, new, old_kids, new_kids, parent_name=field_name,
                old_path=field_path + '/Kids' if field_path is not None else None,
                inherited_ft=common_ft)
