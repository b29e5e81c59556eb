"""``sync``: apply the notes to a real Anki collection, through Anki's own library.

An ``.apkg`` import can only add and update notes. A sync also moves cards to their
section's deck, removes the decks cardsmith left empty, keeps the notes of deleted (or no
longer answered) questions as suspended orphans, updates the note type's CSS and
templates, and never overwrites a note edited in Anki without a word.

The stages: the notes are compiled, checked and identified as for a build
(:func:`notes_for`); what they want (:func:`~pipeline.syncplan.desired`) is compared
with what the collection holds, read in its own process
(:class:`~pipeline.ankifile.CollectionSide`), into a plan
(:func:`~pipeline.syncplan.make_plan`), which that process carries out; then the lock
records the ids now in Anki, and the memo (:mod:`~pipeline.syncmemo`) the files settled,
which the next sync carries over unread while they are unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

from .ankifile import CollectionSide
from .build import Progress, _quiet, check, collector_paused
from .cache import ParseCache
from .config import Config
from .errors import ContentError, Diagnostic, EnvironmentProblem
from .identity import (
    KeptMatches,
    forget_orphans,
    lock_bytes,
    lock_state,
    lock_text,
    refuse_changed_lock,
    write_lock_bytes,
)
from .interrupts import stop_note, stop_note_from_now
from .lastpackage import forget_last_package
from .records import BuildData, Card, Identity, Lock, Match, ParsedFile, Successor
from .report import orphan_lines, renamed_in, renamed_line
from .safeguards import refuse_collection_orphans, refuse_mass_orphan
from .syncmemo import (
    FileMemo,
    Respliced,
    SyncMemo,
    lock_digest,
    memo_after,
    memo_bytes,
    quick_notes,
    read_memo,
    unchanged_notes,
    without_notes,
    write_memo,
)
from .syncplan import (
    ORPHAN_TAG,
    Carried,
    Desired,
    Plan,
    State,
    SyncError,
    Unsettled,
    desired,
    lock_unknown,
    plan_against,
)

__all__ = ["CARRIED_OUT", "ORPHAN_TAG", "SyncError", "SyncResult", "notes_for", "sync"]

#: What a sync stopped while Anki may be being written says besides "stopped by SIGINT".
_STOPPED_WRITING = (
    "Anki may have been updated and the lock not: sync again (the same notes are found, "
    "and nothing is added twice)"
)
#: What a sync stopped once its lock is written says (its memo may not be: the next sync
#: then reads every note file).
CARRIED_OUT = "the sync was carried out in full (Anki and the lock file are in step)"


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
    renamed: tuple[tuple[Match, Card], ...] = ()
    """Reworded questions and how each was matched to the question it was (its note and
    reviews follow it), as a build lists them."""

    def lines(self) -> list[str]:
        """The plan, the reworded questions with the questions they were, then how to keep
        the history of an orphan with a likely successor."""
        out = self.plan.lines(frozenset(s.orphan.id for s in self.successors))
        out += [renamed_line(match, card) for match, card in self.renamed]
        for successor in self.successors:
            out += orphan_lines(successor.orphan, frozenset(), successor)
        return out


@dataclass(frozen=True)
class SyncNotes:
    """The notes as a sync sees them: compiled, checked and identified."""

    data: BuildData
    """The cards of the files compiled, for the plan (those carried over are not here)."""
    identity: Identity
    """The identity stage's result (the carried files' cards counted, not held)."""
    diagnostics: tuple[Diagnostic, ...]
    """Every problem of the notes, sorted (warnings only: errors stop the sync)."""
    config: Config
    """The settings the notes were compiled under (a sync builds what the package holds)."""
    kept: KeptMatches
    """The compiled files the matching settled, for the next memo."""
    cache: ParseCache
    """The compile cache they came through (the keys of their bytes)."""
    files: tuple[ParsedFile, ...] = ()
    """The records of the files compiled."""
    carried: Mapping[str, FileMemo] = field(default_factory=dict)
    """The note files the last sync's memo carried over, by path."""
    reused: Mapping[str, Carried] = field(default_factory=dict)
    """Notes of the files compiled that are as the last sync's memo keeps them, by id
    (:func:`~pipeline.syncmemo.unchanged_notes`): wanted as it says, not made again."""
    spliced: Mapping[str, Respliced] = field(default_factory=dict)
    """The files compiled again whose unchanged cards were carried over without them, by
    path (their other cards are in :attr:`data`)."""
    earlier: tuple[Lock, bytes] | None = None
    """The lock the memo holds and the lock file's bytes, that text (the next lock takes
    the rows of its unchanged entries: :func:`~pipeline.identity.lock_bytes`)."""

    @property
    def carried_notes(self) -> list[Carried]:
        """The notes of the carried files and cards, as the last sync wanted them, and those
        reused."""
        held = [note for memo in self.carried.values() for note in memo.notes]
        held += [note for again in self.spliced.values() for note in again.rows]
        return [*held, *self.reused.values()]


def gather(
    config: Config,
    progress: Progress = _quiet,
    dry_run: bool = False,
    memo: SyncMemo | None = None,
) -> SyncNotes:
    """Parse, check and identify the notes, with their warnings; content errors stop here,
    before anything is written to Anki, and so does a sync that would orphan most of the lock's
    questions (:func:`~pipeline.safeguards.refuse_mass_orphan`, as for a build; a dry run
    shows the plan instead).

    The compiled records are cached as a build caches them: a sync after a small edit
    compiles only the edited files. With ``memo`` (:func:`read_memo` of :func:`settings`),
    the files the last sync settled and that did not change since are carried over
    without being read (:mod:`~pipeline.syncmemo`).
    """
    config = settings(config)
    kept = KeptMatches()
    # A dry run reads the cache, and its workers write no entry (the sixteenth trial).
    with ParseCache.open(config, typst=False, staging=not dry_run) as cache:
        quick = quick_notes(config, memo, cache, progress, kept)
        reused: dict[str, Carried] = {}
        spliced: Mapping[str, Respliced] = {}
        earlier = None
        if quick is not None:
            assert memo is not None
            identity, diagnostics = quick.identity, quick.diagnostics
            files, carried, spliced = quick.files, quick.carried, quick.spliced
            earlier = quick.earlier
            reused = unchanged_notes(memo, identity.cards)
        else:
            result = check(config, progress, cache, kept=kept)
            identity, diagnostics = result.identity, result.collection.diagnostics
            files, carried = result.files, {}
        if any(d.severity == "error" for d in diagnostics):
            raise ContentError(diagnostics)
        if not dry_run:  # a dry run writes nothing, the cache included (the fifteenth trial)
            cache.save()  # records of notes without errors, keyed by their bytes: safe to keep
    if not dry_run:
        refuse_mass_orphan(identity, config.lock_path, config.allow_mass_orphan, "sync")
    data = BuildData(identity.cards, config, identity.note_type.mod)
    return SyncNotes(
        data, identity, diagnostics, config, kept, cache, files, carried, reused, spliced, earlier
    )


def settings(config: Config) -> Config:
    """``config`` as a sync compiles the notes: for the package alone. A sync writes what
    the package would carry and prints no sheet, so the PDF's checks (a character no PDF
    font has is an error there) must not stop it."""
    return replace(config, formats=("apkg",))


def notes_for(
    config: Config, progress: Progress = _quiet, dry_run: bool = False
) -> tuple[BuildData, Identity, tuple[Diagnostic, ...]]:
    """Every note compiled, checked and identified (:func:`gather` without a memo): the
    cards, their identity and the warnings."""
    notes = gather(config, progress, dry_run)
    return notes.data, notes.identity, notes.diagnostics


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
    # Stopped once Anki may be written, the one line says so (the lock is written last).
    # The collector stays paused to the end: turned on before the lock and the memo are
    # written, it first walked every object the sync had made (0.014 s at 10k).
    with collector_paused(), ExitStack() as writing:
        with CollectionSide(collection, write=not dry_run) as side:

            def compiled_then_read(stage: str, done: int, total: int) -> None:
                # Compiled, or one file left to compile (a memo carried the others): a core free.
                if stage != "parse" or done >= total - 1:
                    side.read()
                progress(stage, done, total)

            memo = read_memo(settings(config))

            def planned(state: State | None) -> tuple[SyncNotes, Desired, Plan]:
                """The notes, what they want and the plan against ``state`` (None: as the
                collection's process read it); with the memo, but for the note files of the
                notes it carries that changed in Anki (those files are compiled and planned
                then: a note edited in Anki made every file compiled and planned again)."""
                use = memo
                while True:
                    notes = gather(config, compiled_then_read, dry_run, use)
                    if not dry_run:  # a lock restored meanwhile: Anki is not touched
                        refuse_changed_lock(config.lock_path, notes.identity, "sync")
                    want = desired(notes.data, notes.reused.keys())
                    progress("anki", 0, 1)
                    state = side.state() if state is None else state
                    try:
                        plan = plan_against(
                            want,
                            state,
                            notes.identity.lock_file,
                            force=force,
                            delete_orphans=delete_orphans,
                            carried=notes.carried_notes,
                        )
                    except Unsettled as unsettled:
                        # Without the memo, nothing is carried and nothing unsettled.
                        assert use is not None
                        use = without_notes(use, unsettled.guids)
                        continue
                    if not dry_run:  # a dry run shows the plan instead
                        found = len(want.notes) + len(notes.carried_notes)
                        allowed = notes.config.allow_mass_orphan
                        refuse_collection_orphans(plan, state, collection, found, allowed)
                    lost = lock_unknown(notes.config.lock_path, plan)
                    if lost:
                        notes = replace(notes, diagnostics=(*notes.diagnostics, *lost))
                    return notes, want, plan

            notes, want, plan = planned(None)
            if not dry_run:
                writing.enter_context(stop_note(_STOPPED_WRITING))
            while True:
                side.carry_out(None if dry_run or plan.empty else plan, want.model)
                # The lock's text and the memo are made while Anki writes, and written once it
                # is done.
                kept_lock = lock_kept(notes.identity, plan)
                lock = None if dry_run else lock_bytes(kept_lock, notes.earlier)
                left = None
                if lock is not None and not _same_memo(memo, notes, lock):
                    made = memo_after(
                        notes.config,
                        lock,
                        kept_lock,
                        notes.kept,
                        notes.identity.cards,
                        notes.files,
                        notes.cache,
                        want,
                        plan,
                        notes.carried,
                        notes.reused,
                        notes.spliced,
                    )
                    # The same memo is not written again (a file never settled, with an
                    # unanswered question, made it anew every sync: the 27th trial).
                    left = None if made == memo else memo_bytes(made)
                changed = side.outcome()
                if changed is None:
                    break
                # The collection changed after it was read: nothing was written; plan anew.
                notes, want, plan = planned(changed)
            identity = notes.identity
        progress("anki", 1, 1)
        if lock is not None:
            record_ids(config, identity, lock)
            writing.enter_context(stop_note(CARRIED_OUT))  # the lock written: in step
            forget_last_package(notes.config)  # Anki holds the notes as the lock says
            if left is not None:
                write_memo(notes.config, left)
    if lock is not None:
        stop_note_from_now(CARRIED_OUT)
    return SyncResult(
        plan, not dry_run, identity.successors, notes.diagnostics, renamed_in(identity)
    )


def _same_memo(memo: SyncMemo | None, notes: SyncNotes, lock: bytes) -> bool:
    """Whether the memo a sync leaves is ``memo`` as it is: it carried every file of it
    over, compiled none, and wrote the lock it had (a sync that found nothing to do)."""
    return (
        memo is not None
        and not notes.files
        and not notes.spliced
        and notes.carried.keys() == memo.files.keys()
        and lock_digest(lock) == memo.lock
    )


def lock_after(identity: Identity, plan: Plan) -> bytes:
    """The lock's text once ``plan`` is carried out (:func:`lock_kept`)."""
    return lock_text(lock_kept(identity, plan)).encode("utf-8")


def lock_kept(identity: Identity, plan: Plan) -> Lock:
    """The lock once ``plan`` is carried out: the ids now in Anki, as after a build, and
    the orphans the sync deleted resolved (gone from the lock), with those the collection
    had no note of when ``--delete-orphans`` forgets them."""
    gone = [e.guid for e in plan.delete]
    if plan.forget_absent:
        gone += plan.absent_orphans
    return forget_orphans(identity.lock_file, gone)[0]


def record_ids(config: Config, identity: Identity, lock: bytes) -> None:
    """Write ``lock`` (:func:`lock_after`) after a sync carried its plan out.

    A lock that changed while Anki was being updated (restored from version control) is
    left as it is, and :class:`EnvironmentProblem` says so: the next sync matches the notes
    against it and brings Anki in step (a note whose id it does not know becomes an orphan,
    kept with its reviews), where writing over it would undo the restore without a word. A
    lock that cannot be written says that Anki was updated all the same (the sixteenth
    trial): ids are made from the notes, so the next sync finds the same ones.
    """
    if lock_state(config.lock_path) != identity.read_from:
        raise EnvironmentProblem(
            f"{config.lock_path}: the lock file changed while this sync ran (restored from "
            "version control?); Anki was updated, the lock was not written: sync again"
        )
    try:
        write_lock_bytes(config.lock_path, lock)
    except (EnvironmentProblem, OSError) as exc:  # a read-only or full notes folder
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise EnvironmentProblem(
            f"{reason}; Anki was updated, the lock was not written: sync again once "
            f"{config.lock_path} can be written (the same ids are found again)"
        ) from exc
