"""One frozen configuration, merged in one place: defaults, then the config file, then flags."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .errors import ConfigError, FileProblem

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_NAME = "cardsmith.toml"
LOCK_NAME = "cardsmith.lock.json"
FORMATS = ("json", "apkg", "pdf")


@dataclass(frozen=True)
class Config:
    """Everything a build or a check needs to know."""

    content: Path = Path("content")
    """Folder of the Markdown notes (and of the config and lock files)."""
    out: Path = Path("build")
    """Folder the outputs are written to."""
    formats: tuple[str, ...] = FORMATS
    """Outputs to write, from :data:`FORMATS`."""
    root_deck: str = "Cardsmith"
    """Top of the deck path: ``<root>::<file title>::<section>``."""
    titles: Mapping[str, str] = field(default_factory=dict)
    """File (relative path) -> title used in deck names; default: the file name without ``.md``."""
    default_language: str = ""
    """Language of fences written without one; "" means detect it."""
    include_unanswered: bool = False
    """Make cards (and print entries) for questions without an answer."""
    aliases: Mapping[str, str] = field(default_factory=dict)
    """Explicit identity overrides: question text -> id it must keep."""
    package_name: str = "cardsmith"
    """File name of the Anki package, without ``.apkg``."""
    columns: int = 2
    """PDF columns (1 or 2)."""
    paper: str = "a4"
    """PDF paper size: ``a4`` or ``us-letter``."""
    pdf_title: str = "面试题速查"
    """Title on the PDF's first page and in its running header."""
    pdf_todo: bool = True
    """List unanswered questions on a "to answer" page at the end of the PDF."""
    pdf_decks: tuple[str, ...] = ()
    """Print only cards whose deck path is one of these or below it (empty: all)."""
    pdf_tags: tuple[str, ...] = ()
    """Print only cards carrying one of these tags (empty: all)."""
    fonts: tuple[str, ...] = ("Noto Sans CJK SC",)
    """PDF text fonts in fallback order; every character must be covered by one of them."""
    mono_fonts: tuple[str, ...] = ("DejaVu Sans Mono", "Noto Sans Mono CJK SC")
    """PDF code fonts in fallback order (the second covers Chinese comments)."""
    workers: int = 0
    """Worker processes for parsing and PDF conversion; 0 = one per core (none for small inputs)."""
    allow_mass_orphan: bool = False
    """Build even when most questions of the lock file would be orphaned (see ``safeguards``)."""

    @property
    def lock_path(self) -> Path:
        return self.content / LOCK_NAME


# Config file keys -> Config field; a table keeps unknown keys easy to reject.
_FILE_KEYS = {
    "root_deck": "root_deck",
    "titles": "titles",
    "default_language": "default_language",
    "include_unanswered": "include_unanswered",
    "aliases": "aliases",
    "package_name": "package_name",
    "pdf.columns": "columns",
    "pdf.paper": "paper",
    "pdf.title": "pdf_title",
    "pdf.todo": "pdf_todo",
    "pdf.fonts": "fonts",
    "pdf.mono_fonts": "mono_fonts",
}
_TUPLE_FIELDS = {"formats", "fonts", "mono_fonts", "pdf_decks", "pdf_tags"}


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and name not in ("titles", "aliases"):
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    """Config values from a ``cardsmith.toml``; unknown keys are rejected naming the file."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}  # no file; or no content folder, which discovery reports
    except OSError as exc:
        raise ConfigError(str(FileProblem("read", path, exc))) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    values: dict[str, Any] = {}
    for key, value in _flatten(data).items():
        if key not in _FILE_KEYS:
            known = ", ".join(sorted(_FILE_KEYS))
            raise ConfigError(f"{path}: unknown key '{key}' (known keys: {known})")
        values[_FILE_KEYS[key]] = value
    return values


def _validated(config: Config) -> Config:
    unknown = [f for f in config.formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown format {', '.join(unknown)} (choose from {', '.join(FORMATS)})")
    if config.columns not in (1, 2):
        raise ConfigError(f"pdf columns must be 1 or 2, not {config.columns}")
    if config.paper not in ("a4", "us-letter"):
        raise ConfigError(f"paper must be 'a4' or 'us-letter', not {config.paper!r}")
    if not config.root_deck.strip():
        raise ConfigError("root_deck must not be empty")
    return config


def load_config(content: Path | None = None, **flags: Any) -> Config:
    """Defaults, then ``<content>/cardsmith.toml``, then the flags that are not None."""
    base = Config() if content is None else Config(content=Path(content))
    from_file = read_config_file(base.content / CONFIG_NAME)
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    names = {f.name for f in fields(Config)}
    for key in given:
        if key not in names:
            raise ConfigError(f"unknown option {key}")
    merged: dict[str, Any] = {**from_file, **given}
    for key in _TUPLE_FIELDS & merged.keys():
        value = merged[key]
        merged[key] = (value,) if isinstance(value, str) else tuple(value)
    for key in ("out", "content"):
        if key in merged:
            merged[key] = Path(merged[key])
    try:
        return _validated(replace(base, **merged))
    except TypeError as exc:  # pragma: no cover - a wrong type in the file
        raise ConfigError(str(exc)) from exc
