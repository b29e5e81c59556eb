"""``sync``: apply the notes to a real Anki collection, through Anki's own library.

An ``.apkg`` import can only add and update notes. A sync also moves cards to their
section's deck, removes the decks cardsmith left empty, keeps the notes of deleted (or no
longer answered) questions as suspended orphans, updates the note type's CSS and
templates, and never overwrites a note edited in Anki without a word.

The work is split in two: :func:`read_state` and :func:`make_plan` work out what to do
from plain data (so ``--dry-run`` and the AnkiConnect path share them), and :func:`apply`
does it with the ``anki`` package. Nothing is written when nothing differs: a sync
without changes leaves every modification time as it was.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import html
import json
import multiprocessing
import os
import pickle
import re
import shutil
import sqlite3
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .build import Progress, _quiet, check, collector_paused
from .cache import ParseCache
from .config import Config
from .errors import CardsmithError, ContentError, Diagnostic, EnvironmentProblem
from .export.anki import Medium, note_fields
from .identity import (
    forget_orphans,
    lock_state,
    lock_text,
    refuse_changed_lock,
    write_lock_bytes,
)
from .notetype import FIELDS, MODEL_ID, MODEL_NAME, NoteTypeLook, current_look
from .parallel import become_worker
from .records import BuildData, Identity, Successor
from .report import orphan_lines
from .safeguards import refuse_mass_orphan

if TYPE_CHECKING:
    from anki.collection import Collection

ORPHAN_TAG = "cardsmith::orphan"
#: Tags cardsmith sets (the parser's ``file::``, ``section::`` and ``code::``, and ours);
#: every other tag on a note is the person's and stays.
MANAGED_TAG_PREFIXES = ("file::", "section::", "code::", "cardsmith::")
#: Key in the collection's config: what the last sync wrote (to recognise edits made in Anki).
STATE_KEY = "cardsmith.sync"
_QUEUE_SUSPENDED = -1


class SyncError(CardsmithError):
    """The collection cannot be synced (open in Anki, a foreign note type, no collection)."""


# --- what the notes want ----------------------------------------------------------------------


@dataclass(frozen=True)
class Wanted:
    """One note as the notes want it in Anki."""

    guid: str
    """The question's stable id (also its ``ID`` field)."""
    fields: tuple[str, ...]
    """Field values in the order of :data:`FIELDS`."""
    tags: tuple[str, ...]
    """cardsmith's tags for the note (file, section, code languages)."""
    deck: str
    """The section's deck, ``::``-joined."""
    question: str
    """The question's Markdown, for messages."""


@dataclass(frozen=True)
class Desired:
    """Everything a sync makes true."""

    notes: tuple[Wanted, ...]
    """Every note, in source order."""
    media: Mapping[str, Medium]
    """Images by their media name (content hash)."""
    model: NoteTypeLook
    """The current CSS and templates."""
    root_deck: str
    """Top of every deck path."""


def fields_hash(fields: Iterable[str]) -> str:
    """A short hash of a note's fields: what the last sync wrote, to spot edits made in Anki."""
    return hashlib.sha256("\x1f".join(fields).encode("utf-8")).hexdigest()[:16]


_TAG = re.compile(r"<[^>]*>")


def question_text(fields: tuple[str, ...], guid: str) -> str:
    """A note's question as text (its first field holds HTML; the guid when it has none)."""
    return html.unescape(_TAG.sub("", fields[0])) if fields else guid


def desired(data: BuildData) -> Desired:
    """The notes as Anki should hold them: fields with packed media, tags and decks."""
    root = data.config.content.resolve()
    media: dict[str, Medium] = {}
    notes = []
    for card in data.notes:
        notes.append(
            Wanted(
                guid=card.id,
                fields=note_fields(card, root, media),
                tags=card.tags,
                deck=card.deck.path,
                question=card.question,
            )
        )
    return Desired(tuple(notes), media, current_look(), data.config.root_deck)


# --- what the collection holds ---------------------------------------------------------------


@dataclass(frozen=True)
class Existing:
    """One cardsmith note found in the collection."""

    nid: int
    """Anki's note id."""
    guid: str
    """The note's guid (the question's id)."""
    fields_hash: str
    """:func:`fields_hash` of its fields as they are now: what it holds is compared by hash
    (a sync reads the collection in another process, and 10,000 notes' fields cost 0.1 s to
    send)."""
    question: str
    """Its question as text (the first field without its HTML), for messages."""
    tags: tuple[str, ...]
    """Every tag of the note, the person's included."""
    cards: tuple[int, ...]
    """Card ids of the note."""
    decks: tuple[str, ...]
    """The deck of each card (its home deck when it sits in a filtered deck)."""
    suspended: tuple[bool, ...]
    """Whether each card is suspended."""
    reviews: int
    """Review log entries of its cards."""

    @property
    def orphaned(self) -> bool:
        return ORPHAN_TAG in self.tags


@dataclass(frozen=True)
class State:
    """The collection as cardsmith sees it before a sync."""

    notes: Mapping[str, Existing]
    """cardsmith notes by guid."""
    model: NoteTypeLook | None
    """The note type's CSS and templates, or None when the collection has no such type."""
    model_fields: tuple[str, ...]
    """The note type's field names (a public contract: they must be :data:`FIELDS`)."""
    decks: Mapping[str, int]
    """Every deck of the collection: name -> id."""
    deck_cards: Mapping[str, int]
    """Number of cards whose home deck is the named deck (any note type)."""
    media: frozenset[str]
    """Media file names already in the collection's media folder."""
    written: Mapping[str, str]
    """guid -> :func:`fields_hash` of what the last sync wrote."""
    synced_decks: frozenset[str]
    """The decks the last sync put notes in."""


# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """What a sync will do, in words and as data."""

    add: tuple[Wanted, ...] = ()
    """New notes."""
    update: tuple[tuple[Wanted, Existing], ...] = ()
    """Notes whose fields or tags change (orphans coming back included)."""
    move: tuple[tuple[Wanted, Existing], ...] = ()
    """Notes with a card outside their section's deck."""
    orphan: tuple[Existing, ...] = ()
    """Notes of questions gone (or no longer answered) to tag and suspend now."""
    revive: tuple[tuple[Wanted, Existing], ...] = ()
    """Orphans whose question is back: untagged and unsuspended."""
    delete: tuple[Existing, ...] = ()
    """Orphans deleted with ``--delete-orphans``."""
    conflict: tuple[tuple[Wanted, Existing], ...] = ()
    """Notes edited in Anki since the last sync; left as they are unless ``--force``."""
    forced: tuple[tuple[Wanted, Existing], ...] = ()
    """Notes edited in Anki that ``--force`` overwrites (also listed in ``update``)."""
    create_decks: tuple[str, ...] = ()
    """Decks to create."""
    remove_decks: tuple[str, ...] = ()
    """cardsmith decks left empty, deepest first."""
    media: tuple[Medium, ...] = ()
    """Images not yet in the media folder."""
    model: str = ""
    """"create" or "update" the note type, or "" when it is current."""
    state: Mapping[str, Any] | None = None
    """The new sync record for the collection's config, or None when unchanged."""
    kept_orphans: tuple[Existing, ...] = field(default=())
    """Orphans from earlier syncs, still kept (tagged and suspended)."""

    @property
    def empty(self) -> bool:
        return not (
            self.add
            or self.update
            or self.move
            or self.orphan
            or self.revive
            or self.delete
            or self.create_decks
            or self.remove_decks
            or self.media
            or self.model
            or self.state is not None
        )

    def done_line(self) -> str:
        """What carrying the plan out wrote, in one line (for the end of a sync)."""
        counts = (
            (len(self.add), "note(s) added"),
            (len(self.update), "updated"),
            (len(self.move), "moved"),
            (len(self.orphan), "orphaned"),
            (len(self.revive), "back from orphan"),
            (len(self.delete), "deleted"),
            (len(self.create_decks), "deck(s) made"),
            (len(self.remove_decks), "empty deck(s) removed"),
            (len(self.media), "image(s) added"),
        )
        if self.empty:
            return "Anki is up to date: nothing was written" + self.conflicts_left()
        made = {"create": ["the note type made"], "update": ["the note type updated"], "": []}
        done = ", ".join([*(f"{n} {what}" for n, what in counts if n), *made[self.model]])
        return f"Anki is in step: {done or 'the sync record updated'}" + self.conflicts_left()

    def conflicts_left(self) -> str:
        if not self.conflict:
            return ""
        return f"; {len(self.conflict)} conflict(s) left as they are (--force overwrites them)"

    def lines(self) -> list[str]:
        """The plan for people: one line per action, with questions and decks."""
        out = [
            f"{len(self.add)} to add, {len(self.update)} to update, {len(self.move)} to move, "
            f"{len(self.orphan)} to orphan, {len(self.revive)} back from orphan, "
            f"{len(self.conflict)} conflict(s), {len(self.delete)} to delete"
        ]
        out += [f"  add: {w.question[:40]} → {w.deck}" for w in self.add]
        out += [f"  update: {w.question[:40]}" for w, _ in self.update]
        out += [
            f"  move: {w.question[:40]}: {', '.join(sorted(set(e.decks)))} → {w.deck}"
            for w, e in self.move
        ]
        out += [
            f"  orphan: {e.question[:40]} (tagged {ORPHAN_TAG}, suspended)" for e in self.orphan
        ]
        out += [f"  back: {w.question[:40]} (unsuspended)" for w, _ in self.revive]
        out += [
            f"  conflict: {w.question[:40]} was edited in Anki since the last sync; "
            "left as it is (--force overwrites it)"
            for w, _ in self.conflict
        ]
        out += [f"  overwritten (--force): {w.question[:40]}" for w, _ in self.forced]
        if self.delete:
            reviews = sum(e.reviews for e in self.delete)
            out.append(f"  delete: {len(self.delete)} orphan note(s) and their {reviews} review(s)")
            out += [f"  delete: {e.question[:40]} ({e.reviews} review(s))" for e in self.delete]
        elif self.kept_orphans or self.orphan:
            kept = len(self.kept_orphans) + len(self.orphan)
            out.append(
                f"  {kept} orphan(s) kept with their reviews (search tag:{ORPHAN_TAG}); "
                "--delete-orphans deletes them"
            )
        out += [f"  remove empty deck: {d}" for d in self.remove_decks]
        if self.media:
            out.append(f"  {len(self.media)} image(s) to add to the media folder")
        if self.model:
            out.append(f"  note type {MODEL_NAME}: {self.model} (CSS and templates)")
        return out


def _tags_for(existing: Iterable[str], ours: Iterable[str]) -> tuple[str, ...]:
    """The person's tags as they are, cardsmith's replaced by ``ours``."""
    theirs = [t for t in existing if not t.lower().startswith(MANAGED_TAG_PREFIXES)]
    return tuple(sorted({*theirs, *ours}, key=str.lower))


def _same_tags(a: Iterable[str], b: Iterable[str]) -> bool:
    return {t.lower() for t in a} == {t.lower() for t in b}


def _same_deck(a: str, b: str) -> bool:
    """Anki's deck names are unique without regard to case."""
    return a.casefold() == b.casefold()


def _ancestors(name: str) -> list[str]:
    parts = name.split("::")
    return ["::".join(parts[:i]) for i in range(1, len(parts) + 1)]


def make_plan(
    want: Desired, state: State, *, force: bool = False, delete_orphans: bool = False
) -> Plan:
    """What to do so that the collection holds exactly the notes, nothing else touched."""
    if state.model is not None and state.model_fields != FIELDS:
        raise SyncError(
            f"the collection's note type {MODEL_NAME!r} has the fields "
            f"{list(state.model_fields)}, not {list(FIELDS)}; cardsmith cannot update it"
        )
    add, update, move, revive, conflict, forced = [], [], [], [], [], []
    # What the last sync wrote, for the notes still there (a note deleted in Anki is forgotten).
    written = {g: h for g, h in state.written.items() if g in state.notes}
    wanted_guids = set()
    for w in want.notes:
        wanted_guids.add(w.guid)
        e = state.notes.get(w.guid)
        now = fields_hash(w.fields)
        if e is None:
            add.append(w)
            written[w.guid] = now
            continue
        if any(d != w.deck and not _same_deck(d, w.deck) for d in e.decks):
            move.append((w, e))
        # Most notes carry exactly cardsmith's tags: then nothing is worked out.
        tags = w.tags if e.tags == w.tags else _tags_for(e.tags, w.tags)
        if e.orphaned:
            revive.append((w, e))
        if e.fields_hash != now:
            last = state.written.get(w.guid)
            edited = last is not None and last != e.fields_hash
            if edited and not force:
                conflict.append((w, e))
                continue  # its tags and fields stay as the person left them
            if edited:
                forced.append((w, e))
            update.append((w, e))
        elif tags is not w.tags and not _same_tags(tags, e.tags):
            update.append((w, e))
        written[w.guid] = now
    orphans = [e for g, e in state.notes.items() if g not in wanted_guids]
    delete = tuple(orphans) if delete_orphans else ()
    new_orphans = tuple(
        e for e in orphans if not delete_orphans and (not e.orphaned or not all(e.suspended))
    )
    kept = tuple(e for e in orphans if not delete_orphans and e not in new_orphans)
    for e in delete:
        written.pop(e.guid, None)

    # Decks: every wanted deck exists; cardsmith's decks left empty go, deepest first.
    wanted_decks = {w.deck for w in want.notes}
    needed = {a for d in wanted_decks for a in _ancestors(d)}
    known = {d.casefold() for d in state.decks}
    create = tuple(sorted(d for d in needed if d.casefold() not in known))
    counts: dict[str, int] = defaultdict(int, state.deck_cards)
    for w, e in move:
        for d in e.decks:
            counts[d] -= 1
        counts[w.deck] += len(e.decks)
    for e in delete:
        for d in e.decks:
            counts[d] -= 1
    held = {*state.synced_decks, *(d for e in state.notes.values() for d in e.decks)}
    ours = {a for d in held for a in _ancestors(d)}
    needed_folded = {d.casefold() for d in needed}
    remove = _empty_decks(
        {d for d in ours if d.casefold() not in needed_folded}, state.decks, counts
    )

    unchanged = written == state.written and wanted_decks == state.synced_decks
    model = "create" if state.model is None else ("update" if state.model != want.model else "")
    return Plan(
        add=tuple(add),
        update=tuple(update),
        move=tuple(move),
        orphan=new_orphans,
        revive=tuple(revive),
        delete=delete,
        conflict=tuple(conflict),
        forced=tuple(forced),
        create_decks=create,
        remove_decks=remove,
        media=tuple(m for name, m in sorted(want.media.items()) if name not in state.media),
        model=model,
        state=None
        if unchanged
        else {"notes": dict(sorted(written.items())), "decks": sorted(wanted_decks)},
        kept_orphans=kept,
    )


def _empty_decks(
    candidates: set[str], decks: Mapping[str, int], counts: Mapping[str, int]
) -> tuple[str, ...]:
    """Candidate decks with no card below them and no deck below them that is not ours."""
    children: dict[str, list[str]] = defaultdict(list)
    for name in decks:
        if "::" in name:
            children[name.rsplit("::", 1)[0]].append(name)

    def removable(name: str) -> bool:
        return (
            name in candidates
            and name in decks
            and decks[name] != 1  # Anki's Default deck
            and counts.get(name, 0) <= 0
            and all(removable(c) for c in children[name])
        )

    gone = [d for d in decks if removable(d)]
    # Removing a deck removes its children: name only the top of each removed subtree.
    tops = [d for d in gone if not any(a in gone for a in _ancestors(d)[:-1])]
    return tuple(sorted(tops, key=lambda d: (-d.count("::"), d)))


# --- the anki library -----------------------------------------------------------------------


def open_collection(path: Path, shown: Path | None = None) -> Collection:
    """The collection at ``path``, opened with Anki's library (which may write to it: it
    upgrades an older schema, and takes in what a ``-wal`` file beside it holds); a clear
    error when Anki has it open, it cannot be written, or it is not there. ``shown``: the
    path messages name (a copy's original)."""
    try:
        from anki.collection import Collection
        from anki.errors import DBError
    except ImportError as exc:
        raise EnvironmentProblem(
            "cardsmith sync needs Anki's library (the 'sync' extra): pip install anki, or "
            "install cardsmith with it: pipx install '.[sync]' from a checkout"
        ) from exc
    shown = shown or path
    if not path.is_file():
        raise SyncError(f"no Anki collection at {shown} (the collection.anki2 of an Anki profile)")
    _refuse_other_files(path, shown)
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        raise SyncError(
            f"{shown} cannot be written: the file or its folder is read-only (Anki writes "
            "beside the collection too); --dry-run shows the plan without writing"
        )
    try:
        return Collection(str(path))
    except DBError as exc:
        if "already open" in str(exc):
            raise SyncError(
                f"{shown} is open in Anki (or being synced): close Anki first, "
                "or use cardsmith sync --ankiconnect while Anki runs"
            ) from exc
        detail = str(exc) if len(str(exc)) <= 160 else str(exc)[:159] + "…"
        raise SyncError(f"{shown} is not an Anki collection ({detail})") from exc


def read_copy(path: Path) -> State:
    """The collection's state, read through Anki's library from a copy of it (the file,
    and the ``-wal`` or ``-journal`` file beside it, which holds what Anki has not yet
    written into it): for a dry run that cannot read it with SQLite alone
    (:func:`read_directly`), as opening the collection itself may write to it."""
    if not path.is_file():
        raise SyncError(f"no Anki collection at {path} (the collection.anki2 of an Anki profile)")
    _refuse_other_files(path)
    with tempfile.TemporaryDirectory(prefix="cardsmith-") as folder:
        copy = Path(folder) / "collection.anki2"
        shutil.copyfile(path, copy)
        for journal in ("-wal", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                shutil.copyfile(f"{path}{journal}", f"{copy}{journal}")
        col = open_collection(copy, shown=path)
        try:
            state = read_state(col)
        finally:
            col.close()
    return replace(state, media=_media(Path(media_folder(str(path)))))


def _refuse_other_files(path: Path, shown: Path | None = None) -> None:
    """Raise :class:`SyncError` unless ``path`` looks like an Anki collection: Anki's
    library makes a new collection in whatever file it opens, so an empty file or another
    program's SQLite database would be written into. Read only ("immutable": SQLite makes
    no ``-wal`` or ``-shm`` file beside it); ``shown``: the path messages name."""
    what = "the collection.anki2 of an Anki profile"
    shown = shown or path
    if path.stat().st_size == 0:
        raise SyncError(f"{shown} is an empty file, not an Anki collection ({what})")
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
        try:
            found = db.execute(
                "select 1 from sqlite_master where type = 'table' and name = 'col'"
            ).fetchone()
        finally:
            db.close()
    except sqlite3.OperationalError:
        return  # locked (open in Anki) or unreadable: Anki's own open says which
    except sqlite3.DatabaseError:
        raise SyncError(f"{shown} is not an Anki collection: not a database ({what})") from None
    if found is None:
        raise SyncError(
            f"{shown} is not an Anki collection: a database without Anki's tables ({what})"
        )


def _db(col: Collection) -> Any:
    """The collection's database (None only once the collection is closed)."""
    if col.db is None:
        raise SyncError("the collection was closed during the sync")
    return col.db


def _our_model(col: Collection) -> dict[str, Any]:
    model = col.models.get(MODEL_ID)  # type: ignore[arg-type]
    if model is None:
        raise SyncError(f"the note type {MODEL_NAME!r} is missing from the collection")
    return model


_CARDS_SQL = (
    "select c.id, c.nid, c.did, c.odid, c.queue, "
    "(select count() from revlog r where r.cid = c.id) "
    "from cards c join notes n on c.nid = n.id where n.mid = ? order by c.ord"
)
_NOTES_SQL = "select id, guid, flds, tags from notes where mid = ?"


def _existing(
    nid: int, guid: str, flds: str, tags: str, cards: list[tuple[int, str, bool, int]]
) -> Existing:
    """One note as its row and its cards' rows read (``flds``: fields joined by 0x1f)."""
    return Existing(
        nid=nid,
        guid=guid,
        fields_hash=hashlib.sha256(flds.encode("utf-8")).hexdigest()[:16],  # = fields_hash
        question=question_text((flds.split("\x1f", 1)[0],), guid),
        tags=tuple(tags.split()),
        cards=tuple(c[0] for c in cards),
        decks=tuple(c[1] for c in cards),
        suspended=tuple(c[2] for c in cards),
        reviews=sum(c[3] for c in cards),
    )


def _media(folder: Path) -> frozenset[str]:
    return frozenset(p.name for p in folder.iterdir()) if folder.is_dir() else frozenset()


def media_folder(collection: str) -> str:
    """The media folder of the collection file ``collection``, as Anki names it
    (``anki.media.media_paths_from_col_path``: ``collection.anki2`` -> ``collection.media``)."""
    return re.sub(r"(?i)\.(anki2)$", ".media", collection)


def read_state(col: Collection) -> State:
    """The cardsmith notes, decks, media and the last sync's record of a collection."""
    model = col.models.get(MODEL_ID)  # type: ignore[arg-type]
    deck_names = {d.name: int(d.id) for d in col.decks.all_names_and_ids()}
    by_id = {i: n for n, i in deck_names.items()}
    deck_cards: dict[str, int] = defaultdict(int)
    for did, n in _db(col).all(
        "select case when odid != 0 then odid else did end as home, count() "
        "from cards group by home"
    ):
        if did in by_id:
            deck_cards[by_id[did]] += n
    notes: dict[str, Existing] = {}
    if model is not None:
        cards: dict[int, list[tuple[int, str, bool, int]]] = defaultdict(list)
        for cid, nid, did, odid, queue, reviews in _db(col).all(_CARDS_SQL, MODEL_ID):
            home = by_id.get(odid or did, "")
            cards[nid].append((cid, home, queue == _QUEUE_SUSPENDED, reviews))
        for nid, guid, flds, tags in _db(col).all(_NOTES_SQL, MODEL_ID):
            notes[guid] = _existing(nid, guid, flds, tags, cards.get(nid, []))
    record = col.get_config(STATE_KEY, default=None) or {}
    return State(
        notes=notes,
        model=None
        if model is None
        else NoteTypeLook(model["css"], model["tmpls"][0]["qfmt"], model["tmpls"][0]["afmt"]),
        model_fields=() if model is None else tuple(f["name"] for f in model["flds"]),
        decks=deck_names,
        deck_cards=deck_cards,
        media=_media(Path(col.media.dir())),
        written=dict(record.get("notes", {})),
        synced_decks=frozenset(record.get("decks", ())),
    )


#: Anki's schema version this module reads directly (Anki 2.1.50 and later write it); any
#: other is read through Anki's own library, which upgrades it.
_SCHEMA = 18
#: What :func:`read_state` reads, summed up: counted and timed again once Anki's library has
#: the collection open, so that a plan is never carried out on a collection that changed
#: after it was read (every change Anki makes sets the ``mod`` of what it touched).
_FINGERPRINT = (
    "select ver, mod from col",
    "select count(), total(mod), max(mod) from notes",
    "select count(), total(mod), max(mod) from cards",
    "select count(), max(id) from revlog",
    "select count(), total(mtime_secs) from decks",
    "select count(), total(mtime_secs) from notetypes",
    f"select mtime_secs, length(val) from config where key = '{STATE_KEY}'",
)
Fingerprint = tuple[tuple[Any, ...], ...]


def _fingerprint(first: Callable[[str], Any]) -> Fingerprint:
    return tuple(tuple(first(sql) or ()) for sql in _FINGERPRINT)


def read_directly(path: Path) -> tuple[State, Fingerprint] | None:
    """The collection's state read with SQLite alone, read-only, and a fingerprint of it
    (:data:`_FINGERPRINT`): what :func:`read_state` reads through Anki's library, without
    importing that library or opening the collection for writing (0.14 s at 10,000 notes,
    where importing, opening and reading took 0.53 s).

    None when it cannot be read so: changes Anki has not yet written into the file (a
    ``-wal`` or ``-journal`` file that is not empty), another schema than :data:`_SCHEMA`,
    no collection, anything unexpected. The caller then reads it through Anki's library,
    which says what is wrong. Note type CSS and templates are protobuf messages, read with
    Anki's own definitions (``anki.notetypes_pb2``).
    """
    try:
        from anki.notetypes_pb2 import Notetype
    except ImportError:
        return None
    # Changes not yet copied into the file itself (Anki running, or stopped short) are
    # Anki's to read. Without them the file is whole, and read as it stands ("immutable":
    # SQLite then makes no -wal or -shm file beside it, and takes no lock).
    for journal in ("-wal", "-journal"):
        with contextlib.suppress(OSError):
            if os.path.getsize(f"{path}{journal}"):
                return None
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
    except (sqlite3.Error, OSError, ValueError):
        return None
    try:
        if db.execute("select ver from col").fetchone() != (_SCHEMA,):
            return None
        state = _read_tables(db, path, Notetype)
        return state, _fingerprint(lambda sql: db.execute(sql).fetchone())
    except Exception:  # sqlite3, JSON or protobuf: not what a collection of this schema holds
        return None  # Anki's library reads it, or says what is wrong
    finally:
        db.close()


def _read_tables(db: sqlite3.Connection, path: Path, notetype: Any) -> State:
    """:func:`read_state`, row for row, from the tables of a collection of :data:`_SCHEMA`."""
    deck_names = {
        name.replace("\x1f", "::"): did for did, name in db.execute("select id, name from decks")
    }
    by_id = {i: n for n, i in deck_names.items()}
    deck_cards: dict[str, int] = defaultdict(int)
    for did, n in db.execute(
        "select case when odid != 0 then odid else did end as home, count() "
        "from cards group by home"
    ):
        if did in by_id:
            deck_cards[by_id[did]] += n
    model = db.execute("select config from notetypes where id = ?", (MODEL_ID,)).fetchone()
    look, names = None, ()
    notes: dict[str, Existing] = {}
    if model is not None:
        css = notetype.Config.FromString(model[0]).css
        template = db.execute(
            "select config from templates where ntid = ? order by ord limit 1", (MODEL_ID,)
        ).fetchone()
        formats = notetype.Template.Config.FromString(template[0])
        look = NoteTypeLook(css, formats.q_format, formats.a_format)
        names = tuple(
            n
            for (n,) in db.execute(
                "select name from fields where ntid = ? order by ord", (MODEL_ID,)
            )
        )
        cards: dict[int, list[tuple[int, str, bool, int]]] = defaultdict(list)
        for cid, nid, did, odid, queue, reviews in db.execute(_CARDS_SQL, (MODEL_ID,)):
            home = by_id.get(odid or did, "")
            cards[nid].append((cid, home, queue == _QUEUE_SUSPENDED, reviews))
        for nid, guid, flds, tags in db.execute(_NOTES_SQL, (MODEL_ID,)):
            notes[guid] = _existing(nid, guid, flds, tags, cards.get(nid, []))
    found = db.execute("select val from config where key = ?", (STATE_KEY,)).fetchone()
    record = json.loads(found[0]) if found else {}
    return State(
        notes=notes,
        model=look,
        model_fields=names,
        decks=deck_names,
        deck_cards=deck_cards,
        media=_media(Path(media_folder(str(path)))),
        written=dict(record.get("notes", {})),
        synced_decks=frozenset(record.get("decks", ())),
    )


def _ensure_model(col: Collection, want: NoteTypeLook, how: str) -> None:
    if how == "create":
        model = col.models.new(MODEL_NAME)
        for name in FIELDS:
            col.models.add_field(model, col.models.new_field(name))
        template = col.models.new_template("Card 1")
        col.models.add_template(model, template)
        model["css"], template["qfmt"], template["afmt"] = want.css, want.qfmt, want.afmt
        created = col.models.add_dict(model).id
        # Anki's library chooses the id of a new note type; cardsmith's is fixed (the
        # .apkg carries it, and Anki matches an imported note type by id), so the new
        # type is renumbered before any note uses it.
        for table, column in (("notetypes", "id"), ("fields", "ntid"), ("templates", "ntid")):
            _db(col).execute(
                f"update {table} set {column} = ? where {column} = ?", MODEL_ID, created
            )
        col.models._clear_cache()
    elif how == "update":
        model = _our_model(col)
        model["css"] = want.css
        model["tmpls"][0]["qfmt"], model["tmpls"][0]["afmt"] = want.qfmt, want.afmt
        col.models.update_dict(model)


def apply(col: Collection, plan: Plan, look: NoteTypeLook) -> None:
    """Carry the plan out with Anki's library (each step one of Anki's own operations);
    ``look``: the note type's CSS and templates, for a plan that creates or updates it."""
    from anki.collection import AddNoteRequest

    if plan.model:
        _ensure_model(col, look, plan.model)
    model = _our_model(col)
    for name in plan.create_decks:
        col.decks.id(name, create=True)
    deck_id = {d.name.casefold(): int(d.id) for d in col.decks.all_names_and_ids()}
    for medium in plan.media:
        col.media.write_data(medium.name, medium.data())
    if plan.add:
        requests = []
        # One new note copied: col.new_note() works out the field map anew for every note
        # (a third of a first sync's time in Anki).
        blank = col.new_note(model)
        for w in plan.add:
            note = copy.copy(blank)
            note.guid = w.guid
            note.fields = list(w.fields)  # in the order of FIELDS, as the note type has them
            note.tags = list(w.tags)
            requests.append(AddNoteRequest(note=note, deck_id=deck_id[w.deck.casefold()]))  # type: ignore[arg-type]
        col.add_notes(requests)
    changed = []
    for w, e in plan.update:
        note = col.get_note(e.nid)  # type: ignore[arg-type]
        for name, value in zip(FIELDS, w.fields, strict=True):
            note[name] = value
        note.tags = list(_tags_for(e.tags, w.tags))
        changed.append(note)
    updated = {e.nid for _, e in plan.update}
    for w, e in plan.revive:
        if e.nid not in updated:
            note = col.get_note(e.nid)  # type: ignore[arg-type]
            note.tags = list(_tags_for(e.tags, w.tags))
            changed.append(note)
    for e in plan.orphan:
        if not e.orphaned:
            note = col.get_note(e.nid)  # type: ignore[arg-type]
            note.tags = [*note.tags, ORPHAN_TAG]
            changed.append(note)
    if changed:
        col.update_notes(changed)
    by_deck: dict[str, list[int]] = defaultdict(list)
    for w, e in plan.move:
        by_deck[w.deck] += [
            c for c, d in zip(e.cards, e.decks, strict=True) if not _same_deck(d, w.deck)
        ]
    for name, cids in sorted(by_deck.items()):
        col.set_deck(cids, deck_id[name.casefold()])  # type: ignore[arg-type]
    suspend = [c for e in plan.orphan for c, s in zip(e.cards, e.suspended, strict=True) if not s]
    if suspend:
        col.sched.suspend_cards(suspend)  # type: ignore[arg-type]
    unsuspend = [c for _, e in plan.revive for c, s in zip(e.cards, e.suspended, strict=True) if s]
    if unsuspend:
        col.sched.unsuspend_cards(unsuspend)  # type: ignore[arg-type]
    if plan.delete:
        col.remove_notes([e.nid for e in plan.delete])  # type: ignore[misc]
    gone = [deck_id[d.casefold()] for d in plan.remove_decks if d.casefold() in deck_id]
    if gone:
        col.decks.remove(gone)  # type: ignore[arg-type]
    if plan.state is not None:
        col.set_config(STATE_KEY, dict(plan.state))


# --- the collection's own process ----------------------------------------------------------------


class CollectionSide:
    """The collection's part of a sync, in a process of its own, forked as the sync starts.

    It reads the collection at once, with SQLite alone (:func:`read_directly`: 0.14 s at
    10,000 notes, where Anki's library took 0.35 s after 0.18 s to import it and open the
    collection). Told to (:meth:`read`: once the notes are compiled), a sync that writes
    opens the collection with Anki's library, beside this process's checks of the notes,
    and sends what it read, read again through the library if the collection changed
    meanwhile (:data:`_FINGERPRINT`); then it carries out the plan it is sent, closes the
    collection and ends. A collection that cannot be read with SQLite alone is read
    through Anki's library.

    Nothing it is not sent is written: a sync stopped by the notes (errors, a lock
    restored meanwhile) closes the collection as it was, and a dry run never opens it for
    writing. It dies with this process, even killed outright, and leaves Ctrl-C to it: a
    plan being carried out is finished, as one of Anki's own operations would be.
    """

    def __init__(self, path: Path, write: bool = True) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(
            target=_collection_side, args=(path, theirs, os.getpid(), write), daemon=True
        )
        self._process.start()
        theirs.close()
        self._reading = self._sent = False

    def read(self) -> None:
        """Send the collection's state now, and open it for writing beside this process's
        work."""
        if not self._reading:
            self._conn.send(True)
            self._reading = True

    def state(self) -> State:
        """The collection as it was read (raises what opening or reading it raised)."""
        self.read()
        found = self._receive()
        assert isinstance(found, State)
        return found

    def apply(self, plan: Plan, look: NoteTypeLook) -> None:
        """Start carrying ``plan`` out, then closing the collection (:meth:`applied` waits for
        it). Only the plan is sent: its notes are the ones that change."""
        self._conn.send((plan, look))
        self._sent = True

    def applied(self) -> None:
        """Wait until the plan sent is carried out (raises what Anki raised)."""
        if self._sent:
            self._receive()

    def close(self) -> None:
        """Close the collection (unchanged unless a plan was sent) and wait for the end."""
        if not self._sent:
            with contextlib.suppress(OSError):  # it ended already (no collection to open)
                self._conn.send(None)
        self._conn.close()
        self._process.join()

    def _receive(self) -> object:
        try:
            failed, value = self._conn.recv()
        except EOFError:
            self._process.join()
            raise SyncError(
                f"the collection's process ended without a word (exit code "
                f"{self._process.exitcode}); the collection was closed as Anki left it"
            ) from None
        if failed:
            raise value
        return value

    def __enter__(self) -> CollectionSide:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` as it can be sent to the other process (Anki's own errors may not be)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return SyncError(f"Anki's library failed: {type(exc).__name__}: {exc}")
    return exc


def _collection_side(path: Path, conn: Connection, parent: int, write: bool) -> None:
    """The body of :class:`CollectionSide`'s process: read, wait, open, apply, close."""
    become_worker(parent)
    read = read_directly(path)
    try:
        if not conn.recv():
            return  # the sync stopped before it needed the collection
    except EOFError:
        return
    col: Collection | None = None
    answer: tuple[bool, object] = (False, None)
    try:
        state = read[0] if read is not None else None
        if write:
            # Opened before its state is sent: a collection open in Anki is refused even
            # when the notes ask for nothing, and no one writes to it after this.
            col = open_collection(path)
            if read is None or _fingerprint(_db(col).first) != read[1]:
                state = read_state(col)  # it changed after it was read: read it again
        elif state is None:
            state = read_copy(path)  # a dry run writes nothing, not even through Anki
        conn.send((False, state))
        order = conn.recv()
        if order is not None:
            assert col is not None, "a plan for a dry run"
            apply(col, *order)
    except EOFError:
        pass  # the sync stopped: nothing more to do
    except BaseException as exc:
        answer = (True, _sendable(exc))
    finally:
        if col is not None:
            col.close()
    with contextlib.suppress(OSError):  # the sync is gone
        conn.send(answer)


# --- the command ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncResult:
    """What a sync did (or, with ``--dry-run``, would do)."""

    plan: Plan
    """The actions, for the summary."""
    applied: bool
    """False for a dry run."""
    successors: tuple[Successor, ...] = ()
    """Orphans with a likely successor: an ``[aliases]`` line would keep their history."""
    diagnostics: tuple[Diagnostic, ...] = ()
    """The notes' warnings, as a build prints them (errors stop a sync before Anki opens)."""

    def lines(self) -> list[str]:
        """The plan, then how to keep the history of an orphan with a likely successor."""
        out = self.plan.lines()
        for successor in self.successors:
            out += orphan_lines(successor.orphan, frozenset(), successor)
        return out


def notes_for(
    config: Config, progress: Progress = _quiet, dry_run: bool = False
) -> tuple[BuildData, Identity, tuple[Diagnostic, ...]]:
    """Parse, check and identify the notes, with their warnings; content errors stop here,
    before anything is written to Anki, and so does a sync that would orphan most of the lock's
    questions (:func:`~pipeline.safeguards.refuse_mass_orphan`, as for a build; a dry run
    shows the plan instead).

    The compiled records are cached as a build caches them: a sync after a small edit
    compiles only the edited files.
    """
    # A sync writes what the package would carry and prints no sheet, so the PDF's checks
    # (a character no PDF font has is an error there) must not stop it.
    config = replace(config, formats=("apkg",))
    with ParseCache.open(config, typst=False, staging=True) as cache:
        result = check(config, progress, cache)
        if any(d.severity == "error" for d in result.collection.diagnostics):
            raise ContentError(result.collection.diagnostics)
        cache.save()  # records of notes without errors, keyed by their bytes: safe to keep
    identity = result.identity
    if not dry_run:
        refuse_mass_orphan(identity, config.lock_path, config.allow_mass_orphan)
    data = BuildData(identity.cards, config, identity.note_type.mod)
    return data, identity, result.collection.diagnostics


def sync(
    config: Config,
    collection: Path,
    *,
    dry_run: bool = False,
    delete_orphans: bool = False,
    force: bool = False,
    progress: Progress = _quiet,
) -> SyncResult:
    """Apply the notes to the collection at ``collection`` (Anki must be closed)."""
    # The collection is opened and read in its own process while the notes are matched and
    # checked (the Anki part of a 10k re-sync, 0.3 s, came after the notes' part); the
    # collector paused as in a build (10 % of the Anki part at 10k questions).
    with collector_paused(), CollectionSide(collection, write=not dry_run) as side:

        def compiled_then_read(stage: str, done: int, total: int) -> None:
            if stage != "parse" or done == total:  # compiled: the cores are free
                side.read()
            progress(stage, done, total)

        data, identity, warnings = notes_for(config, compiled_then_read, dry_run)
        if not dry_run:  # a lock restored meanwhile: Anki is not touched
            refuse_changed_lock(config.lock_path, identity)
        want = desired(data)
        progress("anki", 0, 1)
        plan = make_plan(want, side.state(), force=force, delete_orphans=delete_orphans)
        if not dry_run and not plan.empty:
            side.apply(plan, want.model)
        # The lock's text is made while Anki writes, and written once it is done.
        lock = None if dry_run else lock_after(identity, plan)
        side.applied()
    progress("anki", 1, 1)
    if lock is not None:
        record_ids(config, identity, lock)
    return SyncResult(plan, not dry_run, identity.successors, warnings)


def lock_after(identity: Identity, plan: Plan) -> bytes:
    """The lock's text once ``plan`` is carried out: the ids now in Anki, as after a build,
    and the orphans the sync deleted resolved (gone from the lock)."""
    lock, _unknown = forget_orphans(identity.lock_file, [e.guid for e in plan.delete])
    return lock_text(lock).encode("utf-8")


def record_ids(config: Config, identity: Identity, lock: bytes) -> None:
    """Write ``lock`` (:func:`lock_after`) after a sync carried its plan out.

    A lock that changed while Anki was being updated (restored from version control) is
    left as it is, and :class:`EnvironmentProblem` says so: the next sync matches the notes
    against it and brings Anki in step (a note whose id it does not know becomes an orphan,
    kept with its reviews), where writing over it would undo the restore without a word.
    """
    if lock_state(config.lock_path) != identity.read_from:
        raise EnvironmentProblem(
            f"{config.lock_path}: the lock file changed while this sync ran (restored from "
            "version control?); Anki was updated, the lock was not written: sync again"
        )
    write_lock_bytes(config.lock_path, lock)
