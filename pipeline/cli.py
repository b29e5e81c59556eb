"""The ``cardsmith`` command: parses arguments, calls the library, turns its errors into exit codes.

Exit codes: 0 success (warnings allowed), 1 content errors (or warnings with ``--strict``),
2 usage or environment problems, 3 an internal error (a bug of cardsmith's: one line says
where its traceback was saved), 141 the reader of its output left (``| head``).
Diagnostics of ``check`` go to stdout, like a linter's; progress and the build's messages
go to stderr.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .build import build as run_build
from .build import check as run_check
from .config import FORMATS, load_config
from .errors import (
    CardsmithError,
    ConfigError,
    ContentError,
    Diagnostic,
    EnvironmentProblem,
    ExportCheckError,
    one_line,
)
from .interrupts import raise_if_stopping, stop_note, stopped_by_signals
from .report import questions

if TYPE_CHECKING:
    from .preview import Preview
    from .watch import Outcome, Session

EXIT_OK, EXIT_CONTENT, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
#: The reader of the output left (128 + SIGPIPE, as a shell reports a program it stopped).
EXIT_PIPE = 141

#: Library error -> exit code; the first class that matches wins.
EXIT_CODES: tuple[tuple[type[CardsmithError], int], ...] = (
    (ContentError, EXIT_CONTENT),
    (ExportCheckError, EXIT_INTERNAL),  # an output failed its self-check: our bug
    (CardsmithError, EXIT_USAGE),
)

F = TypeVar("F", bound=Callable[..., None])


def _utf8_streams() -> None:
    # Chinese must print whatever the locale (a C or cp1252 locale would raise on it).
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(encoding="utf-8", errors="replace")


def _located(diagnostics: Iterable[Diagnostic], content: Path) -> list[Diagnostic]:
    """Diagnostics with paths as the person typed them (``content/nlp.md``), for editors."""

    def where(path: str) -> str:
        return (content / path).as_posix()

    return [
        replace(d, path=where(d.path), related=d.related and (where(d.related[0]), d.related[1]))
        for d in diagnostics
    ]


#: Characters that drive a terminal (C0 and C1 controls but the tab and the newline): a note
#: holding ESC ] 0 ; … BEL retitled the window the diagnostic that quoted it was read in
#: (the eleventh trial), so each is printed as its escape, ``\x1b``.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _echo(text: str, err: bool = False) -> None:
    """``click.echo`` of text that may quote the notes: their control characters shown as
    escapes, never sent to the terminal."""
    click.echo(_CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text), err=err)


def _print_diagnostics(diagnostics: Iterable[Diagnostic], err: bool = True) -> None:
    for d in diagnostics:
        _echo(str(d), err=err)


def _unplugged() -> None:
    """Standard output and error sent to the null device, once their reader is gone."""
    null = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # no file behind it (a test's runner)
            os.dup2(null, stream.fileno())
    os.close(null)


def _collection_file(path: Path | None) -> Path | None:
    """``--collection`` as given, when it is no folder. A profile's folder is named with
    the file it holds (click said only "is a directory": the twenty-fourth trial)."""
    if path is None or not path.is_dir():
        return path
    inside = path / "collection.anki2"
    hint = f": give {inside}" if inside.is_file() else " (a profile's collection.anki2)"
    raise click.BadParameter(f"{path} is a folder, not a collection file{hint}")


def _saved(exc: BaseException) -> str:
    """Where the traceback of an internal error went, in words for its one line."""
    try:
        return f"the traceback is in {_crash_report(exc)}"
    except OSError:
        return "the traceback could not be saved"


def _crash_report(exc: BaseException) -> str:
    """Save the traceback of an unexpected exception; the file's path."""
    fd, path = tempfile.mkstemp(prefix="cardsmith-crash-", suffix=".txt")
    with open(fd, "w", encoding="utf-8") as out:
        out.write("".join(traceback.format_exception(exc)))
    return path


def translated(command: F) -> F:
    """Run a command, turning every exception into one line on stderr and an exit code.

    A :class:`ContentError` has printed its diagnostics already (the command catches it);
    other library errors print their message; anything else is a bug of ours: exit 3,
    with the traceback saved to a file rather than dumped on the person.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> None:
        try:
            command(*args, **kwargs)
        except CardsmithError as exc:
            raise_if_stopping()
            code = next(code for kind, code in EXIT_CODES if isinstance(exc, kind))
            if code == EXIT_INTERNAL:  # an output failed its self-check: saved like any bug
                _echo(f"cardsmith: internal error: {exc} ({_saved(exc)})", err=True)
            elif not isinstance(exc, ContentError):
                _echo(f"cardsmith: error: {exc}", err=True)
            raise click.exceptions.Exit(code) from exc
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:
            # Whoever read the output left (``cardsmith check | head``): nothing more to say,
            # and Python must not fail again writing to it as it exits (the twenty-fourth
            # trial: exit 3 and a crash report).
            _unplugged()
            raise click.exceptions.Exit(EXIT_PIPE) from None
        except Exception as exc:
            raise_if_stopping()  # a worker ended by Ctrl-C is no bug of ours
            _echo(
                f"cardsmith: internal error: {type(exc).__name__}: {exc} "
                f"(a bug in cardsmith, not in your notes; {_saved(exc)})",
                err=True,
            )
            raise click.exceptions.Exit(EXIT_INTERNAL) from exc

    return run  # type: ignore[return-value]


def _counts(diagnostics: tuple[Diagnostic, ...]) -> str:
    errors = sum(1 for d in diagnostics if d.severity == "error")
    return f"{errors} error(s), {len(diagnostics) - errors} warning(s)"


class _Progress:
    """Progress on stderr: a bar on a terminal, one line per stage otherwise."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self.stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.quiet:
            return
        if stage != self.stage:
            self.stage = stage
            if not self.tty:
                click.echo(f"{stage}…", err=True)
        if self.tty:
            end = "\n" if done == total else ""
            click.echo(f"\r{stage}: {done}/{total}", err=True, nl=False)
            if end:
                click.echo("", err=True)


def _folder(_ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    # Path("") is Path("."): an empty --out would write into the current folder.
    if value == "":
        raise click.BadParameter("must not be empty", param=param)
    return None if value is None else Path(value)


content_option = click.option(
    "--content",
    type=click.Path(),
    callback=_folder,
    default=None,
    help="Folder of the Markdown notes (default: content).",
)


no_cache_option = click.option(
    "--no-cache",
    "cache",
    flag_value=False,
    default=None,
    help="Compile every note file again (ignore and keep .cardsmith-cache/ as it is).",
)


def output_options(command: F) -> F:
    """``--out``, ``--format`` and ``--strict``, the same for ``build`` and ``watch``."""
    for option in reversed(
        (
            click.option(
                "--out",
                type=click.Path(),
                callback=_folder,
                default=None,
                help="Output folder (default: build).",
            ),
            click.option(
                "--format",
                "formats",
                type=click.Choice(list(FORMATS)),
                multiple=True,
                help="Output to write; repeat for several (default: all).",
            ),
            click.option("--strict", is_flag=True, help="Fail on warnings too."),
        )
    ):
        command = option(command)
    return command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardsmith")
def cli() -> None:
    """Build Anki decks, a PDF cheat sheet and JSON records from Markdown interview notes.

    \b
    Examples:
      cardsmith init my-notes && cd my-notes
      cardsmith check
      cardsmith build
    """
    _utf8_streams()


@cli.command()
@content_option
@click.option("--strict", is_flag=True, help="Treat warnings as errors (exit 1).")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    help="How to print the diagnostics.",
)
@translated
def check(content: Path | None, strict: bool, fmt: str) -> None:
    """Check the notes and print every problem as path:line: severity: message.

    The problems and a one-line summary go to standard output, so
    `cardsmith check > problems.txt` keeps them. Exit code 1 when there are
    errors (or warnings, with --strict).

    \b
    Examples:
      cardsmith check
      cardsmith check --content notes --strict
      cardsmith check --format json > problems.json   # for editors: one record a problem
    """
    config = load_config(content)
    if "pdf" in config.formats:
        from .export.pdf import check_fonts

        check_fonts(config)  # a font the PDF names but no one installed: exit 2, as a build
    result = run_check(config)
    diagnostics = tuple(_located(result.collection.diagnostics, config.content))
    if fmt == "json":
        click.echo(json.dumps([d.as_json() for d in diagnostics], ensure_ascii=False, indent=1))
    else:
        _print_diagnostics(diagnostics, err=False)
        cards = result.collection.cards
        answered = sum(1 for c in cards if c.answered)
        _echo(f"{questions(len(cards))} ({answered} answered): {_counts(diagnostics)}")
    failed = any(d.severity == "error" for d in diagnostics) or (strict and diagnostics)
    raise click.exceptions.Exit(EXIT_CONTENT if failed else EXIT_OK)


@cli.command()
@content_option
@output_options
@click.option(
    "--include-unanswered",
    is_flag=True,
    default=None,
    help="Make cards for questions without an answer.",
)
@click.option("--columns", type=click.IntRange(1, 2), default=None, help="PDF columns (default 2).")
@click.option(
    "--paper",
    type=click.Choice(["a4", "us-letter"]),
    default=None,
    help="PDF paper size (default a4).",
)
@click.option(
    "--deck",
    "pdf_decks",
    multiple=True,
    help="PDF: only this deck and its subdecks (repeatable), e.g. 面试题::NLP.",
)
@click.option(
    "--tag", "pdf_tags", multiple=True, help="PDF: only cards with this tag (repeatable)."
)
@click.option(
    "--no-todo",
    "pdf_todo",
    flag_value=False,
    default=None,
    help="PDF: leave out the page of unanswered questions.",
)
@click.option(
    "--allow-mass-orphan",
    is_flag=True,
    default=None,
    help="Build even if most questions of the lock file would be orphaned (all notes gone).",
)
@click.option(
    "-q", "--quiet", is_flag=True, help="No progress, no summary (problems are still printed)."
)
@no_cache_option
@translated
def build(content: Path | None, quiet: bool, strict: bool, **options: Any) -> None:
    """Build the outputs (cards.json, the .apkg, the PDF) into the output folder.

    A build with errors writes nothing; the outputs appear together only when
    every exporter and every check has succeeded.

    \b
    Examples:
      cardsmith build
      cardsmith build --content notes --out out --format apkg
      cardsmith build --format pdf --deck Cardsmith::python --columns 1
    """
    config = load_config(content, **options)
    try:
        result = run_build(config, _Progress(quiet), strict=strict)
    except ContentError as exc:
        _print_diagnostics(_located(exc.diagnostics, config.content))
        _echo(f"build failed: {_counts(exc.diagnostics)}; nothing was written", err=True)
        raise
    _print_diagnostics(_located(result.diagnostics, config.content))
    if not quiet:
        for line in result.report.summary_lines():
            _echo(line, err=True)
        for path in result.files:
            _echo(f"wrote {path}", err=True)
        for path in result.left:
            _echo(f"note: {path} is an earlier build's, not this one's", err=True)


def main() -> None:
    """Console entry point."""
    # A command that ends the process keeps what it made to the end: the library pauses
    # the cycle collector while it works and turns it back on as it returns, and the first
    # collection then walked every object the command made (12 ms of a 10k re-sync, before
    # its report). Off, it stays off; a long-running command (watch, preview) turns it on.
    gc.disable()
    try:
        with stopped_by_signals():  # Ctrl-C, SIGTERM: one line, exit 130 / 143
            cli(prog_name="cardsmith")
    finally:
        # The process ends now: Python's last garbage collection, as it exits, would walk
        # every object left (0.03-0.04 s of a 10k re-sync's 1.1 s); frozen, they are not.
        gc.freeze()


# --- init ---------------------------------------------------------------------------------


@cli.command()
@click.argument("folder", required=False, default=".", type=click.Path(path_type=Path))
@translated
def init(folder: Path) -> None:
    """Start a notes folder: settings, two example notes, a .gitignore and a README.

    FOLDER (default: the current folder) is created if missing. The notes go into its
    content/ folder, so check and build need no flag there. Nothing is ever overwritten:
    a README.md already there is kept; if another of the files exists, init names it,
    writes nothing and exits with 2.

    \b
    Examples:
      cardsmith init my-notes
      cd my-notes && cardsmith build
    """
    from .init import init as run_init  # each command loads what only it needs
    from .init import next_steps

    written = run_init(folder)
    for path in written:
        _echo(f"created {path}")
    for line in next_steps(folder):
        _echo(line)


# --- sync (issue 13): self-contained, so it merges beside the other commands ------------------


@cli.command()
@content_option
@click.option(
    "--collection",
    type=click.Path(path_type=Path),
    default=None,
    callback=lambda _ctx, _param, value: _collection_file(value),
    help="The Anki collection file (collection.anki2 of a profile); Anki must be closed.",
)
@click.option(
    "--ankiconnect",
    "url",
    is_flag=False,
    flag_value="http://127.0.0.1:8765",
    default=None,
    metavar="[URL]",
    help="Sync the running Anki through AnkiConnect (default http://127.0.0.1:8765).",
)
@click.option("--dry-run", is_flag=True, help="Print the plan; write nothing.")
@click.option(
    "--delete-orphans",
    is_flag=True,
    help="Delete the notes of deleted questions, and with their cards the schedule of their "
    "reviews (Anki's statistics keep the review log).",
)
@click.option("--force", is_flag=True, help="Overwrite notes edited in Anki since the last sync.")
@click.option(
    "--allow-mass-orphan",
    is_flag=True,
    help="Sync even if most questions of the lock file would be orphaned (all notes gone).",
)
@translated
def sync(
    content: Path | None,
    collection: Path | None,
    url: str | None,
    dry_run: bool,
    delete_orphans: bool,
    force: bool,
    allow_mass_orphan: bool,
) -> None:
    """Apply the notes to Anki: add, update, move, orphan; review history kept.

    Give the collection file (Anki closed) or, with Anki running, its AnkiConnect
    address. Notes edited in Anki since the last sync are listed as conflicts and
    left alone unless --force. Like build, a sync that would orphan most questions
    (a wrong --content, a half checkout) is refused unless --allow-mass-orphan.

    \b
    Examples:
      cardsmith sync --collection ~/.local/share/Anki2/User\\ 1/collection.anki2 --dry-run
      cardsmith sync --collection collection.anki2
      cardsmith sync --ankiconnect
    """
    if (collection is None) == (url is None):
        both = "not both" if collection is not None else "one of them"
        _echo(
            f"cardsmith: error: give --collection PATH or --ankiconnect [URL] ({both})",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_USAGE)
    config = load_config(content, allow_mass_orphan=allow_mass_orphan or None)
    try:
        if url is not None:
            from .ankiconnect import sync as sync_running

            result = sync_running(
                config, url, dry_run=dry_run, delete_orphans=delete_orphans, force=force
            )
        else:
            from .sync import sync as sync_file

            assert collection is not None  # one of the two, checked above
            result = sync_file(
                config, collection, dry_run=dry_run, delete_orphans=delete_orphans, force=force
            )
    except ContentError as exc:
        _print_diagnostics(_located(exc.diagnostics, config.content))
        _echo(f"sync failed: {_counts(exc.diagnostics)}; nothing was written", err=True)
        raise
    # A stop while the report is printed cuts only the report (the thirtieth trial: the
    # one line said nothing of a sync carried out in full).
    from .sync import CARRIED_OUT  # imported by either way of syncing

    cut = "a dry run writes nothing" if dry_run else f"{CARRIED_OUT}; only its report was cut short"
    with stop_note(cut):
        _print_diagnostics(_located(result.diagnostics, config.content))
        for line in result.lines():
            _echo(line, err=True)
        if dry_run:
            _echo("dry run: nothing was written", err=True)
        else:
            _echo(result.plan.done_line(), err=True)


@cli.command()
@content_option
@click.option(
    "--forget",
    "forget",
    multiple=True,
    metavar="ID",
    help="Drop this orphan from the lock file (repeatable); its Anki note is not touched.",
)
@translated
def orphans(content: Path | None, forget: tuple[str, ...]) -> None:
    """List the orphans: deleted questions and removed answers, kept until resolved.

    \b
    Examples:
      cardsmith orphans
      cardsmith orphans --forget csu7ws4UBf3T
    """
    from .identity import forget_orphans, load_lock, write_lock
    from .report import orphan_listing

    config = load_config(content)
    if forget:
        before = load_lock(config.lock_path)
        lock, unknown = forget_orphans(before, forget)
        if unknown:
            raise ConfigError(f"not orphans in the lock file: {', '.join(unknown)}")
        write_lock(config.lock_path, lock)
        for entry in before.orphans:
            if entry.id in forget:  # said, as the orphans left are listed below
                _echo(f"forgot {entry.id}  {one_line(entry.question, 40)} ({entry.path})")
    result = run_check(config)
    for line in orphan_listing(result.identity, config.aliases):
        _echo(line)


# --- watch --------------------------------------------------------------------------------


def _watch_line(outcome: Outcome, changed: str) -> str:
    stamp = time.strftime("%H:%M:%S")
    return f"[{stamp}] {changed}{outcome.summary} ({outcome.seconds:.2f} s)"


def _print_outcome(outcome: Outcome, content: Path, changed: str = "") -> None:
    for d in _located(outcome.new, content):
        _echo(str(d))
    from .watch import SETTINGS_UNREAD

    for d in _located(outcome.fixed, content):  # a settings problem has no line to point at
        _echo(f"fixed: {d.message}" if d.code == SETTINGS_UNREAD else f"fixed: {d}")
    _echo(_watch_line(outcome, changed))


#: What a build reads besides whatever still exists: a deleted note or image is named too.
_READ_SUFFIXES = frozenset({".md", ".toml", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".svg"})


def _changed_names(paths: set[str], content: Path) -> str:
    """The saved files, as the line's prefix; an editor's scratch files that are gone again
    (``sed -i``'s, vim's ``4913``) are left out."""
    root = content.resolve()
    names = sorted(
        Path(p).relative_to(root).as_posix() if Path(p).is_relative_to(root) else p
        for p in paths
        if Path(p).suffix.lower() in _READ_SUFFIXES or Path(p).exists()
    )
    if not names:
        return ""
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return f"{shown}: "


@cli.command()
@content_option
@output_options
@no_cache_option
@translated
def watch(content: Path | None, strict: bool, **options: Any) -> None:
    """Build, then build again whenever a note, an image or the settings are saved.

    Each build prints only what changed: the problems it found that the build before
    did not have, those it no longer finds ("fixed:"), and a one-line summary. A file
    saved half-written or broken is reported, the previous outputs are kept, and the
    watch goes on. Ctrl-C stops it (exit code 130, as for every command).

    \b
    Examples:
      cardsmith watch
      cardsmith watch --content notes --format json --format apkg
    """
    gc.enable()  # between builds, the cycles a build left are collected
    from .watch import Saves, Session

    session = Session(content, options, strict)
    config = load_config(content, **options)  # a wrong setting stops here, with exit 2
    folder = config.content
    if not folder.is_dir():
        raise EnvironmentProblem(
            f"content folder '{folder}' does not exist (run cardsmith in the folder that "
            "holds it, or give the notes folder with --content)"
        )
    with session, Saves(folder, config.out) as saves:  # watching before the first build
        _echo(f"watching {folder}/ (Ctrl-C to stop)")
        _print_outcome(_guarded(session), folder)
        for changed in saves:
            news = session.news(changed)  # not the lock as its last build wrote it
            if news:
                _print_outcome(_guarded(session), folder, _changed_names(news, folder))


def _bug(exc: Exception) -> str:
    """One line on an unexpected exception, its traceback saved, as ``translated`` says it."""
    return f"internal error: {type(exc).__name__}: {exc} (a bug in cardsmith; {_saved(exc)})"


def _guarded(session: Session) -> Outcome:
    """A rebuild; a bug of ours is reported, and the watch goes on waiting for saves."""
    from .watch import Outcome

    try:
        return session.rebuild()
    except Exception as exc:
        return Outcome(False, _bug(exc))


# --- preview ------------------------------------------------------------------------------


@cli.command()
@content_option
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    help="Port on 127.0.0.1 (default: a free one, printed).",
)
@no_cache_option
@translated
def preview(content: Path | None, port: int, **options: Any) -> None:
    """Show every card as Anki will, on a local web page that follows your saves.

    The page (on 127.0.0.1 only; its address is printed) shows each card's front and
    back with the note type's own templates and CSS, math rendered by MathJax as in
    Anki, and each card's problems beside it. It has a search box, a night switch and
    a phone-width view, and it shows a saved note again by itself: no reload needed.
    Nothing is written but the cache. Ctrl-C stops it (exit code 130, as for every command).

    \b
    Examples:
      cardsmith preview
      cardsmith preview --content notes --port 8000
    """
    gc.enable()  # between builds, the cycles a build left are collected
    from .preview import Preview, serve
    from .watch import Saves

    config = load_config(content, **options)  # a wrong setting stops here, with exit 2
    if not config.content.is_dir():
        raise EnvironmentProblem(
            f"content folder '{config.content}' does not exist (run cardsmith in the folder "
            "that holds it, or give the notes folder with --content)"
        )
    page = Preview(content, options)
    try:  # the port first: a taken one is said at once, not after compiling every note
        server = serve(page, port)
    except OSError as exc:
        raise EnvironmentProblem(f"cannot listen on 127.0.0.1:{port}: {exc}") from exc
    with Saves(config.content, config.out) as saves:  # watching before the first build
        _echo(f"preview at http://127.0.0.1:{server.server_port}/ (Ctrl-C to stop)")
        _echo(_preview_line(page))  # until then the page says "building…"
        try:
            for changed in saves:
                _echo(_preview_line(page, _changed_names(changed, config.content)))
        finally:
            server.shutdown()
            server.server_close()
            page.close()


def _preview_line(page: Preview, changed: str = "") -> str:
    """Refresh the page; one line saying what it shows (a bug of ours is reported, not fatal)."""
    stamp = time.strftime("%H:%M:%S")
    try:
        return f"[{stamp}] {changed}{page.refresh()}"
    except Exception as exc:
        return f"[{stamp}] {changed}{_bug(exc)}"
