"""The Anki collection file: read (with SQLite alone, or through Anki's own library),
opened, and written through Anki's library, in a process of its own beside the sync.

Nothing is written when nothing differs: a sync without changes leaves every
modification time as it was, and a dry run never writes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing
import os
import pickle
import re
import shutil
import sqlite3
import tempfile
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import EnvironmentProblem
from .notetype import FIELDS, MODEL_ID, MODEL_NAME, NoteTypeLook
from .parallel import become_worker
from .syncplan import (
    ORPHAN_TAG,
    Existing,
    Plan,
    State,
    SyncError,
    _same_deck,
    _tags_for,
    fields_hash,
    question_text,
    recorded,
    stored_fields_hash,
)

if TYPE_CHECKING:
    from anki.collection import Collection

#: Key in the collection's config: what the last sync wrote (to recognise edits made in Anki).
STATE_KEY = "cardsmith.sync"
_QUEUE_SUSPENDED = -1  # a card's queue when it is suspended


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
        detail = _cut(str(exc), 160)
        raise SyncError(f"{shown} is not an Anki collection ({detail})") from exc


def _cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, a cut marked with ``…``."""
    return text if len(text) <= width else text[: width - 1] + "…"


def read_copy(path: Path) -> State:
    """The collection's state, read through Anki's library from a copy of it (the file,
    and the ``-wal`` or ``-journal`` file beside it, which holds what Anki has not yet
    written into it): for a dry run that cannot read it with SQLite alone
    (:func:`read_directly`), as opening the collection itself may write to it."""
    _refuse_other_files(path)  # before a copy is made of whatever it is
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


def _pending(path: Path) -> bool:
    """Whether a ``-wal`` or ``-journal`` file that is not empty lies beside ``path``: changes
    SQLite has not yet copied into the file itself."""
    for journal in ("-wal", "-journal"):
        with contextlib.suppress(OSError):
            if os.path.getsize(f"{path}{journal}"):
                return True
    return False


def _refuse_other_files(path: Path, shown: Path | None = None) -> None:
    """Raise :class:`SyncError` unless ``path`` looks like an Anki collection: Anki's
    library makes a new collection in whatever file it opens, so an empty file or another
    program's SQLite database would be written into. Read only ("immutable": SQLite makes
    no ``-wal`` or ``-shm`` file beside it); ``shown``: the path messages name."""
    what = "the collection.anki2 of an Anki profile"
    shown = shown or path
    if not path.is_file():
        # Made by Anki itself, not here: a typo in the path must not start an empty one.
        raise SyncError(
            f"no Anki collection at {shown}: give the collection.anki2 of an Anki profile "
            "(~/.local/share/Anki2/<profile>/ on Linux, ~/Library/Application Support/Anki2/"
            "<profile>/ on macOS, %APPDATA%\\Anki2\\<profile>\\ on Windows); Anki makes a new "
            "profile's collection the first time it opens it"
        )
    if _pending(path):
        # Changes not yet copied into the file (a write stopped short: a full disk, say):
        # the file alone may read as no database, and only SQLite with them reads it whole.
        # Anki's library takes them in, and says what is wrong if anything is (the
        # sixteenth trial: every sync after a full disk was refused as "not a database").
        return
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
        return  # unreadable (no permission, say): Anki's own open says why
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
#: :data:`_NOTES_SQL` with the fields as the column's bytes, for SQLite alone: 10,000 notes'
#: fields were decoded to be encoded again for their hash (0.03 s of 0.15 s).
_NOTES_RAW_SQL = "select id, guid, cast(flds as blob), tags from notes where mid = ?"
_HOMES_SQL = (
    "select case when odid != 0 then odid else did end as home, count() from cards group by home"
)
#: ``rows(sql, *args)``: the rows of a query, through Anki's library or SQLite alone.
Rows = Callable[..., Iterable[Sequence[Any]]]


#: The columns of a note without cards (a collection damaged, or written by another tool).
_NO_CARDS: tuple[tuple[Any, ...], ...] = ((),) * 5


def _existing(
    nid: int,
    guid: str,
    flds: str | bytes,
    tags: str,
    cards: list[tuple[int, str, bool, int, bool]],
    same: dict[tuple[Any, ...], tuple[Any, ...]],
) -> Existing:
    """One note as its row and its cards' rows read (``flds``: fields joined by 0x1f, as
    text or as the column's UTF-8 bytes). Equal tuples (tags, decks, flags) are one object
    (``same``): most notes share them, and the state is pickled to the sync's process
    (their tags alone were 0.46 MB and 4 ms to read back at 10,000 notes)."""
    if isinstance(flds, bytes):  # hashed as stored, and only the question decoded
        digest = stored_fields_hash(flds)
        first = flds.split(b"\x1f", 1)[0].decode("utf-8")
    else:
        digest, first = fields_hash((flds,)), flds.split("\x1f", 1)[0]
    # The cards' columns at once: five generators a note were 0.015 s of reading 10,000.
    ids, decks, suspended, reviews, filtered = zip(*cards, strict=True) if cards else _NO_CARDS
    labels = tuple(tags.split())
    return Existing(
        nid=nid,
        guid=guid,
        fields_hash=digest,
        question=question_text((first,), guid),
        tags=same.setdefault(labels, labels),
        cards=ids,
        decks=same.setdefault(decks, decks),
        suspended=same.setdefault(suspended, suspended),
        reviews=sum(reviews),
        filtered=same.setdefault(filtered, filtered),
    )


def _media(folder: Path) -> frozenset[str]:
    return frozenset(p.name for p in folder.iterdir()) if folder.is_dir() else frozenset()


def media_folder(collection: str) -> str:
    """The media folder of the collection file ``collection``, as Anki names it
    (``anki.media.media_paths_from_col_path``: ``collection.anki2`` -> ``collection.media``)."""
    return re.sub(r"(?i)\.(anki2)$", ".media", collection)


def _notes_read(
    rows: Rows, deck_names: Mapping[str, int], ours: bool, notes_sql: str = _NOTES_SQL
) -> tuple[dict[str, int], dict[str, Existing]]:
    """The cards in each home deck, and cardsmith's notes by guid (none when the collection
    has no such note type: ``ours`` False): the tables both readers read alike
    (``notes_sql``: :data:`_NOTES_SQL`, or :data:`_NOTES_RAW_SQL` for SQLite alone)."""
    by_id = {i: n for n, i in deck_names.items()}
    deck_cards: dict[str, int] = defaultdict(int)
    for did, n in rows(_HOMES_SQL):
        if did in by_id:
            deck_cards[by_id[did]] += n
    notes: dict[str, Existing] = {}
    if ours:
        cards: dict[int, list[tuple[int, str, bool, int, bool]]] = defaultdict(list)
        for cid, nid, did, odid, queue, reviews in rows(_CARDS_SQL, MODEL_ID):
            home = by_id.get(odid or did, "")
            cards[nid].append((cid, home, queue == _QUEUE_SUSPENDED, reviews, bool(odid)))
        same: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        for nid, guid, flds, tags in rows(notes_sql, MODEL_ID):
            notes[guid] = _existing(nid, guid, flds, tags, cards.get(nid, []), same)
    return deck_cards, notes


def read_state(col: Collection) -> State:
    """The cardsmith notes, decks, media and the last sync's record of a collection."""
    model = col.models.get(MODEL_ID)  # type: ignore[arg-type]
    deck_names = {d.name: int(d.id) for d in col.decks.all_names_and_ids()}
    deck_cards, notes = _notes_read(_db(col).all, deck_names, model is not None)
    record = col.get_config(STATE_KEY, default=None) or {}
    filtered = frozenset(n.casefold() for n, i in deck_names.items() if col.decks.is_filtered(i))  # type: ignore[arg-type]
    return State(
        notes=notes,
        model=None
        if model is None
        else NoteTypeLook(model["css"], model["tmpls"][0]["qfmt"], model["tmpls"][0]["afmt"]),
        model_fields=() if model is None else tuple(f["name"] for f in model["flds"]),
        decks=deck_names,
        deck_cards=deck_cards,
        media=_media(Path(col.media.dir())),
        **recorded(record),
        filtered_decks=filtered,
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
        from anki.decks_pb2 import Deck
        from anki.notetypes_pb2 import Notetype
    except ImportError:
        return None
    # Changes not yet copied into the file itself (Anki running, or stopped short) are
    # Anki's to read. Without them the file is whole, and read as it stands ("immutable":
    # SQLite then makes no -wal or -shm file beside it, and takes no lock).
    if _pending(path):
        return None
    try:
        db = sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)
    except (sqlite3.Error, OSError, ValueError):
        return None
    try:
        if db.execute("select ver from col").fetchone() != (_SCHEMA,):
            return None
        state = _read_tables(db, path, Notetype, Deck)
        return state, _fingerprint(lambda sql: db.execute(sql).fetchone())
    except Exception:  # sqlite3, JSON or protobuf: not what a collection of this schema holds
        return None  # Anki's library reads it, or says what is wrong
    finally:
        db.close()


def _read_tables(db: sqlite3.Connection, path: Path, notetype: Any, deck: Any) -> State:
    """:func:`read_state`, row for row, from the tables of a collection of :data:`_SCHEMA`
    (``notetype``, ``deck``: Anki's protobuf messages for those tables' blobs)."""
    deck_names: dict[str, int] = {}
    filtered: set[str] = set()
    for did, name, kind in db.execute("select id, name, kind from decks"):
        deck_names[name.replace("\x1f", "::")] = did
        if deck.KindContainer.FromString(kind).WhichOneof("kind") == "filtered":
            filtered.add(name.replace("\x1f", "::").casefold())
    model = db.execute("select config from notetypes where id = ?", (MODEL_ID,)).fetchone()
    deck_cards, notes = _notes_read(
        lambda sql, *args: db.execute(sql, args), deck_names, model is not None, _NOTES_RAW_SQL
    )
    look, names = None, ()
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
    found = db.execute("select val from config where key = ?", (STATE_KEY,)).fetchone()
    record = json.loads(found[0]) if found else {}
    return State(
        notes=notes,
        model=look,
        model_fields=names,
        decks=deck_names,
        deck_cards=deck_cards,
        media=_media(Path(media_folder(str(path)))),
        **recorded(record),
        filtered_decks=frozenset(filtered),
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
    homes = []  # cards in a filtered deck: only their home deck changes (README)
    for w, e in plan.move:
        away_from_home = e.filtered or (False,) * len(e.cards)
        for c, d, away in zip(e.cards, e.decks, away_from_home, strict=True):
            if _same_deck(d, w.deck):
                continue
            if away:
                card = col.get_card(c)  # type: ignore[arg-type]
                card.odid = deck_id[w.deck.casefold()]  # type: ignore[assignment]
                homes.append(card)
            else:
                by_deck[w.deck].append(c)
    if homes:
        col.update_cards(homes)
    for name, cids in sorted(by_deck.items()):
        col.set_deck(cids, deck_id[name.casefold()])  # type: ignore[arg-type]
    if plan.suspend:
        col.sched.suspend_cards(plan.suspend)  # type: ignore[arg-type]
    if plan.unsuspend:
        col.sched.unsuspend_cards(plan.unsuspend)  # type: ignore[arg-type]
    if plan.delete:
        col.remove_notes([e.nid for e in plan.delete])  # type: ignore[misc]
    gone = [deck_id[d.casefold()] for d in plan.remove_decks if d.casefold() in deck_id]
    if gone:
        col.decks.remove(gone)  # type: ignore[arg-type]
    if plan.state is not None:
        col.set_config(STATE_KEY, dict(plan.state))


# --- the collection's own process ----------------------------------------------------------------


@dataclass(frozen=True)
class Changed:
    """The collection changed between its read with SQLite and its opening with Anki's
    library: the plan made from the read was not carried out."""

    state: State
    """The collection as it is now, read through the library."""


class CollectionSide:
    """The collection's part of a sync, in a process of its own, forked as the sync starts.

    It reads the collection at once, with SQLite alone (:func:`read_directly`: 0.14 s at
    10,000 notes, where Anki's library took 0.35 s after 0.18 s to import it and open the
    collection). Told to (:meth:`read`: once the notes are compiled, or all but one file),
    it sends what it read, and a sync that writes opens the collection with Anki's
    library meanwhile (0.2 s), while this process plans. Sent the plan, it carries it
    out, closes the collection and ends; if the collection changed after it was read
    (:data:`_FINGERPRINT`), it sends it again instead, read through the library
    (:class:`Changed`), for a plan made anew. A collection that cannot be read with SQLite
    alone is read through Anki's library once it is open.

    Nothing it is not sent is written: a sync stopped by the notes (errors, a lock
    restored meanwhile) closes the collection as it was, and a dry run never opens it for
    writing. It dies with this process, even killed outright, and leaves Ctrl-C to it: a
    plan being carried out is finished, as one of Anki's own operations would be.
    """

    def __init__(self, path: Path, write: bool = True) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, theirs = context.Pipe()
        self._process = context.Process(
            target=_collection_side,
            args=(path, theirs, self._conn, os.getpid(), write),
            daemon=True,
        )
        self._process.start()
        theirs.close()
        self._reading = self._sent = self._ended = False  # _sent: an order awaits its answer
        self._sending: threading.Thread | None = None  # the plan on its way

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

    def carry_out(self, plan: Plan | None, look: NoteTypeLook) -> None:
        """Start carrying ``plan`` out (None: nothing to write), then closing the collection
        (:meth:`outcome` waits for it). Only the plan is sent: its notes are the ones that
        change."""
        # From a thread: the plan (the record of every note it leaves) outgrows the pipe
        # while Anki's library may still be opening the collection, and this process has
        # the lock and the memo to make meanwhile.
        # Sent before the thread starts: a stop signal landing while it starts (Python runs
        # the handler as the thread pickles a large plan) must find the order sent, so that
        # closing sends no second word beside it (the thirty-sixth trial).
        self._sent = True
        self._sending = _sent_aside(self._conn, None if plan is None else (plan, look))

    def outcome(self) -> State | None:
        """Wait until the plan sent is carried out (raises what opening the collection or
        carrying it out raised). A :class:`State`: the collection changed after it was read
        (:data:`_FINGERPRINT`), nothing was written, and this is what it holds now: plan
        again, and :meth:`carry_out` that plan."""
        if not self._sent:
            return None
        self._plan_sent()  # a stop while waiting leaves the order sent: closing waits again
        self._sent = False
        found = self._receive()
        if isinstance(found, Changed):
            return found.state  # it waits for the new plan
        self._ended = True
        return None

    def close(self) -> None:
        """Close the collection (unchanged unless a plan was sent) and wait for the end."""
        if not (self._sent or self._ended):  # it waits for a word: the signal, or an order
            with contextlib.suppress(OSError):  # it ended already (no collection to open)
                self._conn.send(None)
        self._plan_sent()  # the pipe is not closed under a send
        self._conn.close()
        self._process.join()

    def _plan_sent(self) -> None:
        if self._sending is not None:
            self._sending.join()
            self._sending = None

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


def _sent_aside(conn: Connection, message: object) -> threading.Thread:
    """A thread that sends ``message`` (join it before sending anything else). A sync that
    stops before it takes the message closes the pipe: the message is dropped, even when
    the pipe is closed under the send (a stop signal landing as the thread started, before
    the sync held it: the thirty-sixth trial saw the thread's traceback)."""

    def send() -> None:
        try:
            conn.send(message)
        except OSError:  # the other end is gone
            pass
        except (TypeError, ValueError):  # the handle taken away under the write: closed
            if not conn.closed:
                raise

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _sendable(exc: BaseException) -> BaseException:
    """``exc`` as it can be sent to the other process (Anki's own errors may not be)."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return SyncError(f"Anki's library failed: {type(exc).__name__}: {exc}")
    return exc


def _stopped_writing(exc: Exception) -> SyncError:
    """What a sync says when Anki's library fails while carrying a plan out (a full disk:
    the sixteenth trial got Anki's own error text): each step is one of Anki's operations,
    so those before it are written; the next sync finishes the rest."""
    text = str(exc).strip()
    detail = _cut(text.splitlines()[0], 200) if text else ""
    return SyncError(
        f"Anki's library failed while writing the plan ({type(exc).__name__}: {detail}); "
        "what it wrote before that stays in the collection and the lock was not written: "
        "remove the cause (a full disk?) and sync again to finish"
    )


def _collection_side(
    path: Path, conn: Connection, sync_end: Connection, parent: int, write: bool
) -> None:
    """The body of :class:`CollectionSide`'s process: read, wait, send, open, apply, close.

    ``sync_end``: the sync's end of the pipe, which the fork copied here; closed at once,
    or a send the sync no longer takes would wait for ever (a sync stopped by its notes
    against a collection of 3,000 notes hung so).
    """
    sync_end.close()
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
        changed: State | None = None
        failed: BaseException | None = None
        if write and read is not None:
            # What was read goes first: the plan is made while Anki's library opens. A
            # collection open in Anki is refused when the plan comes, even an empty one,
            # and no one writes to it after this. Sent from a thread: the state outgrows
            # the pipe, and the sync takes it only once its notes are matched (a 10k
            # re-sync's collection opened 0.24 s late, waiting for that).
            sending = _sent_aside(conn, (False, read[0]))
            try:
                col = open_collection(path)
                if _fingerprint(_db(col).first) != read[1]:
                    changed = read_state(col)  # it changed after it was read
            except BaseException as exc:  # told once the plan comes
                failed = exc
            sending.join()  # before anything else is sent
        elif write:
            col = open_collection(path)
            conn.send((False, read_state(col)))
        else:  # a dry run writes nothing, not even through Anki
            conn.send((False, read[0] if read is not None else read_copy(path)))
        order = conn.recv()
        if failed is not None:
            raise failed
        if changed is not None:
            conn.send((False, Changed(changed)))
            order = conn.recv()
        if order is not None:
            assert col is not None, "a plan for a dry run"
            try:
                apply(col, *order)
            except Exception as exc:
                raise _stopped_writing(exc) from exc
    except EOFError:
        pass  # the sync stopped: nothing more to do
    except BaseException as exc:
        answer = (True, _sendable(exc))
    if col is not None:
        try:
            col.close()
        except Exception as exc:  # a full disk may stop the close too: said, not a traceback
            answer = answer if answer[0] else (True, _stopped_writing(exc))
    with contextlib.suppress(OSError):  # the sync is gone
        conn.send(answer)
