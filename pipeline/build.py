"""``build(config)``: the stages in order. Everything is gathered first, then written."""

from __future__ import annotations

import gc
import importlib
import json
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

from . import fontcheck
from .cache import Earlier, Entry, Memory, ParseCache, cache_folder
from .config import CONFIG_NAME, Config
from .errors import ContentError, Diagnostic
from .export.outputs import Outputs
from .highlight import warm_lexers
from .identity import (
    KeptMatches,
    KnownLock,
    LockRows,
    identify,
    lock_text,
    refuse_changed_lock,
    write_lock_bytes,
)
from .lastpackage import LAST_PACKAGE, last_package, package_memo
from .parallel import fork_map, worker_count
from .parse import compile_file, file_title
from .records import (
    BuildData,
    Card,
    Collection,
    Identity,
    ParsedFile,
    SplicedFile,
    Taken,
    TakenCard,
)
from .report import REPORT_NAME, BuildReport, make_report
from .safeguards import mass_orphan_warning, refuse_mass_orphan
from .sources import discover
from .validate import (
    CHECKS,
    PDF_ONLY,
    SEARCH_STATE,
    CheckedFiles,
    DuplicateSearch,
    StoredPairs,
    Validation,
    duplicate_search,
)

#: (stage, done, total) -> None; called as work progresses.
Progress = Callable[[str, int, int], None]
Exporter = Callable[[BuildData, Outputs], None]


#: Output format -> module with ``export(BuildData, Outputs)``, imported only when needed.
EXPORTERS = {
    "json": "pipeline.export.jsonfile",
    "apkg": "pipeline.export.anki",
    "pdf": "pipeline.export.pdf",
}


def exporter(fmt: str) -> Exporter:
    """The exporter of one format (a JSON build need not load genanki or Typst)."""
    module = importlib.import_module(EXPORTERS[fmt])
    return module.export  # type: ignore[no-any-return]


_PARALLEL_BYTES = 400_000  # below this, starting workers costs more than it saves


def _quiet(_stage: str, _done: int, _total: int) -> None:
    pass


#: What a worker is given to compile one file: the content folder, the file, the settings,
#: whether to make Typst, its bytes, its earlier records, where to write its entry, and
#: the key of the records a sync's memo describes ("": none).
Job = tuple[Path, str, Config, bool, bytes | None, Earlier | None, Entry | None, str]


def _parse_one(job: Job) -> tuple[ParsedFile | bytes, Path | None]:
    """Compile one file: its records, or, when the worker writes its cache entry
    (``entry``), the records pickled and the entry's temporary file.

    When the earlier records the file was spliced from are those of the key ``base`` (a
    sync's memo was made from them), and the entry was written, the worker sends a
    :class:`~pipeline.records.SplicedFile` pickled instead: the cards it took as they were
    stay here.
    """
    root, path, config, typst, data, earlier, entry, base = job  # no earlier: no cache
    previous, key = earlier.load_keyed(path) if earlier else (None, "")
    parsed, taken = compile_file(root, path, config, typst, data, previous, earlier is not None)
    if entry is None:
        return parsed, None
    pickled, written = entry.write(parsed)
    if base and key == base and taken and written is not None:
        return pickle.dumps(spliced(parsed, taken, root), pickle.HIGHEST_PROTOCOL), written
    return pickled, written


def spliced(parsed: ParsedFile, taken: tuple[Taken, ...], root: Path) -> SplicedFile:
    """``parsed`` without the answered cards of ``taken`` (:class:`~pipeline.records.
    SplicedFile`: a held card makes a note), its per-card checks run (``root``: the
    content folder, as the checks read it)."""
    cards = parsed.cards
    answered = [
        Taken(run.at + a, run.first + a, run.first + b, run.moved)
        for run in taken
        for a, b in _answered_runs(cards[run.at : run.at + run.last - run.first])
    ]
    took = [False] * len(cards)
    for run in answered:
        took[run.at : run.at + run.last - run.first] = [True] * (run.last - run.first)
    return SplicedFile(
        parsed.path,
        tuple(card for card, was in zip(parsed.cards, took, strict=True) if not was),
        tuple(answered),
        tuple(
            TakenCard(
                card.question,
                card.source.line,
                card.deck.path,
                card.note_digest,
                card.answer_digest,
            )
            for card, was in zip(parsed.cards, took, strict=True)
            if was
        ),
        parsed.diagnostics,
        tuple(d for _, check in CHECKS for d in check(parsed.cards, root)),
        first_title(parsed),
        tuple(t for card in parsed.cards for t in card.targets),
        ParseCache.judged(parsed),
    )


def _answered_runs(cards: Sequence[Card]) -> Iterator[tuple[int, int]]:
    """The runs ``[a, b)`` of answered cards among ``cards``."""
    start = None
    for i, card in enumerate((*cards, None)):
        if card is not None and card.answered:
            start = i if start is None else start
        elif start is not None:
            yield start, i
            start = None


def parse_all(
    config: Config,
    progress: Progress = _quiet,
    typst: bool = False,
    cache: ParseCache | None = None,
) -> Collection:
    """Compile every note file, on every core when the notes are large enough to be worth it.

    ``typst`` compiles each card to Typst as well (for the PDF), in the same workers.
    Files with a valid entry in ``cache`` are not compiled again.
    """
    paths = discover(config.content)
    return _collected(compile_files(config, paths, progress, typst, cache), paths, config)


def _collected(files: list[ParsedFile], paths: list[str], config: Config) -> Collection:
    """The cards of ``files`` (the records of ``paths``), with their problems and those of
    the files together."""
    return Collection(
        tuple(card for f in files for card in f.cards),
        (
            *(d for f in files for d in f.diagnostics),
            *folder_problems(paths, [(f.path, first_title(f)) for f in files], config),
        ),
    )


def first_title(parsed: ParsedFile) -> str | None:
    """The title its first card files under (None: the file has no card)."""
    return parsed.cards[0].deck.file_title if parsed.cards else None


def compile_files(
    config: Config,
    paths: list[str],
    progress: Progress = _quiet,
    typst: bool = False,
    cache: ParseCache | None = None,
) -> list[ParsedFile]:
    """The records of the note files ``paths`` (relative to the content folder), in that
    order: from ``cache`` when it holds them, else compiled, on every core when the notes
    are large enough to be worth it (:func:`compile_spliced`, every file whole)."""
    return [
        f
        for f in compile_spliced(config, paths, progress, typst, cache)
        if isinstance(f, ParsedFile)
    ]


def compile_spliced(
    config: Config,
    paths: list[str],
    progress: Progress = _quiet,
    typst: bool = False,
    cache: ParseCache | None = None,
    live: list[str] | None = None,
    bases: Mapping[str, str] | None = None,
) -> list[ParsedFile | SplicedFile]:
    """The records of the note files ``paths``, as :func:`compile_files` gives them, but
    that a file of ``bases`` (path -> the key of the records a sync's memo was made from)
    may come as a :class:`~pipeline.records.SplicedFile`: when a worker spliced it from
    those very records (:func:`_parse_one`). ``live``: every note file there is, when
    ``paths`` are only some (the cache keeps their entries)."""
    cache = cache or ParseCache(None, config, typst)
    found: dict[str, ParsedFile | SplicedFile] = {**cache.lookup(paths, live)}
    todo = [p for p in paths if p not in found]
    size = sum((config.content / p).stat().st_size for p in todo)
    # Below a few hundred KB, starting workers costs more than it saves.
    workers = worker_count(config.workers, len(todo)) if size >= _PARALLEL_BYTES else 1
    bases = bases or {}
    # A worker writes the entry of the file it compiles: the records are pickled once.
    jobs: list[Job] = [
        (config.content, p, config, typst, cache.data(p), cache.previous(p), entry, base)
        for p in todo
        for entry in [cache.entry(p) if workers > 1 else None]
        for base in [bases.get(p, "") if entry is not None else ""]
    ]
    if workers > 1:
        warm_lexers((data for _, _, _, _, data, *_ in jobs if data), config.default_language)
    progress("parse", len(found), len(paths))
    for made, written in fork_map(_parse_one, jobs, workers):
        result = pickle.loads(made) if isinstance(made, bytes) else made
        found[result.path] = result
        if isinstance(result, SplicedFile):
            assert written is not None
            cache.store_spliced(result.path, written, result.judged)
        else:
            cache.store(result, written)
        progress("parse", len(found), len(paths))
    return [found[p] for p in paths]


def folder_problems(
    paths: list[str], titles: Iterable[tuple[str, str | None]], config: Config
) -> tuple[Diagnostic, ...]:
    """What is wrong with the note files together rather than in one of them: no note
    file at all, a ``[titles]`` entry naming none, two files given one title by their names.
    ``titles``: each file's path and the title its first card files under (None: no card),
    in path order."""
    return (
        *_no_notes(paths, config.content),
        *_titles_of_no_file(paths, config),
        *_shared_titles(titles, config),
    )


def _shared_titles(
    titles: Iterable[tuple[str, str | None]], config: Config
) -> tuple[Diagnostic, ...]:
    """A warning at each later note file whose name gives it the title of an earlier one
    (``x/n.md`` and ``y/n.md``): their cards share decks without a word (the twelfth
    trial). Titles given on purpose (``[titles]``, front matter) may be shared."""
    first: dict[str, str] = {}
    found = []
    for path, title in titles:
        if title is None or path in config.titles:
            continue
        if title != file_title(path, config):
            continue  # named in its front matter
        earlier = first.setdefault(title.casefold(), path)
        if earlier != path:
            found.append(
                Diagnostic(
                    path,
                    0,
                    "warning",
                    f"its name gives it the title {title!r} of {earlier}: their cards share "
                    f"decks; name one under [titles] in {CONFIG_NAME}",
                    "shared-title",
                )
            )
    return tuple(found)


def _titles_of_no_file(paths: list[str], config: Config) -> tuple[Diagnostic, ...]:
    """A warning at ``cardsmith.toml`` for each ``[titles]`` entry that names no note file
    (a typo, a file renamed since): its title was used by nothing, without a word (the
    twelfth trial)."""
    known = set(paths)
    return tuple(
        Diagnostic(
            CONFIG_NAME,
            0,
            "warning",
            f"[titles] names {path!r}, which is no note file here (paths are relative to "
            "the content folder, with '/')",
            "titles",
        )
        for path in sorted(config.titles)
        if path not in known
    )


def _no_notes(paths: list[str], folder: Path) -> tuple[Diagnostic, ...]:
    """A warning at the content folder itself (path "") when it holds no note file at all:
    a wrong ``--content`` otherwise builds an empty deck without a word. The files it
    does hold are named (notes saved as ``.txt``, say)."""
    if paths:
        return ()
    try:
        others = sorted(p.name for p in folder.iterdir() if p.is_file() and p.name[0] != ".")
    except OSError:
        others = []
    shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
    found = f" (it holds {shown})" if others else ""
    message = f"no note files (*.md) in this folder{found}: nothing to build"
    return (Diagnostic("", 0, "warning", message, "no-notes"),)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector off while a build runs, as it was again afterwards.

    A build allocates millions of objects that live to its end, and the collector would
    walk them again and again (1.5 s of a 100k build; gc.freeze() does not help, as it
    makes full collections more frequent). Forked workers inherit the setting. The
    collector would find next to nothing: a whole build leaves a few hundred objects in
    reference cycles, however large the notes (``tests/test_build_json.py`` checks this).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class Resident:
    """What a long-running caller (``watch``, ``preview``) keeps between its builds.

    Make it before the first build, while the process is small: the duplicate search's
    process is forked then, once. Forked by each build instead, from a process holding
    every compiled card, it made the parent copy each page it touched while the search
    ran: a watch's rebuild at 100k questions took 10.7 s against 8.3 s for a whole
    ``cardsmith build`` (``bench/README.md``). Close it (or leave its ``with`` block) to
    stop that process.
    """

    records: Memory = field(default_factory=Memory)
    """Compiled records of every note file, under the cache's keys."""
    search: DuplicateSearch = field(default_factory=duplicate_search)
    """The near-duplicate search, serving one build after another."""
    lock: KnownLock | None = None
    """The lock file as the last build wrote it, and its bytes: not parsed again while the
    file still holds them."""
    lock_rows: LockRows = field(default_factory=dict)
    """The rows of that lock's text, by entry: an unchanged card's row is not made again."""
    matches: KeptMatches = field(default_factory=KeptMatches)
    """The note files whose matches that lock settled: taken as they are while unchanged."""
    checked: CheckedFiles = field(default_factory=dict)
    """What the per-card checks found in each file's cards: not checked again while the
    same."""
    exported: dict[str, dict[int, Any]] = field(default_factory=dict)
    """What the exporters kept of the last build (:attr:`BuildData.kept`)."""

    def close(self) -> None:
        """Stop the duplicate search's process."""
        self.search.close()

    def __enter__(self) -> Resident:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found."""

    collection: Collection
    """Every card, with every diagnostic sorted by file and line."""
    identity: Identity
    """Ids as a build would assign them (nothing written)."""
    files: tuple[ParsedFile, ...] = ()
    """Each note file's records, in path order."""


def check(
    config: Config,
    progress: Progress = _quiet,
    cache: ParseCache | None = None,
    resident: Resident | None = None,
    kept: KeptMatches | None = None,
) -> CheckResult:
    """Parse, validate and match identities; write nothing.

    The compiled-records cache is read; it is written only by the caller of a ``cache``.
    Without one, the notes are compiled for every format of ``config``, the PDF's Typst
    included: a check finds what a build of those formats would (a formula the PDF can
    only print as TeX source). ``resident``: what a long-running caller keeps between its
    checks; ``kept``: told which note files the matching settled (:class:`KeptMatches`).
    """
    records, search = (resident.records, resident.search) if resident else (None, None)
    # The duplicate search is forked now, while this process is small.
    stored = stored_search(config, write=cache is not None and cache.staging)
    with collector_paused(), Validation(config.content, search, stored=stored) as checks:
        cache = cache or ParseCache.open(config, "pdf" in config.formats, records)
        paths = discover(config.content)
        files = compile_files(config, paths, progress, cache.typst, cache)
        collection = _collected(files, paths, config)
        progress("check", 0, 1)
        checks.start(collection.cards)  # beside identity
        identity = identify(config, collection.cards, kept=kept)
        fonts = fontcheck.diagnose(collection.cards, config)
        found = (*checks.per_card(), *fonts, *checks.duplicates(), *identity.diagnostics)
        cache.stage(SEARCH_STATE, checks.state)
        if not config.allow_mass_orphan:
            found = (*found, *mass_orphan_warning(identity, config.lock_path))
        checked = _checked(identity.cards, collection, found, config)
        return CheckResult(checked, identity, tuple(files))


def stored_search(config: Config, write: bool) -> StoredPairs | None:
    """The duplicate search of a one-off run, from the state kept in the cache folder (None:
    caching is off)."""
    folder = cache_folder(config)
    return StoredPairs(folder, write) if folder is not None else None


def _checked(
    cards: tuple[Card, ...],
    collection: Collection,
    problems: Iterable[Diagnostic],
    config: Config,
) -> Collection:
    """The cards with every diagnostic, parse-time ones included, sorted by file and line;
    without those of the PDF alone when no PDF is built (a remote image's placeholder was
    warned of in a JSON build: the twelfth trial)."""
    return Collection(cards, sorted_problems((*collection.diagnostics, *problems), config))


def sorted_problems(found: Iterable[Diagnostic], config: Config) -> tuple[Diagnostic, ...]:
    """``found`` once each, sorted by file and line, without those of the PDF alone when no
    PDF is built."""
    return tuple(sorted(set(_for_formats(found, config))))


def _for_formats(found: Iterable[Diagnostic], config: Config) -> Iterable[Diagnostic]:
    """``found`` without the problems of the PDF alone when no PDF is built."""
    if "pdf" in config.formats:
        return found
    return [d for d in found if d.code not in PDF_ONLY]


def _must_stop(diagnostics: Iterable[Diagnostic], strict: bool) -> bool:
    found = list(diagnostics)
    return any(d.severity == "error" for d in found) or (strict and bool(found))


@dataclass(frozen=True)
class BuildResult:
    """What a build wrote and why."""

    files: tuple[Path, ...]
    """Output files written, in write order."""
    report: BuildReport
    """Added / changed / renamed / orphaned / skipped, as printed at the end."""
    diagnostics: tuple[Diagnostic, ...]
    """Warnings (a build with errors raises :class:`ContentError` instead)."""
    left: tuple[Path, ...] = ()
    """Outputs of earlier builds this one did not write (a package under its old name, a
    PDF no longer asked for): kept, never deleted, but named so none is taken for new."""


#: Format -> the name of its output (``jsonfile.FILE_NAME``, a package under any
#: ``package_name``, ``pdf.FILE_NAME``; ``tests/test_build_json.py`` holds them equal).
OUTPUT_NAMES = {"json": "cards.json", "apkg": "*.apkg", "pdf": "cheatsheet.pdf"}
#: Formats whose exporter runs first: the package is zipped in the background while the
#: others write (:meth:`Outputs.background`).
_STARTED_FIRST = ("apkg",)


def _left_over(out: Path, written: tuple[Path, ...]) -> tuple[Path, ...]:
    names = {path.name for path in written}
    found = {path for pattern in OUTPUT_NAMES.values() for path in out.glob(pattern)}
    return tuple(sorted(path for path in found if path.name not in names))


def _in_order(written: tuple[Path, ...], formats: tuple[str, ...]) -> tuple[Path, ...]:
    """The written files in the order of ``formats`` (the report last), however the
    exporters ran."""
    rank = {fmt: i for i, fmt in enumerate(formats)}

    def place(path: Path) -> int:
        fmt = next((f for f, name in OUTPUT_NAMES.items() if fnmatch(path.name, name)), "")
        return rank.get(fmt, len(formats))

    return tuple(sorted(written, key=place))


def build(
    config: Config,
    progress: Progress = _quiet,
    strict: bool = False,
    resident: Resident | None = None,
) -> BuildResult:
    """Build every requested output from the notes: the stages, in order.

    Raises :class:`ContentError` (nothing written) when the notes have errors, or warnings
    under ``strict``; every check but the duplicate search runs before any exporter.
    ``resident``: what a long-running caller keeps between its builds.
    """
    records, search = (resident.records, resident.search) if resident else (None, None)
    checked = resident.checked if resident else None
    # The duplicate search runs in another process beside identity and the exporters,
    # forked now, while this process is small (or once, by a long-running caller).
    # The cache's block discards what a failed build's workers wrote for it.
    typst = "pdf" in config.formats
    stored = None if resident else stored_search(config, write=True)
    with (
        collector_paused(),
        Validation(config.content, search, checked, stored) as checks,
        ParseCache.open(config, typst, memory=records, staging=True) as cache,
    ):
        collection = parse_all(config, progress, cache.typst, cache)
        checks.start(collection.cards)
        identity = identify(
            config,
            collection.cards,
            known=resident.lock if resident else None,
            kept=resident.matches if resident else None,
        )
        fonts = fontcheck.diagnose(collection.cards, config)
        found = (*checks.per_card(), *fonts, *identity.diagnostics)
        if _must_stop(_for_formats((*collection.diagnostics, *found), config), strict):
            # Every problem in one run: the duplicates too, though they cannot stop a build.
            problems = (*found, *checks.duplicates())
            cache.stage(SEARCH_STATE, checks.state)  # removed with what the build made
            raise ContentError(_checked(identity.cards, collection, problems, config).diagnostics)
        refuse_mass_orphan(identity, config.lock_path, config.allow_mass_orphan)
        kept = resident.exported if resident else None
        data = BuildData(identity.cards, config, identity.note_type.mod, cache.fragment, kept)
        # Every output written, then all at once; a watch does not wait for the old ones'
        # blocks to be freed.
        with Outputs(config.out, remove_later=resident is not None) as outputs:
            for fmt in sorted(config.formats, key=lambda f: f not in _STARTED_FIRST):
                progress(fmt, 0, 1)
                exporter(fmt)(data, outputs)
                progress(fmt, 1, 1)
            diagnostics = _checked(
                identity.cards, collection, (*found, *checks.duplicates()), config
            ).diagnostics
            cache.stage(SEARCH_STATE, checks.state)
            if _must_stop(diagnostics, strict):
                raise ContentError(diagnostics)
            packaged = "apkg" in config.formats
            last = last_package(config) if packaged else None
            report = make_report(
                identity, data.skipped, config.aliases, packaged=packaged, last=last
            )
            if packaged:
                memo = package_memo(config, data.notes, last, identity.orphans)
                cache.stage(LAST_PACKAGE, memo)
            with outputs.open(REPORT_NAME) as out:
                text = json.dumps(report.as_json(), ensure_ascii=False, indent=1, sort_keys=True)
                out.write((text + "\n").encode("utf-8"))
            rows = resident.lock_rows if resident else None
            lock = lock_text(identity.lock_file, rows).encode("utf-8")  # while the package zips
            outputs.wait()  # every output whole before the lock records its ids
            refuse_changed_lock(config.lock_path, identity)
            # The lock first: an id may be recorded and never shipped, never the reverse.
            write_lock_bytes(config.lock_path, lock)
            if resident is not None:
                new_lock = identity.lock_file
                resident.lock, resident.matches.lock = (lock, new_lock), new_lock
            written = _in_order(outputs.commit(), config.formats)
            cache.save()  # with the outputs: a failed build writes nothing
    return BuildResult(written, report, diagnostics, _left_over(config.out, written))
