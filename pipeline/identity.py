"""Stable ids across builds, kept in a lock file beside the notes.

Each question gets an id once; later builds match every question to its old entry in
passes, like version control's rename detection: explicit aliases, then the same question
in the same file, then the same question anywhere (a move), then a rewording (a similar
question, the same answer, or the same place in the same section). What is left is new (a
fresh id) or gone (an orphan). Orphans stay in the lock until they are resolved: their
question comes back, an alias claims them, or they are deleted in Anki by ``sync``.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NamedTuple, TypeVar

from .config import Config
from .duplicates import bigrams, normalise_question
from .errors import ConfigError, Diagnostic, EnvironmentProblem
from .records import (
    Card,
    Identity,
    Lock,
    LockEntry,
    Match,
    NoteTypeStamp,
    Source,
    Successor,
    file_runs,
    same_cards,
)

#: Version 2 added the note type's stamp, the orphans and each question's place.
LOCK_VERSION = 2
READABLE_VERSIONS = (1, 2)
_RENAME_SIMILARITY = 0.5
#: A question in the same place of the same section needs only this much likeness.
_PLACE_SIMILARITY = 0.25
#: Below the thresholds but at least this alike (or in the same place): a likely successor.
_LIKELY_SIMILARITY = 0.2
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
#: What an id may look like (it becomes an Anki guid): letters and digits.
ID_FORMAT = re.compile(r"[0-9A-Za-z]{4,40}")
_EMPTY = hashlib.sha256(b"").hexdigest()


def _sha(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def new_id(card: Card, salt: int = 0) -> str:
    """A deterministic id for a new question: the same notes give the same ids in any clone."""
    n = int(_sha(card.source.path, card.question, str(salt))[:16], 16)
    chars = []
    for _ in range(10):
        n, r = divmod(n, 62)
        chars.append(_B62[r])
    return "cs" + "".join(chars)


# --- the lock file ------------------------------------------------------------------------

#: Field -> type of a lock entry; anything else is refused with the file's name.
_ENTRY_TYPES: dict[str, type] = {
    "id": str,
    "path": str,
    "deck": str,
    "question": str,
    "answer": str,
    "digest": str,
    "mod": int,
    "after": str,
    "slot": int,
    "successor": str,
}
_REQUIRED = ("id", "path", "deck", "question", "answer", "digest", "mod")
_TOP_KEYS = {1: {"version", "notes"}, 2: {"version", "notes", "orphans", "note_type"}}


def _kind(value: object) -> str:
    """A JSON value's kind, in the lock file's words."""
    kinds = {dict: "an object", list: "a list", str: "text", int: "a number", float: "a number"}
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return kinds.get(type(value), type(value).__name__)


def _bad(path: Path, what: str) -> ConfigError:
    return ConfigError(f"{path}: {what}; restore it from version control")


_KEYS = frozenset(_ENTRY_TYPES)


_OPTIONAL = tuple(k for k in _ENTRY_TYPES if k not in _REQUIRED)
_DEFAULTS = {k: LockEntry.__dataclass_fields__[k].default for k in _OPTIONAL}
#: Keys in the order lock_text writes them (sorted) -> their types: the layouts of every
#: entry this cardsmith or version 1 wrote, with or without each optional key.
_LAYOUTS = {
    keys: tuple(_ENTRY_TYPES[k] for k in keys)
    for keys in (
        tuple(sorted((*_REQUIRED, *(k for i, k in enumerate(_OPTIONAL) if mask >> i & 1))))
        for mask in range(1 << len(_OPTIONAL))
    )
}


def _entry_of(path: Path, where: str, raw: object) -> LockEntry:
    if not isinstance(raw, dict):
        raise _bad(path, f"{where} is {_kind(raw)}, not an object")
    if _LAYOUTS.get(tuple(raw)) == tuple(map(type, raw.values())) and ID_FORMAT.fullmatch(
        raw["id"]
    ):
        # A layout lock_text writes, every value of its exact type (json gives no subclasses,
        # and type() keeps a bool from passing as a number): the entry is valid as it stands,
        # and made without the dataclass's __init__ (a fifth of reading a 100k lock).
        entry = object.__new__(LockEntry)
        entry.__dict__.update(_DEFAULTS, **raw)
        return entry
    # Any other layout (keys in another order, a hand edit): known keys, exact types, one
    # pass, and a message naming the first problem.
    if not raw.keys() <= _KEYS or any(type(v) is not _ENTRY_TYPES[k] for k, v in raw.items()):
        unknown = sorted(set(raw) - _KEYS)
        if unknown:
            raise _bad(path, f"{where}: unknown keys {unknown}")
        key, value = next((k, v) for k, v in raw.items() if type(v) is not _ENTRY_TYPES[k])
        want = "text" if _ENTRY_TYPES[key] is str else "a whole number"
        raise _bad(path, f"{where}: {key} is {json.dumps(value)[:40]}, not {want}")
    missing = [k for k in _REQUIRED if k not in raw]
    if missing:
        raise _bad(path, f"{where}: missing keys {missing}")
    if not ID_FORMAT.fullmatch(raw["id"]):
        raise _bad(path, f"{where}: id {raw['id']!r} is not an id (letters and digits)")
    return LockEntry(**raw)


#: A lock file's bytes and what they were read as (or written from).
KnownLock = tuple[bytes, Lock]


def load_lock(path: Path, known: KnownLock | None = None) -> Lock:
    """The lock file; an empty one when it does not exist yet. Every field's type is checked.

    ``known``: a lock this process read or wrote before, taken as it is when the file
    still holds exactly its bytes (a long-running ``watch`` reads a 100k lock in 0.45 s).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Lock()
    except IsADirectoryError as exc:
        raise EnvironmentProblem(f"{path}: the lock file is a folder") from exc
    except OSError as exc:
        raise EnvironmentProblem(f"{path}: cannot read the lock file ({exc.strerror})") from exc
    if known is not None and known[0] == data:
        return known[1]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad(path, f"not a valid lock file (not UTF-8: {exc.reason})") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise _bad(path, f"not a valid lock file ({exc})") from exc
    except RecursionError as exc:
        raise _bad(path, "not a valid lock file (nested too deep)") from exc
    if not isinstance(data, dict):
        raise _bad(path, f"not a valid lock file ({_kind(data)}, not an object)")
    version = data.get("version")
    if version not in READABLE_VERSIONS or isinstance(version, bool):
        raise ConfigError(
            f"{path}: not a lock file this cardsmith reads (version {version!r}, expected one "
            f"of {READABLE_VERSIONS}); restore it from version control"
        )
    unknown = sorted(set(data) - _TOP_KEYS[version])
    if unknown or "notes" not in data:
        raise _bad(path, f"not a valid lock file (keys {sorted(data)})")
    lists = {}
    for key in ("notes", "orphans"):
        value = data.get(key, [])
        if not isinstance(value, list):
            raise _bad(path, f"{key} is {_kind(value)}, not a list")
        lists[key] = tuple(_entry_of(path, f"{key}[{i}]", raw) for i, raw in enumerate(value))
    return Lock(lists["notes"], lists["orphans"], _stamp_of(path, data.get("note_type")))


def _stamp_of(path: Path, raw: object) -> NoteTypeStamp:
    if raw is None:
        return NoteTypeStamp()
    if (
        not isinstance(raw, dict)
        or set(raw) != {"digest", "mod"}
        or not isinstance(raw["digest"], str)
        or not isinstance(raw["mod"], int)
        or isinstance(raw["mod"], bool)
    ):
        raise _bad(path, "note_type must be {'digest': text, 'mod': a whole number}")
    return NoteTypeStamp(raw["digest"], raw["mod"])


def read_lock(path: Path) -> tuple[LockEntry, ...]:
    """The questions of a lock file; none when it does not exist yet."""
    return load_lock(path).notes


_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode
#: A string as that encoder writes it (quoted, escaped, non-ASCII kept).
_QUOTE: Callable[[str], str] = json.encoder.encode_basestring


def _row(e: LockEntry) -> str:
    """One entry as ``_ENCODE`` writes it with its keys sorted, without building a dict.

    The successor only on the orphans that have one: the questions' lines stay short.
    """
    q = _QUOTE
    return (
        f'{{"after": {q(e.after)}, "answer": {q(e.answer)}, "deck": {q(e.deck)}, '
        f'"digest": {q(e.digest)}, "id": {q(e.id)}, "mod": {int(e.mod)}, "path": {q(e.path)}, '
        f'"question": {q(e.question)}, "slot": {int(e.slot)}'
        + (f', "successor": {q(e.successor)}}}' if e.successor else "}")
    )


#: Rows of an earlier lock text, by the entry they were made from: ``id(entry)`` -> the
#: entry (held, so that its id is not given to another object) and its row.
LockRows = dict[int, tuple[LockEntry, str]]


def _rows(entries: Sequence[LockEntry], made: LockRows, now: LockRows) -> str:
    """The entries' rows, sorted by id; a row in ``made`` is taken, not made again. Every
    row used goes into ``now``."""
    rows = []
    for e in sorted(entries, key=lambda e: e.id):
        held = made.get(id(e))
        if held is None or held[0] is not e:
            held = (e, _row(e))
        now[id(e)] = held
        rows.append(held[1])
    return "\n" + ",\n".join(rows) + "\n" if rows else ""


def lock_text(entries: Sequence[LockEntry] | Lock, made: LockRows | None = None) -> str:
    """The lock file: sorted by id, one entry a line, so a diff shows one line per question.

    ``made``: the rows of this process's last lock text, updated to this one's. A watch's
    next lock reuses the entries of every unchanged card (:func:`assign`), and their rows
    with them: 0.25 s of a rebuild at 100k questions.
    """
    lock = entries if isinstance(entries, Lock) else Lock(tuple(entries))
    before, now = made or {}, LockRows()
    notes, orphans = _rows(lock.notes, before, now), _rows(lock.orphans, before, now)
    if made is not None:
        made.clear()
        made.update(now)
    return _opening(lock) + notes + _CLOSING.format(orphans=orphans)


#: The lock file around its notes' rows: what opens it (:func:`_opening`), the line that
#: closes the notes and opens the orphans, and the rest, with the orphans' rows.
_OPENING = '{{"version": {version}, "note_type": {stamp}, "notes": ['
_TO_ORPHANS = '], "orphans": ['
_CLOSING = _TO_ORPHANS + "{orphans}]}}\n"


def _opening(lock: Lock) -> str:
    return _OPENING.format(version=LOCK_VERSION, stamp=_ENCODE(lock.note_type.__dict__))


def lock_bytes(lock: Lock, earlier: tuple[Lock, bytes] | None = None) -> bytes:
    """:func:`lock_text` of ``lock``, in UTF-8.

    ``earlier``: a lock and the text :func:`lock_text` made of it (a sync's memo keeps the
    lock it wrote, and the file holds the text). A note entry of ``lock`` that is the very
    object of the earlier lock's has the row it had there, taken from that text, not made
    again (a 10k re-sync's lock: 33 ms made whole, 12 ms so). A text not laid out as
    :func:`lock_text` lays out that lock (one row a line, between a first line and the
    line that opens the orphans) gives nothing: the lock is made whole.
    """
    rows = _earlier_rows(*earlier) if earlier is not None else None
    if rows is None:
        return lock_text(lock).encode("utf-8")
    at, lines = rows
    notes = []
    for e in sorted(lock.notes, key=_BY_ID):
        k = at.get(id(e))
        notes.append(lines[k] if k is not None else _row(e).encode("utf-8"))
    return b"".join(
        (
            _opening(lock).encode(),
            b"\n" + b",\n".join(notes) + b"\n" if notes else b"",  # as _rows joins them
            _CLOSING.format(orphans=_rows(lock.orphans, {}, {})).encode(),
        )
    )


_BY_ID = operator.attrgetter("id")


def _earlier_rows(lock: Lock, text: bytes) -> tuple[dict[int, int], list[bytes]] | None:
    """The rows of the notes of ``text``, the lock file :func:`lock_text` made of ``lock``:
    ``id()`` of each entry -> its row's index, and the rows (UTF-8, without their commas);
    None when ``text`` is not laid out so (:func:`lock_bytes`)."""
    notes = lock.notes
    lines = text.split(b"\n", len(notes) + 1)
    if not notes or len(lines) < len(notes) + 2 or lines[0] != _opening(lock).encode():
        return None
    rows = lines[1 : len(notes) + 1]
    if not (
        lines[len(notes) + 1].startswith(_TO_ORPHANS.encode())
        and f'"id": {_QUOTE(notes[0].id)}'.encode() in rows[0]
        and f'"id": {_QUOTE(notes[-1].id)}'.encode() in rows[-1]
    ):
        return None
    rows[:-1] = [row[:-1] for row in rows[:-1]]  # each but the last ends with a comma
    # By id(): the caller holds ``lock``, so no other object has the id of one of its
    # entries meanwhile.
    return {id(e): k for k, e in enumerate(notes)}, rows


def lock_target(path: Path) -> Path:
    """Where the lock is really written: a symlinked lock is written through its link.

    Outputs replace a file by renaming a new one over it, which would turn the link into a
    plain file (and leave the shared lock it pointed at stale); the target is replaced
    instead.
    """
    return path.resolve() if path.is_symlink() else path


def write_lock(path: Path, lock: Lock | Identity | Sequence[LockEntry]) -> bool:
    """Write the lock (the old one or the new one, never half); False when it is unchanged."""
    if isinstance(lock, Identity):
        lock = lock.lock_file
    return write_lock_bytes(path, lock_text(lock).encode("utf-8"))


def write_lock_bytes(path: Path, data: bytes) -> bool:
    """:func:`write_lock` of a lock already made into its text (UTF-8)."""
    from .export.outputs import Outputs  # the lock is written as the outputs are

    target = lock_target(path)
    if not target.parent.is_dir():
        # A link to a folder that is gone: the folders are not made (a build made
        # /nonexistent/ for a link left dangling: the twelfth trial).
        raise EnvironmentProblem(
            f"{path}: the lock file is a link to {target}, in a folder that does not exist; "
            "restore that folder or replace the link with the lock file"
        )
    try:
        # Read only when the size is the same: a 100k lock is 30 MB.
        if target.stat().st_size == len(data) and target.read_bytes() == data:
            return False
    except OSError:
        pass  # missing, or already refused by load_lock when it was read
    with Outputs(target.parent) as content:
        with content.open(target.name) as out:
            out.write(data)
        content.commit()
    return True


def lost_lock(lock_path: Path, out: Path, note_paths: Set[str]) -> Diagnostic | None:
    """A warning when there is no lock but the output folder holds a build of these notes.

    The first record of ``out/cards.json`` says which notes it was built from (only that
    line is read): outputs of other notes in the same folder, a shared ``build/`` say, are
    no sign of a lost lock.
    """
    if lock_path.exists() or lock_path.is_symlink():
        return None
    try:
        with (out / "cards.json").open(encoding="utf-8") as earlier:
            earlier.readline()  # {"schema_version": …, "cards": [
            first = json.loads(earlier.readline().rstrip().rstrip(","))
        built_from = first["source"]["path"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if built_from not in note_paths:
        return None
    return Diagnostic(
        lock_path.name,
        0,
        "warning",
        f"no lock file, but {out} holds earlier outputs of these notes: every question got "
        "a new id (restore the lock from version control to keep the Anki history)",
        "lock-missing",
    )


# --- matching -----------------------------------------------------------------------------

# "Python中的X", "Python的X", "在Python里X": the same question; dropped before comparing.
_PYTHON_OF = re.compile(r"在?python(?:中|里)?的?")


def normalise(text: str) -> str:
    """The question as identity compares it: the same on both sides of every comparison."""
    text = unicodedata.normalize("NFKC", text).lower()
    return normalise_question(_PYTHON_OF.sub("", text))


def _entry(card: Card, digest: str, mod: int, after: str, slot: int) -> LockEntry:
    return LockEntry(
        id=card.id,
        path=card.source.path,
        deck=card.deck.path,
        question=card.question,
        answer=card.answer_digest,
        digest=digest,
        mod=mod,
        after=after,
        slot=slot,
    )


def _same_entry(entry: LockEntry, card: Matched, mod: int, after: str, slot: int) -> bool:
    """Whether ``entry`` is what :func:`_entry` would make for an unchanged ``card`` (same
    note digest): its other fields compared one by one, which is cheaper than a new one."""
    return (
        entry.slot == slot
        and entry.after == after
        and entry.mod == mod
        and entry.path == card.source.path
        and entry.deck == card.deck.path
        and entry.question == card.question
        and entry.answer == card.answer_digest
        and not entry.successor
    )


def _places(cards: Sequence[Matched]) -> list[int]:
    """Each card's place among the cards of its file and section."""
    seen: dict[tuple[str, str], int] = defaultdict(int)
    out = []
    for card in cards:
        key = (card.source.path, card.deck.path)
        out.append(seen[key])
        seen[key] += 1
    return out


def _similarity(a: frozenset[str], b: frozenset[str]) -> float:
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared) if a or b else 0.0


def _rename_candidates(
    cards: Sequence[Matched],
    todo: list[int],
    old: Mapping[str, LockEntry],
    before: Mapping[int, str | None],
    slots: Mapping[int, int],
) -> tuple[list[tuple[float, str, int, str]], list[tuple[float, bool, int, str]]]:
    """Plausible rewordings, best first, and the likely ones too unsure to take."""
    by_answer: dict[str, list[str]] = defaultdict(list)
    index: dict[str, list[str]] = defaultdict(list)
    by_place: dict[tuple[str, str], list[str]] = defaultdict(list)
    grams: dict[str, frozenset[str]] = {}
    for oid, entry in old.items():
        g = bigrams(normalise(entry.question))
        grams[oid] = g
        for gram in g:
            index[gram].append(oid)
        if entry.answered:
            by_answer[entry.answer].append(oid)
        by_place[(entry.path, entry.deck)].append(oid)
    pairs: list[tuple[float, str, int, str]] = []
    likely: list[tuple[float, bool, int, str]] = []
    for i in todo:
        card = cards[i]
        g = bigrams(normalise(card.question))
        shared: dict[str, int] = defaultdict(int)
        for gram in g:
            for oid in index.get(gram, ()):
                shared[oid] += 1
        for oid, n in shared.items():
            score = n / (len(g) + len(grams[oid]) - n)
            if score >= _RENAME_SIMILARITY:
                pairs.append((score, "similar question", i, oid))
            elif score >= _LIKELY_SIMILARITY and old[oid].path == card.source.path:
                likely.append((score, False, i, oid))
        if card.answered:
            for oid in by_answer.get(card.answer_digest, ()):
                pairs.append((0.99, "same answer", i, oid))
        # The same place: same file and section, after the same question or in the same slot.
        for oid in by_place.get((card.source.path, card.deck.path), ()):
            entry = old[oid]
            same_after = before.get(i) is not None and entry.after == before[i]
            if not (same_after or entry.slot == slots[i]):
                continue
            score = _similarity(g, grams[oid])
            if score >= _PLACE_SIMILARITY:
                pairs.append((0.5 + score / 2, "same place", i, oid))
            else:
                likely.append((score, True, i, oid))
    # Best score first; ties broken by source order so the result is deterministic.
    pairs.sort(key=lambda p: (-p[0], p[2], p[3]))
    likely.sort(key=lambda p: (-p[1], -p[0], p[2], p[3]))
    return pairs, likely


def _match(
    entry: LockEntry | None,
    card_id: str,
    card: Card,
    digest: str,
    now: int,
    how: str,
    score: float,
) -> Match:
    """Status and modification time of a card that found its old entry (or an alias)."""
    if entry is None:  # an alias to an id the lock does not know (yet)
        return Match(card_id, "added", now)
    unchanged = entry.digest == digest
    if unchanged and entry.question == card.question:  # the common case, made quickly
        return Match(card_id, "unchanged", entry.mod, "", 1.0, "", entry.deck, entry.answered)
    # A changed note must be newer than in any earlier package, even within the same second.
    mod = entry.mod if unchanged else max(now, entry.mod + 1)
    was = entry.answered
    if entry.question.strip() != card.question.strip():
        return Match(card_id, "renamed", mod, entry.question, score, how, entry.deck, was)
    if unchanged:
        return Match(card_id, "unchanged", mod, old_deck=entry.deck, was_note=was)
    if (entry.path, entry.deck) != (card.source.path, card.deck.path):
        return Match(card_id, "moved", mod, how="moved", old_deck=entry.deck, was_note=was)
    return Match(card_id, "changed", mod, old_deck=entry.deck, was_note=was)


def _same_question(
    cards: Sequence[Matched],
    found: Sequence[int],
    pools: tuple[Sequence[LockEntry], Sequence[LockEntry]],
    slots: Mapping[int, int],
) -> Iterator[tuple[int, str]]:
    """Which of the cards ``found`` (indexes into ``cards``, in order), all asking the same
    question, takes which entry: (card, id) pairs. ``pools``: the lock's questions, then
    its orphans, each in the lock's order.

    A question's entry before an orphan's; within each, the same answer in the same place
    (the same deck, and the same place among its cards) first, then the same answer, then
    the same place, then the rest in order. Taken in the lock's order (by id), a question
    asked twice in a file swapped its ids on the next build, and a copy put above the
    original took the original's id, and with it its reviews; an orphan's answer must not
    outweigh the place of the question's own entry (an answer edited, then put back, handed
    the card a deleted copy's id). A place is a deck's: two copies of a section's questions
    under two headings stand at the same places in their decks (found by the ninth trial).
    """
    open_cards = list(found)

    def here(card: Matched, slot: int, e: LockEntry) -> bool:
        return e.slot == slot and e.deck == card.deck.path

    tiers: tuple[Callable[[Matched, int, LockEntry], bool], ...] = (
        lambda card, slot, e: e.answer == card.answer_digest and here(card, slot, e),
        lambda card, _slot, e: e.answer == card.answer_digest,
        here,
        lambda _card, _slot, _e: True,
    )
    for pool in pools:
        open_ids = list(pool)
        for alike in tiers:
            for i in list(open_cards):
                entry = next((e for e in open_ids if alike(cards[i], slots[i], e)), None)
                if entry is not None:
                    open_cards.remove(i)
                    open_ids.remove(entry)
                    yield i, entry.id


def _check_aliases(aliases: Mapping[str, str]) -> None:
    for question, oid in aliases.items():
        if not isinstance(oid, str) or not ID_FORMAT.fullmatch(oid):
            raise ConfigError(
                f"cardsmith.toml: [aliases] {question!r} = {oid!r} is not an id "
                "(4 to 40 letters and digits, as in the lock file)"
            )


class DeckName(NamedTuple):
    """A deck as matching reads it: its path."""

    path: str
    """The deck's path, ``::``-joined."""


class Held(NamedTuple):
    """A card that :func:`assign` is given without the card itself (its ``held``): a card of
    a note file compiled again that a sync's memo carries over, as matching reads it."""

    id: str
    """The id it keeps (its entry's)."""
    question: str
    """The question as Markdown."""
    source: Source
    """Its file and line now."""
    deck: DeckName
    """Its deck."""
    note_digest: str
    """:attr:`~pipeline.records.Card.note_digest`."""
    answer_digest: str
    """:attr:`~pipeline.records.Card.answer_digest`."""

    @property
    def answered(self) -> bool:
        """Always: a memo keeps the notes of answered cards only."""
        return True


#: A card as :func:`assign` is given it: compiled, or held without its card.
Matched = Card | Held
_M = TypeVar("_M", bound=Matched)

#: A note file's cards as compiled, as identified, and their lock entries, in order.
Settled = tuple[tuple[Card, ...], tuple[Card, ...], tuple[LockEntry, ...]]


@dataclass
class KeptMatches:
    """What a long-running caller's last :func:`assign` settled, for its next one (watch).

    A note file is settled when each of its cards matched its own entry unchanged and kept
    that entry as it was, and no two of its questions are the same. Given the lock that
    build wrote, the same cards match in the same way again, whatever happens in the other
    files: each card's question is found in its own file (pass 1) before anything else, no
    other entry holds the same file and question, and the entries of a file's neighbours
    are its own. So the next build takes such a file's results as they are, unless an
    alias now names one of its questions or ids. ``tests/test_identity.py`` compares this
    with :func:`assign` from scratch after every edit of a random session. At 100k
    questions a watch's identity went from 1.2 s to 0.27 s.
    """

    lock: Lock | None = None
    """The lock that build wrote (set by the build once written): the results hold only
    for it, and only while it is read back as this very object (:func:`load_lock`)."""
    files: dict[str, Settled] = field(default_factory=dict)
    """The settled note files, by path."""


def _carried(
    cards: Sequence[Matched],
    runs: Sequence[tuple[str, int, int]],
    settled: Mapping[str, Settled],
    aliases: Mapping[str, str],
) -> dict[int, Settled]:
    """The settled files (:class:`KeptMatches`) taken as they are, by the start of their
    run in ``cards``: those whose cards are the very ones settled, and whose questions and
    ids no alias names."""
    alias_ids = set(aliases.values())
    carried = {}
    for path, start, end in runs:
        held = settled.get(path)
        if (
            held is not None
            and same_cards(held[0], cards[start:end])
            and not (aliases and any(c.question in aliases for c in held[0]))
            and not (alias_ids and any(c.id in alias_ids for c in held[1]))
        ):
            carried[start] = held
    return carried


def assign(
    cards: Sequence[Matched],
    previous: Sequence[LockEntry] | Lock,
    aliases: Mapping[str, str] | None = None,
    now: int | None = None,
    look: str = "",
    include_unanswered: bool = False,
    kept: KeptMatches | None = None,
    absent: Mapping[str, Sequence[str]] | None = None,
) -> Identity:
    """Give every card an id, matching it against the previous lock.

    ``look`` is the hash of the note type's CSS and templates ("" leaves the stamp alone).
    An orphan is the Anki note of a question that is gone, or no longer answered (then the
    lock keeps its last answered entry among the orphans, under the same id). ``kept``:
    what this process's last call settled (:class:`KeptMatches`), updated to this call's.

    ``absent``: note files settled by the call that wrote ``previous`` and not passed in
    ``cards`` (a sync's memo, :mod:`pipeline.syncmemo`): path -> the ids of its cards, in
    order. They are carried over as :class:`KeptMatches` carries a settled file, their
    entries the lock's own, but the result holds no card of theirs (only their count,
    :attr:`~pipeline.records.Identity.carried`). The caller makes sure no alias names
    them, each of their cards was answered, and no orphan of the lock names one of them
    as its successor: those need the cards. ``ValueError`` for an id the lock's notes
    do not hold.

    A :class:`Held` card of ``cards`` is one given without its compiled card, with the id
    it keeps (a file compiled again whose unchanged cards a sync's memo carries over). It
    must take its own entry, unchanged, in pass 1, as its card would (:func:`_check_held`,
    else ``ValueError``): it does, at its place now, and the result holds no card of it
    (only its count).
    """
    now = int(time.time()) if now is None else now
    held = {i: card.id for i, card in enumerate(cards) if isinstance(card, Held)}
    lock = previous if isinstance(previous, Lock) else Lock(tuple(previous))
    aliases = aliases or {}
    _check_aliases(aliases)
    runs = file_runs(cards)
    carried = _carried(cards, runs, kept.files if kept and kept.lock is lock else {}, aliases)
    rest = [i for path, start, end in runs if start not in carried for i in range(start, end)]
    old: dict[str, LockEntry] = {}
    diagnostics: list[Diagnostic] = []
    in_notes = {e.id for e in lock.notes}
    # Orphans whose question is still there lost their answer: kept apart, not matched.
    unanswered_of = {e.id: e for e in lock.orphans if e.id in in_notes}
    for entry in (*lock.notes, *(e for e in lock.orphans if e.id not in in_notes)):
        if entry.id in old:
            diagnostics.append(
                Diagnostic(
                    "cardsmith.lock.json",
                    0,
                    "error",
                    f"id {entry.id} appears twice in the lock file",
                    "id-clash",
                )
            )
        old[entry.id] = entry
    was_orphan = {e.id for e in lock.orphans}
    chosen: dict[int, tuple[str, str, float]] = {}  # card index -> (old id, how, score)
    taken: dict[str, int] = {}

    def take(i: int, oid: str, how: str, score: float = 1.0) -> None:
        chosen[i] = (oid, how, score)
        taken[oid] = i

    for start, (_, out, _) in carried.items():  # their ids are taken from the start
        ids = map(operator.attrgetter("id"), out)
        taken.update(zip(ids, range(start, start + len(out)), strict=True))
    absent_entries: list[LockEntry] = []
    for path, owned in (absent or {}).items():
        for oid in owned:
            settled = old.get(oid)
            if settled is None or oid not in in_notes or settled.path != path:
                raise ValueError(f"{path}: id {oid} is not one of its lock entries")
            taken[oid] = -1  # no card here: never looked up (no alias names it)
            absent_entries.append(settled)
    if held:
        _check_held(cards, held, old, in_notes, lock, aliases, rest)
        for i, oid in held.items():  # pass 1 pairs each with its own entry: taken first
            take(i, oid, "exact")
    open_count = len(rest)  # the cards that still look for their ids
    # Pass 0: explicit aliases (question text -> id) for the hard cases.
    exact_ids: dict[str, str] = {}
    for known, entry in old.items() if aliases else ():
        exact_ids.setdefault(entry.question.strip(), known)
    for i in rest if aliases else ():
        card = cards[i]
        alias = aliases.get(card.question)
        if alias is None:
            continue
        oid = alias
        if oid in taken:
            if taken[oid] < 0:
                raise ValueError(f"an alias names {oid}, of a file carried without its cards")
            other = cards[taken[oid]]
            for a, b in ((card, other), (other, card)):
                diagnostics.append(
                    Diagnostic(
                        a.source.path,
                        a.source.line,
                        "error",
                        f"id {oid} is claimed by two questions",
                        "id-clash",
                        (b.source.path, b.source.line),
                    )
                )
            continue
        own = exact_ids.get(card.question.strip())
        if oid not in old and old:
            diagnostics.append(
                Diagnostic(
                    card.source.path,
                    card.source.line,
                    "warning",
                    f"the alias gives this question the id {oid}, which is not in the lock "
                    + (
                        f"file; it keeps its own id {own} (check the alias for a typo)"
                        if own
                        else "file (check the alias for a typo)"
                    ),
                    "alias-unknown-id",
                )
            )
            if own:
                continue  # a typo must not cut the question off its history
        take(i, oid, "alias")
    # Pass 1 and 2: the same question in the same file, then anywhere; candidates in the
    # lock's order. Keyed by file and question at once: comparing each candidate's file in
    # turn was a fifth of identity at 100k questions.
    questions = {i: cards[i].question.strip() for i in rest}
    slots = dict(zip(rest, _places([cards[i] for i in rest]), strict=True))
    for same_file in (True, False):
        if len(chosen) == open_count or len(taken) == len(old):
            break  # every card has its id, or no id is left: pass 2 would find nothing
        candidates: dict[tuple[str, str], list[str]] = defaultdict(list)
        for oid, entry in old.items():
            if oid not in taken:
                candidates[(entry.path if same_file else "", entry.question.strip())].append(oid)
        asking: dict[tuple[str, str], list[int]] = defaultdict(list)  # key -> cards, in order
        for i in rest:
            if i not in chosen:
                asking[(cards[i].source.path if same_file else "", questions[i])].append(i)
        for key, asked in asking.items():
            free_ids = [oid for oid in candidates.get(key, ()) if oid not in taken]
            if len(asked) == 1 and len(free_ids) <= 1:  # the common case: one for one
                for i, oid in zip(asked, free_ids, strict=False):
                    take(i, oid, "exact")
                continue
            live = [old[o] for o in free_ids if o in in_notes]
            orphaned = [old[o] for o in free_ids if o not in in_notes]
            for i, oid in _same_question(cards, asked, (live, orphaned), slots):
                take(i, oid, "exact")
    # Pass 3: rewordings, best match first. A file's places are its own: its cards' slots
    # are counted among the cards of the files not carried over.
    todo = [i for i in rest if i not in chosen]
    free = {oid: e for oid, e in old.items() if oid not in taken}
    likely: list[tuple[float, bool, int, str]] = []
    if todo and free:
        before: dict[int, str | None] = {}
        for i in todo:
            if slots[i] == 0:
                before[i] = ""
            else:
                prev = chosen.get(i - 1)
                before[i] = prev[0] if prev else None
        pairs, likely = _rename_candidates(cards, todo, free, before, slots)
        for score, how, i, oid in pairs:
            if i not in chosen and oid not in taken:
                take(i, oid, how, score)

    out_cards: list[Card | None] = []  # None for a held card: aligned with ``cards``
    entries: list[LockEntry] = list(absent_entries)
    used = set(old) | set(taken)
    salts: dict[tuple[str, str], int] = defaultdict(int)  # 3,000 copies: linear, not quadratic
    previous_id: dict[tuple[str, str], str] = {}
    next_settled: dict[str, Settled] = {}
    for path, start, end in runs:
        if start in carried:
            out_cards.extend(carried[start][1])
            entries.extend(carried[start][2])
            next_settled[path] = carried[start]
            continue
        as_before = True  # every card of the file matched its own entry and kept it
        for i in range(start, end):
            card = cards[i]
            if isinstance(card, Held):  # its own entry, at its place now (_check_held)
                mine = old[card.id]
                place = (path, mine.deck)
                after = previous_id.get(place, "")
                if mine.slot == slots[i] and mine.after == after:
                    entries.append(mine)
                else:
                    entries.append(replace(mine, slot=slots[i], after=after))
                previous_id[place] = card.id
                out_cards.append(None)
                as_before = False  # a file of held cards is settled by the memo, not here
                continue
            digest = card.note_digest
            if i in chosen:
                oid, how, score = chosen[i]
                match = _match(old.get(oid), oid, card, digest, now, how, score)
                if oid in was_orphan and not match.was_note and match.status != "added":
                    # An answer given back: Anki still holds the note it had (kept as an
                    # orphan under this id), and the import updates it.
                    match = replace(match, was_note=True)
            else:
                key = (card.source.path, card.question)
                while (nid := new_id(card, salts[key])) in used:
                    salts[key] += 1
                salts[key] += 1
                used.add(nid)
                match = Match(nid, "added", now)
            card = card.identified(match)
            out_cards.append(card)
            place = (card.source.path, card.deck.path)
            after = previous_id.get(place, "")
            last = old.get(card.id) if match.status == "unchanged" else None
            if last is not None and _same_entry(last, card, match.mod, after, slots[i]):
                entries.append(last)  # most entries of a build are as the last one left them
            else:
                entries.append(_entry(card, digest, match.mod, after, slots[i]))
                as_before = False
            previous_id[place] = card.id
        if as_before and len({questions[i] for i in range(start, end)}) == end - start:
            next_settled[path] = (
                tuple(c for c in cards[start:end] if isinstance(c, Card)),
                tuple(c for c in out_cards[start:end] if c is not None),
                tuple(entries[start:end]),
            )
    if kept is not None:
        kept.lock, kept.files = None, next_settled  # the build names the lock once written
    gone = [unanswered_of.get(oid, e) for oid, e in old.items() if oid not in taken]
    present = [card for card in out_cards if card is not None]
    unanswered: list[LockEntry] = []
    if not include_unanswered:
        for card in present:
            if card.answered:
                continue
            match = card.matched
            last = old.get(card.id) if match.status != "added" else None
            if last is not None and last.answered:
                unanswered.append(last)  # its Anki note keeps the old answer
            elif card.id in unanswered_of:
                unanswered.append(unanswered_of[card.id])
    orphans = tuple(sorted((*gone, *unanswered), key=lambda e: e.id))
    new_orphans = frozenset(e.id for e in orphans if e.id not in was_orphan)
    successors: list[Successor] = []
    paired: set[int] = set()
    for score, same, i, oid in likely:
        if oid in taken or i in chosen or i in paired or oid in {s.orphan.id for s in successors}:
            continue
        likely_card = out_cards[i]
        assert likely_card is not None  # a held card is chosen from the start
        successors.append(Successor(old[oid], likely_card, score, same))
        paired.add(i)
    # A successor found when the orphan was made is remembered: by the next build it has
    # its own entry and is no longer a candidate.
    by_id = {c.id: c for c in present} if any(e.successor for e in orphans) else {}
    found = {s.orphan.id for s in successors}
    for entry in orphans:
        later = by_id.get(entry.successor)
        if entry.id not in found and later is not None:
            score = _similarity(
                bigrams(normalise(entry.question)), bigrams(normalise(later.question))
            )
            successors.append(Successor(entry, later, score, False))
    successor_of = {s.orphan.id: s.card.id for s in successors}
    orphans = tuple(
        replace(e, successor=successor_of.get(e.id, ""))
        if e.successor != successor_of.get(e.id, "")
        else e
        for e in orphans
    )
    stamp = lock.note_type
    if look and stamp.digest != look:
        # A version 1 lock knew no stamp: its note type was as old as its newest note.
        newest = max((e.mod for e in lock.notes), default=now)
        stamp = NoteTypeStamp(look, newest if not stamp.digest else max(now, stamp.mod + 1))
    return Identity(
        tuple(present),
        orphans,
        tuple(sorted(entries, key=operator.attrgetter("id"))),
        tuple(diagnostics),
        new_orphans,
        stamp,
        tuple(sorted(successors, key=lambda s: s.orphan.id)),
        carried=len(absent_entries) + len(held),
    )


class HeldRefused(ValueError):
    """A :class:`Held` card would not keep its own entry (:func:`_check_held`): the file it
    is in needs its compiled cards."""

    def __init__(self, path: str, why: str) -> None:
        super().__init__(f"{path}: {why}")
        self.path = path
        """The note file of the held card."""


def _check_held(
    cards: Sequence[Matched],
    held: Mapping[int, str],
    old: Mapping[str, LockEntry],
    in_notes: Set[str],
    lock: Lock,
    aliases: Mapping[str, str],
    rest: Sequence[int],
) -> None:
    """:class:`HeldRefused` unless each :class:`Held` card of ``cards`` (``held``: by
    index, the id it keeps) would take its own entry, unchanged, in :func:`assign`'s pass
    1, as its compiled card would: the entry is one of the lock's notes, answered, of its
    file, question, deck, answer and note digest; no other entry holds its file and
    question, no other card of its file asks it; no alias names it or its id, and no
    orphan names its id as its successor (an alias is taken before pass 1; a successor is
    looked up among the cards). ``in_notes``: the ids of the lock's notes; ``rest``: the
    cards matched."""
    refused = {e.id for e in lock.orphans} | set(aliases.values())
    refused |= {e.successor for e in lock.orphans if e.successor}
    asked: dict[tuple[str, str], str] = {}
    for i, oid in held.items():
        card = cards[i]
        entry = old.get(oid)
        if (  # attribute by attribute: 10,000 held cards at 10k questions
            entry is None
            or oid in refused
            or oid not in in_notes
            or entry.successor
            or entry.question != card.question
            or entry.digest != card.note_digest
            or entry.answer != card.answer_digest
            or entry.path != card.source.path
            or entry.deck != card.deck.path
            or not entry.answered
            or card.question in aliases
        ):
            raise HeldRefused(card.source.path, "a held card is not as its entry")
        asked[(entry.path, card.question.strip())] = oid
    for entry in old.values():
        if asked.get((entry.path, entry.question.strip()), entry.id) != entry.id:
            raise HeldRefused(entry.path, "another entry asks a held card's question")
    for i in rest:
        card = cards[i]
        if i not in held and (card.source.path, card.question.strip()) in asked:
            raise HeldRefused(card.source.path, "another card asks a held card's question")


def settled_in(lock: Lock, cards: Sequence[_M]) -> dict[str, tuple[_M, ...]]:
    """The note files of ``cards`` (identified, as :func:`assign` left them, or
    :class:`Held` with the id they kept) that ``lock``
    settles as :class:`KeptMatches` means it: matched against ``lock``, each of their cards
    would find its own entry, unchanged, and keep it as it is. That holds when each card's
    entry is the one :func:`_entry` makes of it where it is, no two questions of the file
    are the same, no other entry of the lock holds the file and question (so pass 1 pairs
    them one for one), and no orphan has its id. By path: the file's cards.

    What a sync's memo keeps of a file it matched anew (a rewording, a new question), as
    the matching itself settles only those whose cards kept their entries; ``tests/
    test_identity.py`` carries such files over after every edit of a random session.
    """
    in_notes, held = lock.by_id, lock.asked
    orphaned = {e.id for e in lock.orphans}
    settled = {}
    for path, start, end in file_runs(cards):
        run = cards[start:end]
        questions = [c.question.strip() for c in run]
        if (
            len(set(questions)) == len(questions)
            and all(held[(path, q)] == 1 for q in questions)
            and _own_entries(run, in_notes, orphaned)
        ):
            settled[path] = tuple(run)
    return settled


def _own_entries(
    run: Sequence[Matched], in_notes: Mapping[str, LockEntry], orphaned: Set[str]
) -> bool:
    """Whether each card of one file's ``run`` has the note entry :func:`_entry` makes of
    it where it is (and no orphan its id): :func:`_same_entry` and the note digest, a
    column at a time (a sync's 10,000 cards of spliced files took 25 ms a card at a time)."""
    ids = list(map(_ID, run))
    if not orphaned.isdisjoint(ids) or not in_notes.keys() >= set(ids):
        return False
    owns = list(map(in_notes.__getitem__, ids))
    decks = list(map(_DECK_PATH, run))
    # _places and the card before each in its deck: the file is one, its decks few.
    slots, afters = [], []
    seen: dict[str, tuple[int, str]] = {}
    for oid, deck in zip(ids, decks, strict=True):
        slot, after = seen.get(deck, (0, ""))
        slots.append(slot)
        afters.append(after)
        seen[deck] = (slot + 1, oid)
    return (
        list(map(_DIGEST, owns)) == list(map(_NOTE_DIGEST, run))
        and list(map(_SLOT, owns)) == slots
        and list(map(_AFTER, owns)) == afters
        and list(map(_ENTRY_PATH, owns)) == list(map(_PATH, run))
        and list(map(_ENTRY_DECK, owns)) == decks
        and list(map(_QUESTION, owns)) == list(map(_QUESTION, run))
        and list(map(_ANSWER, owns)) == list(map(_ANSWER_DIGEST, run))
        and not any(map(_SUCCESSOR, owns))
    )


_ID = operator.attrgetter("id")
_QUESTION = operator.attrgetter("question")
_PATH = operator.attrgetter("source.path")
_DECK_PATH = operator.attrgetter("deck.path")
_NOTE_DIGEST = operator.attrgetter("note_digest")
_ANSWER_DIGEST = operator.attrgetter("answer_digest")
_DIGEST = operator.attrgetter("digest")
_SLOT = operator.attrgetter("slot")
_AFTER = operator.attrgetter("after")
_ANSWER = operator.attrgetter("answer")
_ENTRY_PATH = operator.attrgetter("path")
_ENTRY_DECK = operator.attrgetter("deck")
_SUCCESSOR = operator.attrgetter("successor")


def forget_orphans(lock: Lock, ids: Sequence[str]) -> tuple[Lock, list[str]]:
    """The lock without the given orphans; and the ids that were not orphans."""
    unknown = [i for i in ids if i not in {e.id for e in lock.orphans}]
    kept = tuple(e for e in lock.orphans if e.id not in set(ids))
    return Lock(lock.notes, kept, lock.note_type), unknown


def identify(
    config: Config,
    cards: Sequence[Matched],
    now: int | None = None,
    known: KnownLock | None = None,
    kept: KeptMatches | None = None,
    absent: Mapping[str, Sequence[str]] | None = None,
) -> Identity:
    """The identity stage as a build and a check run it: read the lock, match, warn.

    ``known``: the lock as this process last wrote it (:func:`load_lock`); ``kept``: what
    its last matching settled (:class:`KeptMatches`); ``absent``: settled note files
    carried over without their cards (:func:`assign`; so are the :class:`Held` cards).
    """
    from .notetype import current_look

    found = lock_state(config.lock_path)  # before reading: a later change is then seen
    identity = assign(
        cards,
        load_lock(config.lock_path, known),
        config.aliases,
        now,
        look=current_look().digest,
        include_unanswered=config.include_unanswered,
        kept=kept,
        absent=absent,
    )
    paths = {card.source.path for card in cards} | set(absent or ())
    warning = lost_lock(config.lock_path, config.out, paths)
    warnings = (*identity.diagnostics, warning) if warning else identity.diagnostics
    return replace(identity, diagnostics=warnings, read_from=found)


def lock_state(path: Path) -> tuple[int, int, int] | None:
    """The lock file's (inode, size, modification time in ns), through a link; None when
    there is none. A file replaced or rewritten (``git checkout``) has another."""
    try:
        found = path.stat()
    except OSError:
        return None
    return (found.st_ino, found.st_size, found.st_mtime_ns)


def refuse_changed_lock(path: Path, identity: Identity, run: str = "build") -> None:
    """:class:`EnvironmentProblem` when the lock file changed after identity read it (a lock
    restored from version control while the build ran): writing the new lock would undo
    that change without a word. ``run``: what is running, as the message names it
    (``build`` or ``sync``)."""
    if lock_state(path) != identity.read_from:
        raise EnvironmentProblem(
            f"{path}: the lock file changed while this {run} ran (restored from version "
            f"control?); nothing was written: {run} again"
        )
