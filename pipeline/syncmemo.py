"""What a sync leaves for the next one: the note files it settled, so that a re-sync after
an edit compiles, matches and plans only the files that changed.

A note file is *settled* by the lock a sync wrote when, matched against that lock, each
of its cards would find its own entry, unchanged (:class:`~pipeline.identity.KeptMatches`,
:func:`~pipeline.identity.settled_in`); the memo keeps such a file when the collection was left
holding each of its notes as wanted (no conflict); a question not answered yet makes no
note, and one whose answer was removed is never settled (an orphan has its id). The memo
(:class:`SyncMemo`, in the cache folder) keeps, for each settled file, what the stages
after compiling need of it: its ids, questions and lines (identity, the duplicate search),
its own problems, and each note as the plan wanted it (:class:`~pipeline.syncplan.Carried`).

The next sync carries such a file over without reading its records (:func:`quick_notes`)
when the memo was made by this code with these settings, the lock file holds the bytes
that sync wrote, the file holds the same bytes and its images are judged the same, no
alias names one of its questions or ids, and no orphan names one as its successor. Its
matches are then the ones :func:`~pipeline.identity.assign` gives from scratch (the
theorem of :class:`~pipeline.identity.KeptMatches`, tested after every edit of a random
session), and its notes need nothing from the plan if the collection holds them as the
memo says: the plan checks that against what it read (:class:`~pipeline.syncplan.Unsettled`
otherwise, and the sync compiles and plans the files of those notes: :func:`without_notes`).
``tests/test_sync.py`` compares a sync with the memo and one without it, edit after edit.

A settled file that was edited is compiled again, and its unchanged cards are carried over
all the same (:class:`Respliced`) when a worker splices it from the very records the memo
was made from: the worker names the cards it took as they were (a unit whose lines did
not change) and keeps them, and the sync matches them as :class:`~pipeline.identity.Held`
cards (each checked to keep its own entry, at its place now) and wants their notes as the
memo's rows. Only the cards compiled anew cross to the sync's process, and only they are
matched, made and planned in full (a 10k re-sync after 100 rewordings spread over every
file, ``bench/README.md``). A note file's cards that matched their entries unchanged are
wanted as the memo's rows too (:func:`unchanged_notes`).
"""

from __future__ import annotations

import hashlib
import pickle
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace

from .build import (
    Progress,
    collector_paused,
    compile_spliced,
    first_title,
    folder_problems,
    sorted_problems,
    stored_search,
)
from .cache import ParseCache, cache_folder, code_fingerprint, read_kept, write_kept
from .config import Config
from .errors import Diagnostic
from .identity import DeckName, Held, HeldRefused, KeptMatches, identify, settled_in
from .notetype import current_look
from .paths import Resolver
from .records import Card, Identity, Lock, ParsedFile, Source, SplicedFile, Target
from .safeguards import mass_orphan_warning
from .sources import discover
from .syncplan import Carried, Desired, Plan
from .validate import CHECKS, SEARCH_STATE, Validation

#: The memo's name in the cache folder.
MEMO_NAME = "sync.memo"


@dataclass(frozen=True)
class FileMemo:
    """One settled note file as the last sync left it."""

    key: str
    """The compile cache's key of its records (its bytes, the settings and the code)."""
    targets: tuple[Target, ...]
    """Every image and link of its cards, as judged then: an image replaced since is judged
    otherwise, and the file is compiled again."""
    title: str | None
    """The title its first card files under (None: no card), for the shared-title check."""
    diagnostics: tuple[Diagnostic, ...]
    """Its own problems: the compile's and the per-card checks' (warnings only)."""
    guids: tuple[str, ...]
    """Its cards' ids, in order."""
    questions: tuple[str, ...]
    """Its cards' questions, in order."""
    lines: tuple[int, ...]
    """Its cards' lines, in order."""
    digests: tuple[str, ...]
    """Each card's note's :func:`~pipeline.syncplan.fields_hash`, in order ("": a card
    that makes no note, not answered yet)."""
    decks: tuple[str, ...]
    """Each card's deck, in order."""
    tags: tuple[tuple[str, ...], ...]
    """Each card's tags, in order."""
    media: tuple[tuple[str, ...], ...]
    """The media names each card's note's fields point to, in order."""

    @property
    def rows(self) -> Iterator[Carried]:
        """Each card's note as the plan wanted it, in order, a card that makes no note
        included (kept a column at a time: strings and shared tuples, not an object a
        note, to write and read)."""
        return map(Carried, self.guids, self.digests, self.decks, self.tags, self.media)

    @property
    def notes(self) -> Iterator[Carried]:
        """Its notes as the plan wanted them, in order."""
        return (row for row in self.rows if row.digest)


@dataclass(frozen=True)
class SyncMemo:
    """What the last sync that wrote the lock settled."""

    context: str
    """:func:`context_of` the sync: the memo holds only for the same code and settings."""
    lock: bytes
    """blake2b of the lock file's bytes as that sync wrote them."""
    successors: frozenset[str]
    """Ids that orphans of that lock name as their successor."""
    parsed: Lock
    """That lock as read (:func:`~pipeline.identity.load_lock`): not parsed again while the
    file holds its bytes."""
    files: Mapping[str, FileMemo]
    """The settled note files, by path."""


@dataclass(frozen=True)
class QuickNotes:
    """The notes as a memo lets a sync see them: the files it carries over, and the
    records of the others."""

    identity: Identity
    """The identity stage's result: the cards of the files compiled, identified, in
    source order; the carried files' cards are counted, not held."""
    diagnostics: tuple[Diagnostic, ...]
    """Every problem of the notes, sorted by file and line, as a full check gives them."""
    carried: Mapping[str, FileMemo]
    """The files carried over, by path."""
    files: tuple[ParsedFile, ...]
    """The records of the files compiled (looked up or compiled again), but those of
    :attr:`spliced`."""
    spliced: Mapping[str, Respliced] = field(default_factory=dict)
    """The files compiled again whose unchanged cards are carried over without them, by
    path."""
    earlier: tuple[Lock, bytes] | None = None
    """The lock the memo holds and the lock file's bytes, its text, for the next lock's
    (:func:`~pipeline.identity.lock_bytes`)."""


@dataclass(frozen=True)
class Respliced:
    """A note file compiled again whose cards taken as they were (a unit of it unchanged)
    are carried over without their cards, as their memo's rows: its memo was made from
    the very records the worker spliced it from (:class:`~pipeline.records.SplicedFile`)."""

    part: SplicedFile
    """What the worker sent."""
    held: tuple[Held, ...]
    """Its cards taken as they were, as matching reads them, in order (with their ids)."""
    rows: tuple[Carried, ...]
    """Their notes, as the memo keeps them, in the same order."""

    def order(self) -> Iterator[Card | Held]:
        """The file's cards in order: compiled anew (as compiled) and held."""
        for i in self.part.order():
            yield self.part.cards[i] if i >= 0 else self.held[-1 - i]


def respliced(part: SplicedFile, held: FileMemo) -> Respliced | None:
    """``part``, whose taken cards are ``held``'s (the memo of the records it was spliced
    from: a card's index there is its row); None when a taken card is not its row (never,
    unless the memo and those records part ways: the sync then reads every card).

    Compared a run at a time, column against column: 10,000 cards one by one took 0.018 s
    of a re-sync's own process, 0.011 s so."""
    path = part.path
    stands: list[Held] = []
    rows: list[Carried] = []
    decks: dict[str, DeckName] = {}  # one a deck: a file has a few, its cards hundreds
    at = 0
    for run in part.taken:
        first, last = run.first, run.last
        if first == last:
            continue  # no card: no columns to take apart
        took = part.kept[at : at + last - first]
        at += last - first
        if last > len(held.guids) or not all(held.digests[first:last]):
            return None
        questions, lines, deck_paths, note_digests, answer_digests = zip(*took, strict=True)
        if held.questions[first:last] != questions or held.decks[first:last] != deck_paths:
            return None
        if tuple(line - run.moved for line in lines) != held.lines[first:last]:
            return None
        guids = held.guids[first:last]
        stands += map(
            Held,
            guids,
            questions,
            [Source(path, line) for line in lines],
            [decks.get(d) or decks.setdefault(d, DeckName(d)) for d in deck_paths],
            note_digests,
            answer_digests,
        )
        rows += map(
            Carried,
            guids,
            held.digests[first:last],
            held.decks[first:last],
            held.tags[first:last],
            held.media[first:last],
        )
    return Respliced(part, tuple(stands), tuple(rows))


def context_of(config: Config) -> str:
    """A hash of what a sync's results depend on besides the notes: the code, the settings
    (folders as absolute paths: the same sync run from another folder) and the note type's
    look."""
    config = replace(config, content=config.content.resolve(), out=config.out.resolve())
    text = f"{code_fingerprint()}\0{config!r}\0{current_look().digest}"
    return hashlib.sha256(text.encode()).hexdigest()


def lock_digest(data: bytes) -> bytes:
    """blake2b (16 bytes) of a lock file's bytes."""
    return hashlib.blake2b(data, digest_size=16).digest()


def _key() -> str:
    return hashlib.sha256(f"{MEMO_NAME}\0{code_fingerprint()}".encode()).hexdigest()


def read_memo(config: Config) -> SyncMemo | None:
    """The memo the last sync left (None: none, caching off, or damaged)."""
    folder = cache_folder(config)
    if folder is None:
        return None
    payload = read_kept(folder / MEMO_NAME, _key())
    if payload is None:
        return None
    try:
        memo = pickle.loads(payload)
    except Exception:  # the header's hash held: written by this code, so only a bug
        return None
    return memo if isinstance(memo, SyncMemo) else None


def memo_bytes(memo: SyncMemo) -> bytes:
    """``memo`` as :func:`write_memo` keeps it (made while Anki writes: 0.03 s at 10,000
    notes)."""
    return pickle.dumps(memo, pickle.HIGHEST_PROTOCOL)


def without_notes(memo: SyncMemo, guids: Set[str]) -> SyncMemo | None:
    """``memo`` without the note files that hold a note of ``guids`` (notes that are not as
    the last sync left them in the collection: :class:`~pipeline.syncplan.Unsettled`), so
    that those files are compiled and planned; None when it holds none of them."""
    files = {path: held for path, held in memo.files.items() if guids.isdisjoint(held.guids)}
    return replace(memo, files=files) if len(files) < len(memo.files) else None


def write_memo(config: Config, memo: bytes | None) -> None:
    """Keep ``memo`` (:func:`memo_bytes`) for the next sync (None: remove the memo there
    is). A memo that cannot be written costs the next sync time, never this one its
    result."""
    folder = cache_folder(config)
    if folder is None:
        return
    target = folder / MEMO_NAME
    try:
        if memo is None:
            target.unlink(missing_ok=True)
            return
        folder.mkdir(parents=True, exist_ok=True)
        write_kept(target, _key(), memo)
    except OSError:
        pass


# --- a sync with a memo --------------------------------------------------------------------


class _Asked:
    """A carried card as the duplicate search sees it: its question and where it is."""

    __slots__ = ("question", "source")

    def __init__(self, question: str, source: Source) -> None:
        self.question = question
        self.source = source


def _carriable(
    config: Config, memo: SyncMemo, paths: list[str], cache: ParseCache
) -> tuple[dict[str, FileMemo], dict[str, str]]:
    """The settled files of ``memo`` that may be carried over now (see the module's text),
    and those edited since whose unchanged cards may be: path -> the key of the records
    the memo was made from (a worker that splices the file from them says which cards it
    took as they were: :func:`~pipeline.build.compile_spliced`)."""
    root = config.content.resolve()
    carried: dict[str, FileMemo] = {}
    bases: dict[str, str] = {}
    for path in paths:
        held = memo.files.get(path)
        if held is None or not _may_be_absent(held.questions, held.guids, config, memo.successors):
            continue
        # An image replaced since: the notes that show it are not the memo's.
        if held.targets and not Resolver(root, (root / path).parent.resolve()).judged_alike(
            held.targets
        ):
            continue
        if cache.key_now(path) != held.key:
            bases[path] = held.key
            continue
        carried[path] = held
        cache.forget_bytes(path)  # not compiled: its bytes are not kept for the lookup
    return carried, bases


def quick_notes(
    config: Config,
    memo: SyncMemo | None,
    cache: ParseCache,
    progress: Progress,
    kept: KeptMatches,
) -> QuickNotes | None:
    """The notes with the files ``memo`` settled carried over (None: the memo does not hold:
    other code or settings, a lock written since, or no memo).

    ``kept`` is told which of the compiled files the matching settled. Errors are in the
    diagnostics, as :func:`~pipeline.build.check` gives them; nothing is written but the
    cache's staged entries.
    """
    if memo is None or memo.context != context_of(config):
        return None
    try:
        lock = config.lock_path.read_bytes()
    except OSError:
        return None
    if lock_digest(lock) != memo.lock:
        return None
    paths = discover(config.content)
    carried, bases = _carriable(config, memo, paths, cache)
    todo = [p for p in paths if p not in carried]
    stored = stored_search(config, write=cache.staging)
    with collector_paused(), Validation(config.content, stored=stored) as checks:
        made = compile_spliced(config, todo, progress, cache.typst, cache, paths, bases)
        files = [f for f in made if isinstance(f, ParsedFile)]
        spliced: dict[str, Respliced] = {}
        for part in made:
            if isinstance(part, SplicedFile):
                found_again = respliced(part, memo.files[part.path])
                if found_again is None:
                    return None
                spliced[part.path] = found_again
        by_path = {f.path: f for f in files}
        cards = tuple(card for f in files for card in f.cards)  # checked here
        asked: list[Card | _Asked] = []
        for path in paths:
            if path in carried:
                held = carried[path]
                asked += map(_Asked, held.questions, (Source(path, n) for n in held.lines))
            elif path in spliced:
                asked += (
                    _Asked(card.question, card.source) if isinstance(card, Held) else card
                    for card in spliced[path].order()
                )
            else:
                asked += by_path[path].cards
        progress("check", 0, 1)
        checks.start(cards, asked)
        absent = {path: held.guids for path, held in carried.items()}
        converted: list[SplicedFile] = []  # spliced, then matched with all their cards
        while True:
            matched = _matched(paths, spliced, by_path)
            try:
                identity = identify(
                    config, matched, known=(lock, memo.parsed), kept=kept, absent=absent
                )
                break
            except HeldRefused as refused:  # a question copied in its file, say: the file's
                whole = cache.staged(refused.path)  # records as the worker kept them
                if whole is None or refused.path not in spliced:
                    return None
                converted.append(spliced.pop(refused.path).part)
                files.append(whole)
                by_path[whole.path] = whole
            except ValueError:  # the lock changed since it was read (restored): read it all
                return None
        title_of = {f.path: first_title(f) for f in files}
        title_of.update({p: held.title for p, held in carried.items()})
        title_of.update({p: again.part.title for p, again in spliced.items()})
        found = (
            *(d for held in carried.values() for d in held.diagnostics),
            *(d for f in files for d in f.diagnostics),
            *(d for again in spliced.values() for d in again.part.problems),
            *(d for part in converted for d in part.checked),  # checked in the worker
            *folder_problems(paths, [(p, title_of[p]) for p in paths], config),
            *checks.per_card(),
            *checks.duplicates(),
            *identity.diagnostics,
        )
        cache.stage(SEARCH_STATE, checks.state)
        if not config.allow_mass_orphan:
            found = (*found, *mass_orphan_warning(identity, config.lock_path))
    diagnostics = sorted_problems(found, config)
    earlier = (memo.parsed, lock)
    return QuickNotes(identity, diagnostics, carried, tuple(files), spliced, earlier)


def _matched(
    paths: Iterable[str], spliced: Mapping[str, Respliced], compiled: Mapping[str, ParsedFile]
) -> list[Card | Held]:
    """What identity matches, in source order: the cards of the files compiled, those of
    the files spliced held or compiled anew (the carried files are absent)."""
    matched: list[Card | Held] = []
    for path in paths:
        if path in spliced:
            matched += spliced[path].order()
        elif path in compiled:
            matched += compiled[path].cards
    return matched


def unchanged_notes(memo: SyncMemo, cards: Iterable[Card]) -> dict[str, Carried]:
    """The notes of ``cards`` (compiled again, identified against the lock ``memo`` was made
    with) that are as the sync which made ``memo`` wanted them, by id: the memo keeps the
    note (its file was settled), and its card matched that note's entry unchanged (the
    same question and note digest). The note digest covers everything the note's fields,
    deck, tags and media are made of, and the id is the same: the note is the memo's row.

    A file with an edit is compiled again, and its other notes need not be made again
    (:func:`~pipeline.syncplan.desired`): the plan checks each against the collection as
    it checks a carried file's (:class:`~pipeline.syncplan.Unsettled` otherwise).
    """
    ours = {card.id for card in cards if card.matched.status == "unchanged"}
    found: dict[str, Carried] = {}
    for held in memo.files.values() if ours else ():
        for row in held.notes:
            if row.guid in ours:
                found[row.guid] = row
    return found


# --- the memo a sync leaves ----------------------------------------------------------------


def file_memo(
    key: str,
    run: Sequence[Card | Held],
    wanted: Sequence[Carried],
    targets: tuple[Target, ...],
    title: str | None,
    diagnostics: tuple[Diagnostic, ...],
) -> FileMemo:
    """The memo of a settled file compiled under ``key``: its cards identified, or held,
    as ``run``; their notes as the plan wanted them (``wanted``, in the same order:
    :func:`wanted_rows`); every image and link of its cards, the title it files under,
    its own problems."""
    same: dict[tuple[str, ...], tuple[str, ...]] = {}  # one tuple for equal ones: pickled once
    return FileMemo(
        key=key,
        targets=targets,
        title=title,
        diagnostics=diagnostics,
        guids=tuple(card.id for card in run),
        questions=tuple(card.question for card in run),
        lines=tuple(card.source.line for card in run),
        digests=tuple(w.digest for w in wanted),
        decks=tuple(sys.intern(w.deck) for w in wanted),
        tags=tuple(same.setdefault(w.tags, w.tags) for w in wanted),
        media=tuple(
            same.setdefault(m, m)
            for card, w in zip(run, wanted, strict=True)
            for m in [
                w.media
                if isinstance(card, Held)
                else tuple(sorted({t.media for t in card.targets if t.media}))
            ]
        ),
    )


def wanted_rows(cards: Iterable[Card], notes: Mapping[str, Carried]) -> list[Carried]:
    """The rows of identified ``cards`` as the plan wanted their notes (``notes``: by guid),
    a card that makes no note included."""
    return [notes.get(card.id) or _no_note(card) for card in cards]


def _no_note(card: Card | Held) -> Carried:
    """The row of a card that makes no note (not answered yet): no fields."""
    if isinstance(card, Held):  # held cards make notes: always in the plan's rows
        raise KeyError(card.id)
    return Carried(card.id, "", card.deck.path, card.tags, ())


def memo_after(
    config: Config,
    lock: bytes,
    written: Lock,
    kept: KeptMatches,
    cards: Sequence[Card],
    files: Sequence[ParsedFile],
    cache: ParseCache,
    want: Desired,
    plan: Plan,
    carried: Mapping[str, FileMemo],
    reused: Mapping[str, Carried] | None = None,
    spliced: Mapping[str, Respliced] | None = None,
) -> SyncMemo:
    """The memo a sync leaves once it wrote ``lock`` (the text of ``written``): the files
    it carried over, and those of ``files`` settled by the lock it wrote whose notes the
    collection now holds as wanted (none left in conflict; a card not answered makes no
    note, unless ``include_unanswered``).

    A file whose questions this sync matched anew (a rewording, a new question) is settled
    by the lock it wrote as much as one whose cards kept their entries (``kept``): the
    next sync carries it over too (:func:`settled_by`). ``cards``: this sync's cards,
    identified. ``reused``: the notes of ``files`` left out of ``want``, as the last memo
    kept them (:func:`unchanged_notes`). ``spliced``: the files compiled again whose
    unchanged cards were held (:class:`Respliced`); settled, their memo holds those
    cards' rows as they were and the others' as this sync made them.
    """
    conflicts = {w.guid for w, _ in plan.conflict}
    compiled = bool(files or spliced)
    notes: dict[str, Carried] = dict(reused or {}) if compiled else {}
    for w in want.notes if compiled else ():
        notes[w.guid] = Carried(w.guid, w.fields_hash, w.deck, w.tags, ())
    successors = frozenset(e.successor for e in written.orphans if e.successor)
    settled = settled_by(written, kept, cards)

    orphaned = {e.id for e in written.orphans}

    def noted(card: Card) -> bool:  # it makes a note: the plan wanted it
        return card.answered or config.include_unanswered

    def held_back(card: Card) -> bool:
        """Its note is not as the file wants it, or its answer was removed (an orphan keeps
        the note it had): a file that has such a card is compiled next time."""
        return card.id in conflicts or card.id in orphaned or (noted(card) and card.id not in notes)

    root = config.content
    made = dict(carried)
    for parsed in files:
        ids = settled.get(parsed.path)
        key = cache.key_of(parsed.path)
        if ids is None or key is None or not parsed.cards:
            continue
        if any(map(held_back, ids)):
            continue
        own = tuple(d for _, check in CHECKS for d in check(parsed.cards, root))
        targets = tuple(t for card in parsed.cards for t in card.targets)
        found = (*parsed.diagnostics, *own)
        wanted = wanted_rows(ids, notes)
        made[parsed.path] = file_memo(key, ids, wanted, targets, first_title(parsed), found)
    made.update(_spliced_memos(written, cards, cache, spliced or {}, notes, held_back))
    return SyncMemo(
        context_of(config), lock_digest(lock), successors, written, dict(sorted(made.items()))
    )


def _spliced_memos(
    written: Lock,
    cards: Sequence[Card],
    cache: ParseCache,
    spliced: Mapping[str, Respliced],
    notes: dict[str, Carried],
    held_back: Callable[[Card], bool],
) -> Iterator[tuple[str, FileMemo]]:
    """The memos of the files of ``spliced`` that ``written`` settles (:func:`memo_after`),
    and none of whose cards compiled anew (among ``cards``, identified) is held back;
    ``notes``: the notes wanted, by guid."""
    fresh: dict[str, list[Card]] = {path: [] for path in spliced}
    for card in cards:
        if card.source.path in fresh:
            fresh[card.source.path].append(card)
    runs: list[Card | Held] = []
    for path, again in spliced.items():
        made = iter(fresh[path])  # identified, in the order compiled
        runs += [card if isinstance(card, Held) else next(made) for card in again.order()]
    settled = settled_in(written, runs)
    for path, again in spliced.items():
        key = cache.key_of(path)
        run = settled.get(path)
        if key is None or run is None:
            continue
        if any(map(held_back, fresh[path])):
            continue
        # The held cards' rows are the memo's, in their order; the others', the plan's.
        rows, others = iter(again.rows), iter(wanted_rows(fresh[path], notes))
        wanted = [next(rows) if isinstance(card, Held) else next(others) for card in run]
        part = again.part
        yield path, file_memo(key, run, wanted, part.targets, part.title, part.problems)


def _may_be_absent(
    questions: Iterable[str], ids: Iterable[str], config: Config, successors: frozenset[str]
) -> bool:
    """Whether a settled file may be carried over without its cards (the ``absent`` of
    :func:`~pipeline.identity.assign`): no alias names a question or id of it, no orphan
    one of its ids as its successor. (No orphan has the id of one of its cards either: it
    is settled.)"""
    aliases = config.aliases
    ids = set(ids)
    return (
        ids.isdisjoint(successors)
        and (not aliases or ids.isdisjoint(aliases.values()))
        and (not aliases or not any(q in aliases for q in questions))
    )


def settled_by(
    written: Lock, kept: KeptMatches, cards: Sequence[Card]
) -> dict[str, tuple[Card, ...]]:
    """The note files of ``cards`` (this sync's, identified) that ``written`` settles, by
    path: those this sync's matching settled (``kept``), and those the lock it wrote
    settles (:func:`~pipeline.identity.settled_in`)."""
    settled = {path: held[1] for path, held in kept.files.items()}
    rest = [card for card in cards if card.source.path not in settled]
    return {**settled_in(written, rest), **settled} if rest else settled
