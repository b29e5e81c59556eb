"""The ``cardsmith`` command: parses arguments, calls the library, turns its errors into exit codes.

Exit codes: 0 success (warnings allowed), 1 content errors (or warnings with ``--strict``),
2 usage or environment problems.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from .build import build as run_build
from .build import check as run_check
from .config import FORMATS, load_config
from .errors import CardsmithError, ConfigError, ContentError, Diagnostic, EnvironmentProblem

EXIT_OK, EXIT_CONTENT, EXIT_USAGE = 0, 1, 2


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


def _print_diagnostics(diagnostics: Iterable[Diagnostic]) -> None:
    for d in diagnostics:
        click.echo(str(d), err=True)


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


content_option = click.option(
    "--content",
    type=click.Path(path_type=Path),
    default=None,
    help="Folder of the Markdown notes (default: content).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="cardsmith")
def cli() -> None:
    """Build Anki decks, a PDF cheat sheet and JSON records from Markdown interview notes."""
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
def check(content: Path | None, strict: bool, fmt: str) -> None:
    """Check the notes and print every problem as path:line: severity: message."""
    try:
        config = load_config(content)
        result = run_check(config)
    except (ConfigError, EnvironmentProblem) as exc:
        raise click.exceptions.Exit(_usage_error(exc)) from exc
    diagnostics = tuple(_located(result.collection.diagnostics, config.content))
    if fmt == "json":
        click.echo(json.dumps([d.as_json() for d in diagnostics], ensure_ascii=False, indent=1))
    else:
        _print_diagnostics(diagnostics)
        cards = result.collection.cards
        answered = sum(1 for c in cards if c.answered)
        click.echo(
            f"{len(cards)} questions ({answered} answered): {_counts(diagnostics)}", err=True
        )
    failed = any(d.severity == "error" for d in diagnostics) or (strict and diagnostics)
    raise click.exceptions.Exit(EXIT_CONTENT if failed else EXIT_OK)


def _usage_error(exc: CardsmithError) -> int:
    click.echo(f"cardsmith: error: {exc}", err=True)
    return EXIT_USAGE


@cli.command()
@content_option
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Output folder (default: build)."
)
@click.option(
    "--format",
    "formats",
    type=click.Choice(list(FORMATS)),
    multiple=True,
    help="Output to write; repeat for several (default: all).",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
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
@click.option("-q", "--quiet", is_flag=True, help="No progress, no summary.")
def build(content: Path | None, quiet: bool, strict: bool, **options: Any) -> None:
    """Build the outputs (cards.json, the .apkg, the PDF) into the output folder."""
    try:
        config = load_config(content, **options)
        result = run_build(config, _Progress(quiet), strict=strict)
    except ContentError as exc:
        _print_diagnostics(_located(exc.diagnostics, config.content))
        click.echo(f"build failed: {_counts(exc.diagnostics)}; nothing was written", err=True)
        raise click.exceptions.Exit(EXIT_CONTENT) from exc
    except CardsmithError as exc:
        raise click.exceptions.Exit(_usage_error(exc)) from exc
    _print_diagnostics(_located(result.diagnostics, config.content))
    if not quiet:
        for line in result.report.summary_lines():
            click.echo(line, err=True)
        for path in result.files:
            click.echo(f"wrote {path}", err=True)


def main() -> None:
    """Console entry point."""
    cli(prog_name="cardsmith")


# --- sync (issue 13): self-contained, so it merges beside the other commands ------------------


@cli.command()
@content_option
@click.option(
    "--collection",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
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
    help="Delete the notes of deleted questions, with their reviews.",
)
@click.option("--force", is_flag=True, help="Overwrite notes edited in Anki since the last sync.")
def sync(
    content: Path | None,
    collection: Path | None,
    url: str | None,
    dry_run: bool,
    delete_orphans: bool,
    force: bool,
) -> None:
    """Apply the notes to Anki: add, update, move, orphan; review history kept."""
    if (collection is None) == (url is None):
        click.echo("cardsmith: error: give --collection PATH or --ankiconnect [URL]", err=True)
        raise click.exceptions.Exit(EXIT_USAGE)
    try:
        config = load_config(content)
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
        click.echo(f"sync failed: {_counts(exc.diagnostics)}; nothing was written", err=True)
        raise click.exceptions.Exit(EXIT_CONTENT) from exc
    except CardsmithError as exc:
        raise click.exceptions.Exit(_usage_error(exc)) from exc
    for line in result.lines():
        click.echo(line, err=True)
    if dry_run:
        click.echo("dry run: nothing was written", err=True)
    elif result.plan.empty:
        click.echo("Anki is up to date: nothing was written", err=True)


@cli.command()
@content_option
@click.option(
    "--forget",
    "forget",
    multiple=True,
    metavar="ID",
    help="Drop this orphan from the lock file (repeatable); its Anki note is not touched.",
)
def orphans(content: Path | None, forget: tuple[str, ...]) -> None:
    """List the orphans: deleted questions and removed answers, kept until resolved."""
    from .identity import forget_orphans, load_lock, write_lock
    from .report import orphan_listing

    try:
        config = load_config(content)
        if forget:
            lock, unknown = forget_orphans(load_lock(config.lock_path), forget)
            if unknown:
                raise ConfigError(f"not orphans in the lock file: {', '.join(unknown)}")
            write_lock(config.lock_path, lock)
        result = run_check(config)
    except CardsmithError as exc:
        raise click.exceptions.Exit(_usage_error(exc)) from exc
    for line in orphan_listing(result.identity):
        click.echo(line)
