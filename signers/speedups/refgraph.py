"""Reverse cross-reference maps (paths from the trailer to each object) built cheaply.

pyHanko's difference analysis needs, for the older revision of every pair it compares,
the map "object → every path through which it is reachable from the trailer"
(``HistoricalResolver._load_reverse_xref_cache``). pyHanko builds it by copying and
walking every object of the revision, so each revision costs as much as the whole
document and a file with *n* signatures costs O(n · size).

This module builds the same map from a *pruned skeleton* of each object version — only
the keys and indices that lead to indirect references, plus ``/Type`` — read straight
from the file bytes (:mod:`signers.skelscan`, pyHanko's parser when in doubt) and cached
by the file offset of the object's bytes. An object unchanged between revisions is parsed and
pruned once; each revision is then a walk over small skeletons. The walk applies exactly
pyHanko's rules (no cycles within a path, the page tree entered only through its
canonical path, ``/Parent`` skipped, the structure tree entered only from the root).
"""

from __future__ import annotations

import io
import weakref
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.generic import EncryptedObjAccess
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath
from pyhanko.pdf_utils.xref import ObjStreamRef

from ._attempt import guarded
from .skelscan import (
    UNSURE,
    PrunedArray,
    PrunedDict,
    prune,
    repeats_value,
    scan_skeleton,
    value_span,
)

__all__ = ["ReferenceGraph", "accelerate", "forget_superseded", "release"]

_Ref = generic.Reference
ConsList = misc.ConsList
TRAILER = "<trailer>"
"""Stands for the trailer dictionary as a parent."""
_BUDGET = 20_000
"""Upward searches giving up beyond this many partial paths (the full walk takes over)."""
_KEPT_INDEXES = 2
"""Parent indexes kept (the latest revisions'): each one maps every object of the file,
so keeping one per revision would make memory, and the garbage collector's passes over
it, grow as signatures × document size."""


_Dict = PrunedDict
_Array = PrunedArray


@dataclass(frozen=True)
class _Trees:
    """Per-revision landmarks for the upward search."""

    pages: dict[_Ref, tuple[Any, ...]]
    """Page-tree nodes and their canonical paths."""
    chains: dict[_Ref, frozenset[_Ref]]
    """Page-tree nodes and the page-tree references on their canonical paths."""
    struct: set[_Ref]
    """Structure elements."""
    root: _Ref | None
    """The document catalog."""
    beside_root: frozenset[_Ref]
    """Objects reachable from the trailer without passing through the catalog."""


_prune = prune


class ReferenceGraph:
    """Object skeletons of one file, shared by every revision of it."""

    def __init__(self, reader: PdfFileReader) -> None:
        if reader.security_handler is not None:
            raise ValueError("encrypted documents are not supported by ReferenceGraph")
        self.reader = reader
        self._data = _file_bytes(reader)
        self._skeletons: dict[Any, Any] = {}
        self._pruned_objects: dict[int, tuple[weakref.ref[Any], Any]] = {}
        self._parents: dict[int, dict[_Ref, frozenset[tuple[Any, tuple[Any, ...]]]]] = {}
        self._trees: dict[int, _Trees] = {}
        self._tree_deps: dict[int, tuple[frozenset[_Ref], Any]] = {}
        self._recording: set[_Ref] | None = None

    def install(self, resolver: HistoricalResolver) -> None:
        """Give ``resolver`` its reverse cross-reference map (if it has none yet).

        The map is lazy: the paths to an object are worked out upwards, through its
        parents, the first time pyHanko asks for them."""
        if resolver._indirect_object_access_cache is None:
            usages = _LazyUsages(self, resolver.revision)
            resolver._indirect_object_access_cache = usages

    def usages(self, ref: _Ref, revision: int,
               search: _Upward | None = None) -> set[RawPdfPath]:
        """Every path from the trailer to ``ref`` as of ``revision`` (upward search;
        pass the same ``search`` to share its memo between queries on one revision)."""
        search = search or _Upward(self, revision)
        search.work = 0
        return {RawPdfPath(*path) for path, _, _ in search.entries(ref, frozenset())}

    def parents(self, revision: int) -> dict[_Ref, frozenset[tuple[Any, tuple[Any, ...]]]]:
        """Who refers to each object as of ``revision``: (parent or ``TRAILER``, keys)."""
        try:
            return self._parents[revision]
        except KeyError:
            pass
        prev = self._parents.get(revision - 1)
        index = self._updated_index(prev, revision) if prev is not None else None
        if index is None:
            index = self._full_index(revision)
        self._parents[revision] = index
        while len(self._parents) > _KEPT_INDEXES:  # revisions are analysed in order
            del self._parents[next(iter(self._parents))]
        return index

    def release(self, resolver: HistoricalResolver) -> None:
        """Let ``resolver`` forget the search state behind its reverse cross-reference
        map (the paths found so far stay; later queries start a new search)."""
        usages = resolver._indirect_object_access_cache
        if isinstance(usages, _LazyUsages):
            usages.search = None

    def _full_index(self, revision: int) -> dict[_Ref, frozenset[tuple[Any, tuple[Any, ...]]]]:
        found: dict[_Ref, set[tuple[Any, tuple[Any, ...]]]] = defaultdict(set)
        refs: set[_Ref] = set()
        for r in range(revision + 1):
            refs |= {_Ref(x.idnum, x.generation) for x in
                     self.reader.xrefs.explicit_refs_in_revision(r)}
        for ref in refs:
            for child, rel in _edges(self.skeleton(ref, revision)):
                found[child].add((ref, rel))
        for child, rel in _edges(_prune(self.reader.trailer.flatten(revision))):
            found[child].add((TRAILER, rel))
        return {k: frozenset(v) for k, v in found.items()}

    def _updated_index(self, prev: dict[_Ref, frozenset[tuple[Any, tuple[Any, ...]]]],
                       revision: int) -> dict[_Ref, frozenset[Any]] | None:
        xrefs = self.reader.xrefs
        changed = {_Ref(x.idnum, x.generation) for x in
                   xrefs.explicit_refs_in_revision(revision)}
        changed |= {_Ref(x.idnum, x.generation) for x in xrefs.refs_freed_in_revision(revision)}
        if changed & self._object_streams(revision - 1):
            return None  # an object stream was rewritten: rebuild from scratch
        delta: dict[_Ref, set[tuple[Any, tuple[Any, ...]]]] = {}

        def edit(parent: Any, old: Any, new: Any) -> None:
            before, after = set(_edges(old)), set(_edges(new))
            for child, rel in before - after:
                delta.setdefault(child, set(prev.get(child, ()))).discard((parent, rel))
            for child, rel in after - before:
                delta.setdefault(child, set(prev.get(child, ()))).add((parent, rel))

        for ref in changed:
            edit(ref, self.skeleton(ref, revision - 1), self.skeleton(ref, revision))
        edit(TRAILER, _prune(self.reader.trailer.flatten(revision - 1)),
             _prune(self.reader.trailer.flatten(revision)))
        index = dict(prev)
        index.update({k: frozenset(v) for k, v in delta.items()})
        return index

    def _object_streams(self, revision: int) -> set[_Ref]:
        sections = self.reader.xrefs._xref_sections[: revision + 1]
        return {_Ref(loc.obj_stream_id, 0) for s in sections
                for loc in s.xref_data.xrefs_in_objstm.values()}

    def paths_to_refs(self, revision: int) -> dict[_Ref, set[RawPdfPath]]:
        """Every path from the trailer to each reachable object, as of ``revision``."""
        return _Walk(self, revision).run()

    def trees(self, revision: int) -> _Trees:
        """Page-tree nodes with their canonical paths, and structure elements.

        Reused from the previous revision when every object read to build them (and
        the trailer) has the same skeleton in this revision: signatures rewrite the
        catalog, but not its references, so the structure tree is walked once."""
        if revision in self._trees:
            return self._trees[revision]
        trailer = _prune(self.reader.trailer.flatten(revision))
        deps = self._tree_deps.get(revision - 1)
        if deps is not None and deps[1] == trailer and self._untouched(deps[0], revision):
            self._trees[revision], self._tree_deps[revision] = self._trees[revision - 1], deps
            return self._trees[revision]
        self._recording = set()
        try:
            self._compute_trees(revision)
            self._tree_deps[revision] = (frozenset(self._recording), trailer)
        finally:
            self._recording = None
        return self._trees[revision]

    def _untouched(self, refs: frozenset[_Ref], revision: int) -> bool:
        """Whether ``refs`` have the same skeletons in ``revision`` as in the one before
        (and no object stream of an earlier revision is rewritten)."""
        xrefs = self.reader.xrefs
        changed = {_Ref(x.idnum, x.generation) for x in
                   xrefs.explicit_refs_in_revision(revision)}
        changed |= {_Ref(x.idnum, x.generation) for x in xrefs.refs_freed_in_revision(revision)}
        if changed & self._object_streams(revision - 1):
            return False
        return all(self.skeleton(ref, revision) == self.skeleton(ref, revision - 1)
                   for ref in changed & refs)

    def _compute_trees(self, revision: int) -> None:
        if revision not in self._trees:
            walk = _Walk(self, revision)
            root = walk.deref(_get(walk.trailer, "/Root"))
            walk._map_page_tree(root)
            walk._map_struct_tree(root)
            pages = {ref: tuple(reversed(list(p))) for ref, p in walk.page_tree.items()}
            chains = {ref: c for ref, c in walk.page_chain.items() if isinstance(ref, _Ref)}
            root_ref = _get(walk.trailer, "/Root")
            self._trees[revision] = _Trees(pages, chains, walk.struct_tree,
                                           root_ref if isinstance(root_ref, _Ref) else None,
                                           self._beside_root(walk.trailer, revision))

    def _beside_root(self, trailer: Any, revision: int) -> frozenset[_Ref]:
        """Objects reachable from the trailer without passing through ``/Root``."""
        todo = [ref for key, ref in _edges_top(trailer) if key != "/Root"]
        root = _get(trailer, "/Root")
        seen: set[_Ref] = set()
        while todo:
            ref = todo.pop()
            if ref in seen or ref == root:
                continue
            seen.add(ref)
            todo.extend(child for child, _ in _edges(self.skeleton(ref, revision)))
        return frozenset(seen)

    def skeleton(self, ref: _Ref, revision: int) -> Any:
        """The pruned value of ``ref`` as of ``revision`` (``None``: null or absent)."""
        key = self._version(ref, revision)
        if self._recording is not None:
            self._recording.add(ref)
        if key is None:
            return None
        try:
            return self._skeletons[key]
        except KeyError:
            pass
        result = UNSURE
        if len(key) == 3 and isinstance(key[2], int):
            parsed = _parsed_already(self.reader, ref, key[2])
            if parsed is not None:  # pruning it is cheaper than scanning the bytes
                result = self._pruned(parsed)
            elif self._data is not None:
                result = scan_skeleton(self._data, key[2], ref, self._current_value)
        if result is UNSURE:
            obj = self.reader.get_object(ref, revision, transparent_decrypt=False)
            result = _prune(obj)
        self._skeletons[key] = result
        return result

    def _pruned(self, parsed: Any) -> Any:
        """The skeleton of a parsed object, pruned once (versions with the same value
        bytes share one parsed object; this keeps none of them alive)."""
        if not isinstance(parsed, (generic.DictionaryObject, generic.ArrayObject)):
            return _prune(parsed)
        known = self._pruned_objects.get(id(parsed))
        if known is not None and known[0]() is parsed:
            return known[1]
        result = _prune(parsed)
        self._pruned_objects[id(parsed)] = (weakref.ref(parsed), result)
        return result

    def _current_value(self, ref: _Ref) -> Any:
        """What pyHanko's parser reads for an indirect stream ``/Length``."""
        return self.reader.get_object(ref)

    def _version(self, ref: _Ref, revision: int) -> Any:
        loc = self.reader.xrefs.get_historical_ref(ref, revision)
        if loc is None:
            return None
        if isinstance(loc, ObjStreamRef):
            stream = self._version(_Ref(loc.obj_stream_id, 0), revision)
            return (ref.idnum, ref.generation, loc.ix_in_stream, stream)
        return (ref.idnum, ref.generation, loc)


def _parsed_already(reader: PdfFileReader, ref: _Ref, marker: int) -> Any:
    """The object version at ``marker``, if the reader's parse cache holds it."""
    cache = getattr(reader, "_signers_parse_cache", None)
    return cache.peek(ref, marker) if isinstance(cache, _ParseCache) else None


def _file_bytes(reader: PdfFileReader) -> bytes | None:
    """The bytes the reader parses (``None`` if they cannot be read back)."""
    stream = reader.stream
    try:
        if isinstance(stream, io.BytesIO):
            return stream.getvalue()
        pos = stream.tell()
        try:
            stream.seek(0)
            return stream.read()
        finally:
            stream.seek(pos)
    except (OSError, ValueError, AttributeError):
        return None


class _Walk:
    """One revision's walk, mirroring ``HistoricalResolver._load_reverse_xref_cache``."""

    def __init__(self, graph: ReferenceGraph, revision: int) -> None:
        self.graph, self.revision = graph, revision
        self.collected: dict[_Ref, set[Any]] = defaultdict(set)
        self.trailer = _prune(graph.reader.trailer.flatten(revision))
        self.page_tree: dict[_Ref, Any] = {}
        self.page_chain: dict[Any, frozenset[_Ref]] = {}
        self.struct_tree: set[_Ref] = set()

    def deref(self, node: Any) -> Any:
        return self.graph.skeleton(node, self.revision) if isinstance(node, _Ref) else node

    def run(self) -> dict[_Ref, set[RawPdfPath]]:
        root = _get(self.trailer, "/Root")
        root_node = self.deref(root)
        self._map_page_tree(root_node)
        self._map_struct_tree(root_node)
        self._visit(self.trailer, ConsList.empty(), ConsList.empty(), False)
        return {ref: {RawPdfPath(*reversed(list(p))) for p in paths}
                for ref, paths in self.collected.items()}

    def _map_page_tree(self, root: Any) -> None:
        pages_ref = _get(root, "/Pages")
        path = ConsList.sing("/Root").cons("/Pages")
        if isinstance(pages_ref, _Ref):
            self.page_tree[pages_ref] = path
        chain = frozenset({pages_ref}) if isinstance(pages_ref, _Ref) else frozenset()
        self.page_chain[pages_ref] = chain
        for ref, kid_path, kid_chain in self._page_kids(self.deref(pages_ref), path, chain):
            if ref in self.page_tree:
                raise misc.PdfReadError("Circular reference in page tree in mapping stage")
            self.page_tree[ref] = kid_path
            self.page_chain[ref] = kid_chain

    def _page_kids(self, pages: Any, path: Any,
                   chain: frozenset[_Ref]) -> Iterator[tuple[_Ref, Any, frozenset[_Ref]]]:
        kids = self.deref(_get(pages, "/Kids"))
        if not isinstance(kids, _Array):
            return
        for ix, kid in kids.items:
            kid_path = path.cons("/Kids").cons(ix)
            kid_chain = chain | {kid} if isinstance(kid, _Ref) else chain
            if isinstance(kid, _Ref):
                yield kid, kid_path, kid_chain
            node = self.deref(kid)
            if isinstance(node, _Dict) and node.type == "/Pages":
                yield from self._page_kids(node, kid_path, kid_chain)

    def _map_struct_tree(self, root: Any) -> None:
        tree = self.deref(_get(root, "/StructTreeRoot"))
        if tree is None:
            return
        for ref in self._struct_kids(tree):
            if ref in self.struct_tree:
                raise misc.PdfReadError(
                    "Circular reference in structure tree in mapping stage")
            self.struct_tree.add(ref)

    def _struct_kids(self, elem: Any) -> Iterator[_Ref]:
        children = self.deref(_get(elem, "/K"))
        if children is None:
            return
        kids = [c for _, c in children.items] if isinstance(children, _Array) else [children]
        for child in kids:
            node = self.deref(child)
            if not isinstance(node, _Dict):
                continue
            if node.type is not None and node.type != "/StructElem":
                continue
            if isinstance(child, _Ref):
                yield child
            yield from self._struct_kids(node)

    def _visit(self, node: Any, cur_path: Any, seen: Any, in_struct: bool) -> None:
        if isinstance(node, _Ref):
            if node in seen:
                return
            self.collected[node].add(cur_path)
            seen = seen.cons(node)
            if cur_path != self.page_tree.get(node, cur_path):
                return
            if not in_struct and node in self.struct_tree:
                return
            node = self.graph.skeleton(node, self.revision)
        if isinstance(node, _Dict):
            for key, value in node.items:
                if key == "/Parent" or (in_struct and key == "/P"):
                    continue
                enters_struct = (cur_path.head == "/StructTreeRoot" and key == "/K"
                                 and cur_path.tail == ConsList.sing("/Root"))
                self._visit(value, cur_path.cons(key), seen, in_struct or enters_struct)
        elif isinstance(node, _Array):
            for ix, value in node.items:
                self._visit(value, cur_path.cons(ix), seen, in_struct)


def _get(node: Any, key: str) -> Any:
    if isinstance(node, _Dict):
        for k, v in node.items:
            if k == key:
                return v
    return None


def _edges(node: Any, rel: tuple[Any, ...] = ()) -> Iterator[tuple[_Ref, tuple[Any, ...]]]:
    """(child, relative steps) for each reference inside a skeleton, without deref.

    A step is ``("d", key)`` inside a dictionary or ``("a", index)`` inside an array."""
    if isinstance(node, _Ref):
        yield node, rel
    elif isinstance(node, _Dict):
        for key, value in node.items:
            yield from _edges(value, (*rel, ("d", key)))
    elif isinstance(node, _Array):
        for ix, value in node.items:
            yield from _edges(value, (*rel, ("a", ix)))


def _edges_top(node: Any) -> Iterator[tuple[str, _Ref]]:
    """(top-level key, reference) for every reference inside a dictionary skeleton."""
    if isinstance(node, _Dict):
        for key, value in node.items:
            for child, _ in _edges(value):
                yield key, child


class _TooManyPaths(Exception):
    """The upward search exceeded its budget."""


_Entry = tuple[tuple[Any, ...], frozenset[_Ref], bool]


class _Upward:
    """Paths from the trailer to given objects, found by climbing through parents.

    Produces exactly what the forward walk records: simple paths, ``/Parent`` never
    followed, ``/P`` not followed inside the structure tree, page-tree nodes and
    structure elements expanded only when reached through their canonical way in."""

    def __init__(self, graph: ReferenceGraph, revision: int) -> None:
        self.graph, self.revision = graph, revision
        self.parents = graph.parents(revision)
        self.trees = graph.trees(revision)
        self.memo: dict[tuple[_Ref, frozenset[_Ref]], list[_Entry]] = {}
        self.work = 0

    def entries(self, ref: _Ref, avoid: frozenset[_Ref]) -> list[_Entry]:
        """(path, refs on the path including ``ref``, in-structure-tree flag) for each
        simple path to ``ref`` that does not pass through ``avoid``."""
        key = (ref, avoid)
        if key not in self.memo:
            self.memo[key] = self._compute(ref, avoid)
        return self.memo[key]

    def _compute(self, ref: _Ref, avoid: frozenset[_Ref]) -> list[_Entry]:
        self.work += 1
        out: list[_Entry] = []
        for parent, rel in self._useful_parents(ref):
            for path, seen, flag in self._bases(parent, ref, avoid):
                stepped = _step(path, flag, rel)
                if stepped is not None:
                    out.append((stepped[0], seen | {ref}, stepped[1]))
        self.work += len(out)
        if self.work > _BUDGET:
            raise _TooManyPaths
        return out

    def _useful_parents(self, ref: _Ref) -> Iterator[tuple[Any, tuple[Any, ...]]]:
        """Parents through which a recorded path may run.

        Skipped, because the forward walk never records a path through them:
        ``/Parent`` links; ``/P`` links from structure elements (only followed inside
        the structure tree, where ``/P`` is ignored); and any parent of the catalog
        that can only be reached through the catalog itself."""
        trees = self.trees
        for parent, rel in self.parents.get(ref, ()):
            if any(kind == "d" and key == "/Parent" for kind, key in rel):
                continue
            if parent in trees.struct and rel[:1] == (("d", "/P"),):
                continue
            if ref == trees.root and parent != TRAILER and parent not in trees.beside_root:
                continue
            yield parent, rel

    def _bases(self, parent: Any, ref: _Ref, avoid: frozenset[_Ref]) -> list[_Entry]:
        if parent == TRAILER:
            return [((), frozenset(), False)]
        if parent in avoid or parent == ref:
            return []
        canonical = self.trees.pages.get(parent)
        if canonical is not None:
            return self._canonical_base(parent, canonical, ref, avoid)
        return [e for e in self.entries(parent, avoid | {ref}) if self._expands(parent, e)]

    def _canonical_base(self, node: _Ref, canonical: tuple[Any, ...], ref: _Ref,
                        avoid: frozenset[_Ref]) -> list[_Entry]:
        """A page-tree node is only expanded along its canonical path, whose references
        are the page-tree nodes above it (plus the catalog)."""
        chain = self.trees.chains[node]
        if self.trees.root is not None:
            chain = chain | {self.trees.root}
        if ref in chain or chain & avoid:
            return []
        return [(canonical, chain, False)]

    def _expands(self, ref: _Ref, entry: _Entry) -> bool:
        path, _, flag = entry
        if self.trees.pages.get(ref, path) != path:
            return False
        return flag or ref not in self.trees.struct


def _step(path: tuple[Any, ...], flag: bool,
          rel: tuple[Any, ...]) -> tuple[tuple[Any, ...], bool] | None:
    for kind, key in rel:
        if kind == "d":
            if key == "/Parent" or (flag and key == "/P"):
                return None
            flag = flag or (path == ("/Root", "/StructTreeRoot") and key == "/K")
        path = (*path, key)
    return path, flag


class _LazyUsages(dict[Any, set[RawPdfPath]]):
    """A reverse cross-reference map that computes each entry on first access."""

    def __init__(self, graph: ReferenceGraph, revision: int) -> None:
        super().__init__()
        self.graph, self.revision = graph, revision
        self.full: dict[_Ref, set[RawPdfPath]] | None = None
        self.search: _Upward | None = None

    def __bool__(self) -> bool:
        return True

    @guarded("reverse cross-reference map", passes=(KeyError,))
    def __missing__(self, ref: Any) -> set[RawPdfPath]:
        key = _Ref(ref.idnum, ref.generation)
        if self.full is None:
            try:
                self.search = self.search or _Upward(self.graph, self.revision)
                paths = self.graph.usages(key, self.revision, self.search)
            except _TooManyPaths:
                self.full = self.graph.paths_to_refs(self.revision)
        if self.full is not None:
            paths = self.full.get(key, set())
        if not paths:
            raise KeyError(ref)
        self[ref] = paths
        return paths


@guarded("accelerate")
def accelerate(reader: PdfFileReader) -> bool:
    """Memoise two pure lookups of ``reader`` that pyHanko repeats for every revision.

    * cross-reference history lookups (``get_last_change``, ``get_historical_ref``,
      ``get_introducing_revision``) scan every xref section; they now only visit the
      sections that mention the object number;
    * objects read at a byte offset are parsed once (pyHanko re-parses historical
      object versions on every access), and so is an object rewritten with the very
      same value bytes (the catalog, rewritten by every signature, whose page labels
      grow with the annexes). The bytes never change, and historical views copy the
      objects they use, so results are identical;
    * trailer entries (``trailer.raw_get``) of an unencrypted file: an absent key, such
      as ``/Encrypt`` that every ``security_handler`` check asks for, was looked up in
      every revision's trailer, through an exception each.

    Applies to this reader instance only; returns ``False`` (and changes nothing) for
    files with hybrid cross-reference sections."""
    if getattr(reader, "_signers_accelerated", False):
        return True
    xrefs = reader.xrefs
    sections = xrefs._xref_sections
    if any(s.xref_data.hybrid is not None for s in sections):
        return False
    reader._signers_accelerated = True  # type: ignore[attr-defined]
    mentions: dict[int, list[int]] = defaultdict(list)
    for ix, section in enumerate(sections):
        data = section.xref_data
        for idnum in {*data.xrefs_in_objstm, *data.standard_xrefs, *data.freed}:
            mentions[idnum].append(ix)
    _install_xref_lookups(xrefs, sections, mentions)
    _install_parse_cache(reader, mentions)
    if reader.encrypt_dict is None:
        _install_trailer_cache(reader.trailer)
    return True


_ABSENT = object()


def _install_trailer_cache(trailer: Any) -> None:
    """Memoise ``trailer.raw_get`` while nothing is written to the trailer (a reader
    never writes to its own)."""
    raw_get = trailer.raw_get
    found: dict[tuple[Any, Any, Any], Any] = {}

    @guarded("trailer lookup", passes=(KeyError,))
    def cached_raw_get(key: Any, decrypt: Any = EncryptedObjAccess.TRANSPARENT,
                       revision: Any = None) -> Any:
        lookup = (key, decrypt, revision)
        if trailer._new_changes or not isinstance(key, str) or \
                not isinstance(revision, (int, type(None))):
            return raw_get(key, decrypt, revision)
        value = found.get(lookup, None)
        if value is None:
            try:
                value = raw_get(key, decrypt, revision)
            except KeyError:
                value = _ABSENT
            found[lookup] = value
        if value is _ABSENT:
            raise KeyError(key)
        return value

    trailer.raw_get = cached_raw_get


def _install_xref_lookups(xrefs: Any, sections: list[Any],
                          mentions: dict[int, list[int]]) -> None:
    def candidates(ref: Any, upto: int | None = None) -> list[int]:
        ixs = mentions.get(ref.idnum, [])
        return ixs if upto is None else ixs[:bisect_right(ixs, upto)]

    @guarded("xref lookup", passes=(KeyError,))
    def get_last_change(ref: Any) -> int:
        for ix in reversed(candidates(ref)):
            try:
                sections[ix].xref_data.try_resolve(ref)
                return ix
            except KeyError:
                pass
        raise KeyError(ref)

    located: dict[tuple[int, int, int], Any] = {}

    def get_historical_ref(ref: Any, revision: int) -> Any:
        key = (ref.idnum, ref.generation, revision)
        if key not in located:
            located[key] = _locate(ref, revision)
        return located[key]

    @guarded("xref lookup")
    def _locate(ref: Any, revision: int) -> Any:
        for ix in reversed(candidates(ref, revision)):
            try:
                return sections[ix].xref_data.try_resolve(ref)
            except KeyError:
                continue
        return None

    @guarded("xref lookup", passes=(KeyError,))
    def get_introducing_revision(ref: Any) -> int:
        for ix in candidates(ref):
            try:
                if sections[ix].xref_data.try_resolve(ref) is not None:
                    return ix
            except KeyError:
                pass
        raise KeyError(ref)

    xrefs.get_last_change = get_last_change
    xrefs.get_historical_ref = get_historical_ref
    xrefs.get_introducing_revision = get_introducing_revision


def _install_parse_cache(reader: PdfFileReader, mentions: dict[int, list[int]]) -> None:
    cache = _ParseCache(reader, mentions)
    reader._read_object = cache  # type: ignore[method-assign]
    reader._signers_parse_cache = cache  # type: ignore[attr-defined]


class _ParseCache:
    """Parsed object versions of one reader, by file offset and by value bytes."""

    def __init__(self, reader: PdfFileReader, mentions: dict[int, list[int]]) -> None:
        self.reader = reader
        self.read = reader._read_object
        self.mentions = mentions
        """Cross-reference sections mentioning each object number."""
        self.parsed: dict[Any, tuple[Any, Any]] = {}
        """(object, its value-bytes key or ``None``) by (ref, offset, flags)."""
        self.same_bytes: dict[Any, list[Any]] = {}
        """[object, number of versions using it] by value-bytes key."""
        self.last_value: dict[_Ref, bytes] = {}
        """The value bytes of the version of each object scanned last."""
        self.data: list[bytes | None] = []

    @guarded("parse cache", passes=(misc.PdfError,))
    def __call__(self, ref: Any, marker: Any, never_decrypt: bool = False,
                 as_metadata_stream: bool = False) -> Any:
        if not isinstance(marker, int):
            return self.read(ref, marker, never_decrypt=never_decrypt,
                             as_metadata_stream=as_metadata_stream)
        key = (ref.idnum, ref.generation, marker, never_decrypt, as_metadata_stream)
        try:
            return self.parsed[key][0]
        except KeyError:
            pass
        content = self._by_content(ref, marker, (never_decrypt, as_metadata_stream))
        shared = self.same_bytes.get(content) if content is not None else None
        if shared is None:
            obj = self.read(ref, marker, never_decrypt=never_decrypt,
                            as_metadata_stream=as_metadata_stream)
            if content is not None:
                self.same_bytes[content] = shared = [obj, 0]
        else:
            obj = shared[0]
        if shared is not None:
            shared[1] += 1
        self.parsed[key] = (obj, content)
        return obj

    def peek(self, ref: Any, marker: int) -> Any:
        """The object version at ``marker`` as parsed by default, if it is cached."""
        entry = self.parsed.get((ref.idnum, ref.generation, marker, False, False))
        return entry[0] if entry is not None else None

    def _by_content(self, ref: Any, marker: int, flags: tuple[bool, bool]) -> Any:
        """Key of an object version by its value bytes (``None``: not comparable, or
        the object has a single version, which nothing could share)."""
        if self.reader.security_handler is not None or \
                len(self.mentions.get(ref.idnum, ())) < 2:
            return None
        if not self.data:
            self.data.append(_file_bytes(self.reader))
        data = self.data[0]
        if data is None:
            return None
        plain = _Ref(ref.idnum, ref.generation)
        last = self.last_value.get(plain)
        if last is not None and repeats_value(data, marker, plain, last):
            value = last  # rewritten unchanged (the catalog, by every signature)
        else:
            span = value_span(data, marker, plain)
            if span is None:
                return None
            value = self.last_value[plain] = data[span[0]:span[1]]
        return (ref.idnum, ref.generation, *flags, value)

    def forget(self, ref: Any, marker: int) -> None:
        """Drop the parsed version of ``ref`` stored at ``marker``."""
        for flags in ((False, False), (False, True), (True, False), (True, True)):
            entry = self.parsed.pop((ref.idnum, ref.generation, marker, *flags), None)
            if entry is None or entry[1] is None:
                continue
            shared = self.same_bytes[entry[1]]
            shared[1] -= 1
            if not shared[1]:
                del self.same_bytes[entry[1]]

    def clear(self) -> None:
        self.parsed.clear()
        self.same_bytes.clear()
        self.last_value.clear()


@guarded("forget_superseded")
def forget_superseded(reader: PdfFileReader, revision: int) -> None:
    """Forget the historical view of ``revision - 1`` and the parsed versions, as of
    ``revision - 1``, of the objects ``revision`` rewrites or frees.

    An analysis that moves forward through the revisions needs neither again: without
    this, an object rewritten by every signature (the catalog, whose page labels grow
    with the annexes) stays in memory once per revision, and the garbage collector's
    passes grow as signatures × document size. Anything asked for again is parsed
    again."""
    view = reader._historical_resolver_cache.pop(revision - 1, None)
    if view is not None:
        view.cache.clear()
        view._indirect_object_access_cache = None
    cache = getattr(reader, "_signers_parse_cache", None)
    if not isinstance(cache, _ParseCache):
        return
    xrefs = reader.xrefs
    for ref in [*xrefs.explicit_refs_in_revision(revision),
                *xrefs.refs_freed_in_revision(revision)]:
        marker = xrefs.get_historical_ref(ref, revision - 1)
        if isinstance(marker, int):
            cache.forget(ref, marker)


@guarded("release")
def release(reader: PdfFileReader) -> None:
    """Drop what ``reader`` and its historical views have parsed and cached.

    Parsed objects refer back to their reader, so once the reader is no longer used
    they are cyclic garbage that only a full garbage-collector pass frees: a pass over
    every object of the process, made in the middle of whatever runs next. Clearing
    the caches frees them at once. The reader stays usable (objects are parsed again
    on demand)."""
    cache = getattr(reader, "_signers_parse_cache", None)
    if isinstance(cache, _ParseCache):
        cache.clear()
    views = reader._historical_resolver_cache
    for view in views.values():
        view.cache.clear()
        view._indirect_object_access_cache = None
    views.clear()
    reader.resolved_objects.clear()
    reader._embedded_signatures = None
