"""What a sync makes true, and what it must do for it: plain data on both sides.

:func:`desired` is the notes as Anki should hold them, :class:`State` what a collection
holds (read by :mod:`pipeline.ankifile` from a collection file, or by
:mod:`pipeline.ankiconnect` from a running Anki), and :func:`make_plan` what to do so that
the collection holds exactly the notes, nothing else touched. Nothing here reads or writes
Anki: ``--dry-run``, the collection file and AnkiConnect share it.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import operator
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, NamedTuple
from unicodedata import normalize

from .errors import CardsmithError, Diagnostic, one_line
from .export.anki import Medium, note_fields
from .notetype import FIELDS, MODEL_NAME, NoteTypeLook, current_look
from .records import BuildData, Lock, by_columns, from_columns

ORPHAN_TAG = "cardsmith::orphan"
#: Tags cardsmith sets (the parser's ``file::``, ``section::`` and ``code::``, and ours);
#: every other tag on a note is the person's and stays.
MANAGED_TAG_PREFIXES = ("file::", "section::", "code::", "cardsmith::")


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
    digest: str = ""
    """:func:`fields_hash` of :attr:`fields` ("": worked out when needed)."""

    @property
    def fields_hash(self) -> str:
        return self.digest or fields_hash(self.fields)


class Carried(NamedTuple):
    """A note of a note file a sync's memo carries over (:mod:`pipeline.syncmemo`): what
    the last sync wanted of it, the same now, as its file and settings are."""

    guid: str
    """The question's stable id."""
    digest: str
    """:func:`fields_hash` of its fields."""
    deck: str
    """Its section's deck."""
    tags: tuple[str, ...]
    """cardsmith's tags for it."""
    media: tuple[str, ...]
    """The media names its fields point to."""


class Unsettled(Exception):
    """Notes the memo carries are not as the last sync left them in the collection (edited,
    moved or orphaned in Anki, an image removed from the media folder): the sync plans
    them from their note files instead."""

    def __init__(self, guids: Iterable[str]) -> None:
        self.guids = frozenset(guids)
        """The ids of those notes."""
        super().__init__(", ".join(sorted(self.guids)))


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
    return stored_fields_hash("\x1f".join(fields).encode("utf-8"))


def stored_fields_hash(stored: bytes) -> str:
    """:func:`fields_hash` of the fields as a collection stores them: joined by 0x1f, in
    UTF-8 (the ``flds`` column's bytes)."""
    return hashlib.sha256(stored).hexdigest()[:16]


_TAG = re.compile(r"<[^>]*>")


def question_text(fields: tuple[str, ...], guid: str) -> str:
    """A note's question as text (its first field holds HTML; the guid when it has none)."""
    return html.unescape(_TAG.sub("", fields[0])) if fields else guid


#: What Anki removes from a field it stores: the C0 control characters but tab and line
#: feed, and DEL (measured with the ``anki`` package: carriage return goes too). A pattern:
#: ``str.translate`` with a table took 1.3 s over the answers of 10k questions, this 0.09 s.
_ANKI_REMOVES = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def as_anki_keeps(field: str) -> str:
    """``field`` as Anki stores it: NFC, without the characters it removes."""
    return _ANKI_REMOVES.sub("", normalize("NFC", field))


def desired(data: BuildData, known: Set[str] = frozenset()) -> Desired:
    """The notes as Anki should hold them: fields with packed media, tags and decks.

    ``known``: the ids of notes left out, wanted as a sync's memo says (a note unchanged
    since the sync that made the memo: :func:`~pipeline.syncmemo.unchanged_notes`); their
    fields are not made again (0.08 s of a 10k re-sync after edits in every file).
    """
    root = data.config.content.resolve()
    media: dict[str, Medium] = {}
    notes = []
    for card in data.notes:
        if card.id in known:
            continue
        # As Anki keeps them: fields in another form read back as edited in Anki, on every
        # sync (the twenty-ninth trial: a control character in an answer).
        fields = tuple(as_anki_keeps(f) for f in note_fields(card, root, media))
        notes.append(
            Wanted(
                guid=card.id,
                fields=fields,
                tags=card.tags,
                deck=card.deck.path,
                question=card.question,
                digest=fields_hash(fields),
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
    filtered: tuple[bool, ...] = ()
    """Whether each card is in a filtered deck now (its home deck is in :attr:`decks`);
    empty when the reader cannot tell (AnkiConnect)."""

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
    """The decks the syncs put notes in, kept until a sync removes them (a deck under an
    earlier root deck, holding an orphan, is cardsmith's until it is empty)."""
    suspended_by_sync: frozenset[int] | None = None
    """Cards the syncs suspended as orphans, so that a question back unsuspends only those
    (None: a record of a cardsmith that kept none; then every suspended card of it)."""
    filtered_decks: frozenset[str] = frozenset()
    """Names of the filtered decks, case-folded (no card may be moved into one)."""
    written_look: str = ""
    """The :attr:`~pipeline.notetype.NoteTypeLook.digest` of the note type the last sync
    left ("": a record of a cardsmith that kept none)."""

    def __reduce__(self) -> tuple[Any, ...]:
        # Sent from the collection's process: its notes a field at a time (by_columns).
        rest = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "notes"}
        return _state_again, (tuple(self.notes), by_columns(tuple(self.notes.values())), rest)


def _state_again(
    guids: tuple[str, ...], notes: tuple[str, tuple[tuple[Any, ...], ...]], rest: dict[str, Any]
) -> State:
    return State(dict(zip(guids, from_columns(Existing, notes), strict=True)), **rest)


def recorded(record: Mapping[str, Any]) -> dict[str, Any]:
    """What a sync record (:attr:`Plan.state`, read from the collection) gives a
    :class:`State`: its fields by name."""
    found = record.get("suspended")
    return {
        "written": dict(record.get("notes", {})),
        "synced_decks": frozenset(record.get("decks", ())),
        # None: a record that keeps no such list.
        "suspended_by_sync": None if found is None else frozenset(int(c) for c in found),
        "written_look": str(record.get("look", "")),
    }


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
    """cardsmith decks left empty, deepest first: the top of each branch (removing a deck
    removes the decks under it)."""
    decks_gone: int = 0
    """Every deck the removals take away, those under the tops included."""
    media: tuple[Medium, ...] = ()
    """Images not yet in the media folder."""
    suspend: tuple[int, ...] = ()
    """Cards of the new orphans to suspend (those not suspended already)."""
    unsuspend: tuple[int, ...] = ()
    """Cards of the questions back to unsuspend: those a sync suspended, never one the
    person suspended themselves (found by the twelfth trial)."""
    model: str = ""
    """"create" or "update" the note type, or "" when it is current."""
    state: Mapping[str, Any] | None = None
    """The new sync record for the collection's config, or None when unchanged."""
    kept_orphans: tuple[Existing, ...] = field(default=())
    """Orphans from earlier syncs, still kept (tagged and suspended)."""
    spared: tuple[Existing, ...] = ()
    """Orphans edited in Anki since the last sync that ``--delete-orphans`` leaves (kept,
    tagged and suspended; ``--force`` deletes them)."""
    unknown: tuple[Existing, ...] = ()
    """Studied orphans the lock does not know (another notes folder's, a lock not
    committed): kept, tagged and suspended, even with ``--delete-orphans``."""
    absent_orphans: tuple[str, ...] = ()
    """Ids of the lock's orphans this collection holds no note of (never synced into it, or
    deleted in Anki): only the lock keeps them. ``--delete-orphans`` forgets them there."""
    forget_absent: bool = False
    """``--delete-orphans``: the absent orphans go from the lock with the deleted ones."""
    model_edited: bool = False
    """The note type's CSS or templates were edited in Anki since the last sync (the
    update replaces the edit: the plan says so)."""
    readded: frozenset[str] = frozenset()
    """Guids of notes to add that an earlier sync wrote: deleted in Anki since, while their
    question stayed (suspend a card you no longer want, or remove its question)."""

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
            (self.decks_gone, "empty deck(s) removed"),
            (len(self.media), "image(s) added"),
        )
        if self.empty:
            # Nothing written to Anki; the lock may still follow the notes (a conflict left).
            return "Anki is up to date: nothing was written to it" + self.conflicts_left()
        made = {"create": ["the note type made"], "update": ["the note type updated"], "": []}
        done = ", ".join([*(f"{n} {what}" for n, what in counts if n), *made[self.model]])
        # In step but for the conflicts: "in step" alone would not be true.
        head = "Anki is updated" if self.conflict else "Anki is in step"
        return f"{head}: {done or 'the sync record updated'}" + self.conflicts_left()

    def conflicts_left(self) -> str:
        said = []
        if self.conflict:
            said.append(
                f"{len(self.conflict)} conflict(s) left as they are (--force overwrites them)"
            )
        if self.spared:
            said.append(
                f"{len(self.spared)} orphan(s) edited in Anki not deleted (--force deletes them)"
            )
        return "".join(f"; {s}" for s in said)

    def lines(self, succeeded: Set[str] = frozenset()) -> list[str]:
        """The plan for people: one line per action, with questions and decks.
        ``succeeded``: ids of orphans with a likely successor, whose history an ``[aliases]``
        line keeps (never advised to be deleted)."""
        out = [
            f"{len(self.add)} to add, {len(self.update)} to update, {len(self.move)} to move, "
            f"{len(self.orphan)} to orphan, {len(self.revive)} back from orphan, "
            f"{len(self.conflict)} conflict(s), {len(self.delete)} to delete"
        ]
        out += [
            f"  add: {one_line(w.question, 40)} → {w.deck}"
            + (
                " (deleted in Anki since the last sync: its question is still here)"
                if w.guid in self.readded
                else ""
            )
            for w in self.add
        ]
        out += [f"  update: {one_line(w.question, 40)}" for w, _ in self.update]
        out += [
            f"  move: {one_line(w.question, 40)}: {', '.join(sorted(set(e.decks)))} → {w.deck}"
            for w, e in self.move
        ]
        out += [
            f"  orphan: {one_line(e.question, 40)} (tagged {ORPHAN_TAG}, suspended)"
            for e in self.orphan
        ]
        unsuspended = set(self.unsuspend)
        out += [
            f"  back: {one_line(w.question, 40)} (unsuspended)"
            if unsuspended.intersection(e.cards) or not any(e.suspended)
            else f"  back: {one_line(w.question, 40)} (left suspended: you suspended it)"
            for w, e in self.revive
        ]
        out += [
            f"  conflict: {one_line(w.question, 40)} was edited in Anki since the last sync; "
            "left as it is (--force overwrites it)"
            for w, _ in self.conflict
        ]
        out += [f"  overwritten (--force): {one_line(w.question, 40)}" for w, _ in self.forced]
        if self.delete:
            reviews = sum(e.reviews for e in self.delete)
            # Anki keeps a deleted card's review log (its statistics count it), but no card
            # carries that history on: what is lost is the scheduling.
            out.append(
                f"  delete: {len(self.delete)} orphan note(s) and their {reviews} review(s) "
                "(Anki's statistics keep the review log; no card keeps the schedule)"
            )
            out += [
                f"  delete: {one_line(e.question, 40)} ({e.reviews} review(s))" for e in self.delete
            ]
        out += [
            f"  not deleted: {one_line(e.question, 40)} was edited in Anki since the last sync "
            "(--force deletes it)"
            for e in self.spared
        ]
        if self.unknown:
            reviews = sum(e.reviews for e in self.unknown)
            # Those orphaned before count too: the header counts only this sync's.
            before = sum(1 for e in self.unknown if e.orphaned)
            earlier = f", {before} of them orphaned before" if before else ""
            out.append(
                f"  {len(self.unknown)} orphan(s) this notes folder's lock does not know"
                f"{earlier}, with {reviews} review(s), kept (another notes folder's, or a lock "
                "not committed): --delete-orphans leaves them"
            )
        foreign = {e.guid for e in self.unknown}
        kept = [e.guid for e in (*self.kept_orphans, *self.orphan) if e.guid not in foreign]
        if not (self.delete or self.spared) and kept:
            paired = sum(1 for guid in kept if guid in succeeded)
            out.append(
                f"  {len(kept)} orphan(s) kept with their reviews (search tag:{ORPHAN_TAG}); "
                + (
                    f"{paired} of them with a likely successor: its [aliases] line below "
                    "keeps the history, where --delete-orphans would delete it"
                    if paired
                    else "--delete-orphans deletes them"
                )
            )
        if self.absent_orphans:
            n = len(self.absent_orphans)
            out.append(
                f"  forget: {n} orphan(s) of the lock this collection has no note of"
                if self.forget_absent
                else f"  {n} orphan(s) of the lock have no note in this collection (listed by "
                "cardsmith orphans); --delete-orphans forgets them"
            )
        # Every deck the sync makes or removes, as the closing line counts them (a dry run
        # named only the removed branches' tops: found by the eleventh trial).
        out += [f"  make deck: {d}" for d in self.create_decks]
        out += [f"  remove empty deck: {d}" for d in self.remove_decks]
        if self.decks_gone > len(self.remove_decks):
            out.append(f"  ({self.decks_gone} empty decks removed in all, with those under them)")
        if self.media:
            out.append(f"  {len(self.media)} image(s) to add to the media folder")
        if self.model:
            edited = "; edited in Anki since the last sync: replaced" if self.model_edited else ""
            out.append(f"  note type {MODEL_NAME}: {self.model} (CSS and templates{edited})")
        return out


def _note_in_step(n: Carried, state: State) -> bool:
    """Whether the collection holds the carried note ``n`` as the last sync left it: its
    fields, tags, deck and media, neither orphaned nor held suspended."""
    e = state.notes.get(n.guid)
    return not (
        e is None
        or e.fields_hash != n.digest
        or _retagged(e.tags, n.tags)
        or e.orphaned
        or _held(e, state.suspended_by_sync)
        or _off_deck(e, n.deck)
        or not state.media.issuperset(n.media)
    )


def _in_step(carried: Sequence[Carried], guids: list[str], state: State) -> bool:
    """Whether every note of ``carried`` is in step (:func:`_note_in_step`), a column at a
    time: most are, and 10,000 of them one by one took 15 ms of a re-sync. A column
    that differs is looked at a note at a time."""
    notes = state.notes
    if not notes.keys() >= set(guids):
        return False
    existing = list(map(notes.__getitem__, guids))
    if list(map(_FIELDS_HASH, existing)) != list(map(_DIGEST, carried)):
        return False
    if not state.media.issuperset(itertools.chain.from_iterable(map(_MEDIA, carried))):
        return False
    if ORPHAN_TAG in set(itertools.chain.from_iterable(map(_TAGS, existing))):
        return False  # an orphan's tag on one of them (notes rarely carry it)
    # Where a column differs (a note with more cards; tags in Anki's order, or the
    # person's own added), each note of it is looked at.
    if list(map(_DECKS, existing)) != [(d,) for d in map(_DECK, carried)] and any(
        map(_off_deck, existing, map(_DECK, carried))
    ):
        return False
    if list(map(_TAGS, existing)) != list(map(_TAGS, carried)) and any(
        map(_retagged, map(_TAGS, existing), map(_TAGS, carried))
    ):
        return False
    by_sync = state.suspended_by_sync
    return not by_sync or not any(_held(e, by_sync) for e in existing)


_GUID = operator.attrgetter("guid")
_DECK = operator.attrgetter("deck")
_DIGEST = operator.attrgetter("digest")
_MEDIA = operator.attrgetter("media")
_TAGS = operator.attrgetter("tags")
_DECKS = operator.attrgetter("decks")
_FIELDS_HASH = operator.attrgetter("fields_hash")


def _tags_for(existing: Iterable[str], ours: Iterable[str]) -> tuple[str, ...]:
    """The person's tags as they are, cardsmith's replaced by ``ours``: one of each spelling
    apart from case, as Anki keeps them, ours first (a set kept either ``python`` or
    ``Python`` as its hashes fell, a different one from one run to the next: the
    thirty-fifth trial), sorted."""
    one = {t.lower(): t for t in existing if not t.lower().startswith(MANAGED_TAG_PREFIXES)}
    one.update((t.lower(), t) for t in ours)
    return tuple(sorted(one.values(), key=str.lower))


def _same_tags(a: Iterable[str], b: Iterable[str]) -> bool:
    return {t.lower() for t in a} == {t.lower() for t in b}


def _retagged(existing: tuple[str, ...], ours: tuple[str, ...]) -> bool:
    """Whether a note tagged ``existing`` gets other tags when cardsmith's become ``ours``
    (the person's own kept). Most notes carry exactly cardsmith's, maybe in another order
    (Anki keeps a note's tags sorted): then nothing is worked out."""
    if existing == ours or set(existing) == set(ours):
        return False
    return not _same_tags(_tags_for(existing, ours), existing)


def _held(e: Existing, by_sync: frozenset[int] | None) -> bool:
    """Whether a note that is no orphan has a card a sync suspended as one: its question
    came back through an ``.apkg`` import, which took the orphan tag away and left the card
    suspended for good (the twenty-fifth trial)."""
    if not by_sync or e.orphaned:
        return False
    return any(s and c in by_sync for c, s in zip(e.cards, e.suspended, strict=True))


def _off_deck(e: Existing, deck: str) -> bool:
    """Whether a card of ``e`` has a home deck other than ``deck``."""
    return any(d != deck and not _same_deck(d, deck) for d in e.decks)


def _same_deck(a: str, b: str) -> bool:
    """Anki's deck names are unique without regard to case."""
    return a.casefold() == b.casefold()


def _ancestors(name: str) -> list[str]:
    parts = name.split("::")
    return ["::".join(parts[:i]) for i in range(1, len(parts) + 1)]


def plan_against(
    want: Desired,
    state: State,
    lock: Lock,
    *,
    force: bool = False,
    delete_orphans: bool = False,
    carried: Iterable[Carried] = (),
) -> Plan:
    """:func:`make_plan` for notes identified against ``lock`` (the lock after matching):
    its orphans are named when the collection holds none of them, and only the ids it
    knows may be deleted."""
    return make_plan(
        want,
        state,
        force=force,
        delete_orphans=delete_orphans,
        lock_orphans=[e.id for e in lock.orphans],
        carried=carried,
        known={e.id for e in (*lock.notes, *lock.orphans)},
    )


def lock_unknown(lock: Path, plan: Plan) -> tuple[Diagnostic, ...]:
    """A warning at the lock ``lock`` when ``plan`` orphans studied notes it does not know:
    another notes folder's, synced into the same collection, or this folder's under a lock
    not committed or lost (a reworded question lost its reviews to an orphan without a
    word: the twenty-fourth and twenty-fifth trials). They are kept, and
    ``--delete-orphans`` leaves them (:attr:`Plan.unknown`)."""
    unknown = {e.guid for e in plan.unknown}
    orphaned = [e for e in plan.orphan if e.guid in unknown]
    reviews = sum(e.reviews for e in orphaned)
    if not reviews:  # never studied: the plan lists them, nothing to lose
        return ()
    message = (
        f"this sync orphans {len(orphaned)} note(s) that {lock.name} does not know, with "
        f"{reviews} review(s): kept, suspended, and --delete-orphans leaves them; if they "
        "are this folder's, put its lock back and sync again; another notes folder needs "
        "an Anki profile of its own"
    )
    return (Diagnostic(lock.name, 0, "warning", message, "lock-unknown"),)


def make_plan(
    want: Desired,
    state: State,
    *,
    force: bool = False,
    delete_orphans: bool = False,
    lock_orphans: Iterable[str] = (),
    carried: Iterable[Carried] = (),
    known: Set[str] | None = None,
) -> Plan:
    """What to do so that the collection holds exactly the notes, nothing else touched.

    ``lock_orphans``: the ids of the lock's orphans; those the collection has no note of
    are named (:attr:`Plan.absent_orphans`), as a build lists them and a sync cannot
    (the eleventh trial found one a sync never saw, that ``--delete-orphans`` left).
    ``carried``: notes wanted besides ``want``'s, as the last sync left them; each must be
    so in the collection (its fields, tags, deck and media), or :class:`Unsettled`: then
    nothing is to be done for it, as for a note of ``want`` that is in step. ``known``:
    the ids the lock knows (its notes and orphans; None: every note is the notes'); a
    studied orphan it does not know (another notes folder's, a lock not committed) is
    never deleted (:attr:`Plan.unknown`: ``--delete-orphans`` of a second folder deleted a
    first folder's studied notes, the twenty-fifth trial).
    """
    if state.model is not None and state.model_fields != FIELDS:
        raise SyncError(
            f"the collection's note type {MODEL_NAME!r} has the fields "
            f"{list(state.model_fields)}, not {list(FIELDS)}; cardsmith cannot update it"
        )
    add, update, move, revive, conflict, forced = [], [], [], [], [], []
    # What the last sync wrote, for the notes still there (a note deleted in Anki is forgotten).
    written = {g: h for g, h in state.written.items() if g in state.notes}
    carried = tuple(carried)
    guids = list(map(_GUID, carried))
    if not _in_step(carried, guids, state):
        # Every one at once: the sync plans their files from the notes.
        raise Unsettled([n.guid for n in carried if not _note_in_step(n, state)])
    wanted_guids = set(guids)
    wanted_decks = {w.deck for w in want.notes}
    wanted_decks.update(map(_DECK, carried))
    written.update(zip(guids, map(_DIGEST, carried), strict=True))
    for w in want.notes:
        wanted_guids.add(w.guid)
        e = state.notes.get(w.guid)
        now = w.fields_hash
        if e is None:
            add.append(w)
            written[w.guid] = now
            continue
        if _off_deck(e, w.deck):
            move.append((w, e))
        if e.orphaned or _held(e, state.suspended_by_sync):
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
        elif _retagged(e.tags, w.tags):
            update.append((w, e))
        written[w.guid] = now
    orphans = [e for g, e in state.notes.items() if g not in wanted_guids]
    _refuse_filtered(wanted_decks, state)
    # An orphan edited in Anki since the last sync is not deleted without --force, as an
    # edited note is not overwritten (--delete-orphans took the edit without a word: the
    # thirteenth trial).
    spared = tuple(
        e
        for e in orphans
        if delete_orphans and not force and state.written.get(e.guid) not in (None, e.fields_hash)
    )
    # Not ours to delete, unless never studied: nothing is lost then (a note a sync without
    # its lock added, left behind once the lock was back: the twenty-sixth trial).
    unknown = tuple(e for e in orphans if known is not None and e.guid not in known and e.reviews)
    staying = {e.guid for e in (*spared, *unknown)} if delete_orphans else {e.guid for e in orphans}
    delete = tuple(e for e in orphans if e.guid not in staying)
    new_orphans = tuple(
        e for e in orphans if e.guid in staying and (not e.orphaned or not all(e.suspended))
    )
    suspending = {e.guid for e in new_orphans}
    kept = tuple(e for e in orphans if e.guid in staying and e.guid not in suspending)
    for e in delete:
        written.pop(e.guid, None)

    # Decks: every wanted deck exists; cardsmith's decks left empty go, deepest first.
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
    # cardsmith's decks: those the syncs put notes in (remembered until removed: an
    # orphan's old deck under an earlier root deck), and those under the root deck that
    # hold its notes now (a collection an .apkg filled). A deck of the person's own into
    # which they moved a card is not one: it was removed once that card was moved back
    # (found by the twelfth trial).
    root = want.root_deck.casefold()
    homes = {d for e in state.notes.values() for d in e.decks}  # a few decks, 10,000 notes
    held = {
        *state.synced_decks,
        *(d for d in homes if d.casefold() == root or d.casefold().startswith(root + "::")),
    }
    ours = {a for d in held for a in _ancestors(d)}
    needed_folded = {d.casefold() for d in needed}
    remove, gone = _empty_decks(
        {d for d in ours if d.casefold() not in needed_folded}, state.decks, counts
    )
    removed = {d.casefold() for d in remove}
    record_decks = {*wanted_decks} | {
        d
        for d in state.synced_decks
        if d.casefold() in known and not any(a.casefold() in removed for a in _ancestors(d))
    }

    suspend = tuple(
        c for e in new_orphans for c, s in zip(e.cards, e.suspended, strict=True) if not s
    )
    by_sync = state.suspended_by_sync
    unsuspend = tuple(
        c
        for _, e in revive
        for c, s in zip(e.cards, e.suspended, strict=True)
        if s and (by_sync is None or c in by_sync)
    )
    look = want.model.digest
    rewritten = not (
        written == state.written
        and record_decks == state.synced_decks
        and state.written_look == look
    )
    # A record that kept no suspensions (an older cardsmith's) gets them when it is written
    # anyway, or a sync suspends or unsuspends: else a sync with nothing to do would write
    # it. Written without them, a person's own suspension was undone when its question came
    # back, as if a sync had made it (the twenty-fifth trial).
    record_suspended = by_sync is not None or bool(suspend or unsuspend) or rewritten
    suspended_now: frozenset[int] = frozenset()
    if record_suspended:  # the cards a sync suspended, while their notes are there
        listed = ({*(by_sync or ()), *suspend} - set(unsuspend)) - {
            c for e in delete for c in e.cards
        }
        noted = {c for e in state.notes.values() for c in e.cards} if listed else set()
        suspended_now = frozenset(listed & noted)
    unchanged = not rewritten and (not record_suspended or suspended_now == by_sync)
    model = "create" if state.model is None else ("update" if state.model != want.model else "")
    # Neither what the last sync left ("": no record of it) nor this cardsmith's: someone's
    # own styling.
    edited = bool(
        model == "update"
        and state.model is not None
        and state.written_look not in ("", state.model.digest)
    )
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
        decks_gone=gone,
        media=tuple(m for name, m in sorted(want.media.items()) if name not in state.media),
        model=model,
        suspend=suspend,
        unsuspend=unsuspend,
        state=None
        if unchanged
        else {
            "notes": dict(sorted(written.items())),
            "decks": sorted(record_decks),
            **({"suspended": sorted(suspended_now)} if record_suspended else {}),
            "look": look,
        },
        kept_orphans=kept,
        spared=spared,
        unknown=unknown,
        absent_orphans=tuple(sorted({i for i in lock_orphans if i not in state.notes})),
        forget_absent=delete_orphans,
        readded=frozenset(w.guid for w in add if w.guid in state.written),
        model_edited=edited,
    )


def _refuse_filtered(wanted: Iterable[str], state: State) -> None:
    """:class:`SyncError` before anything is written when a deck the notes want (or one
    above it) is a filtered deck in Anki: no card may be moved into one, and Anki's library
    stopped the sync half-way (found by the twelfth trial)."""
    if not state.filtered_decks:
        return
    clash = sorted(
        {a for d in wanted for a in _ancestors(d) if a.casefold() in state.filtered_decks}
    )
    if clash:
        raise SyncError(
            f"the deck {clash[0]!r} is a filtered deck in Anki, and cards cannot be put in "
            "one; empty it (Rebuild/Empty) and rename or delete it in Anki, or rename the "
            "section or file; nothing was written"
        )


def _empty_decks(
    candidates: set[str], decks: Mapping[str, int], counts: Mapping[str, int]
) -> tuple[tuple[str, ...], int]:
    """Candidate decks with no card below them and no deck below them that is not ours: the
    top of each such branch, and how many decks the branches hold."""
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
    return tuple(sorted(tops, key=lambda d: (-d.count("::"), d))), len(gone)
