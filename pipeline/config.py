"""One frozen configuration, merged in one place: defaults, then the config file, then flags."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, get_type_hints

from .errors import ConfigError, FileProblem
from .shapes import structure_problems

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
    question_level: int = 0
    """Heading level (1-6) whose headings are the questions, numbered or not; 0 = detect."""
    question_style: str = "auto"
    """What opens a question: ``auto`` (detect), ``heading``, ``list``, ``bold`` or ``qa``."""
    question_pattern: str = ""
    """A regular expression: a heading or paragraph whose text it matches at the start is a
    question, the match removed ("" = none)."""
    workers: int = 0
    """Worker processes for parsing and PDF conversion; 0 = one per core (none for small inputs)."""
    allow_mass_orphan: bool = False
    """Build even when most questions of the lock file would be orphaned (see ``safeguards``)."""
    cache: bool = True
    """Reuse the compiled records of unchanged note files (``.cardsmith-cache/`` beside ``out``)."""

    @property
    def lock_path(self) -> Path:
        return self.content / LOCK_NAME


# Config file keys -> Config field; a table keeps unknown keys easy to reject.
_FILE_KEYS = {
    "formats": "formats",
    "root_deck": "root_deck",
    "titles": "titles",
    "default_language": "default_language",
    "include_unanswered": "include_unanswered",
    "aliases": "aliases",
    "package_name": "package_name",
    "question_level": "question_level",
    "question_style": "question_style",
    "question_pattern": "question_pattern",
    "pdf.columns": "columns",
    "pdf.paper": "paper",
    "pdf.title": "pdf_title",
    "pdf.todo": "pdf_todo",
    "pdf.fonts": "fonts",
    "pdf.mono_fonts": "mono_fonts",
}
_TABLES = {key.rsplit(".", 1)[0] for key in _FILE_KEYS if "." in key}
_TUPLE_FIELDS = {"formats", "fonts", "mono_fonts", "pdf_decks", "pdf_tags"}


def _is_strings(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, list) and all(isinstance(x, str) for x in value)
    )


def _is_string_table(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(x, str) for x in value.values())


#: Field type (as annotated on :class:`Config`) -> (accepts a value read from TOML, what
#: the message says was expected). A new field type is one entry.
_TYPES: dict[Any, tuple[Callable[[Any], bool], str]] = {
    str: (lambda v: isinstance(v, str), "a string"),
    bool: (lambda v: isinstance(v, bool), "true or false"),
    int: (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    tuple[str, ...]: (_is_strings, "a string or a list of strings"),
    Mapping[str, str]: (_is_string_table, "a table of strings"),
}

#: TOML value type -> its name in messages (bool first: it is also an int).
_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a number"),
    (str, "a string"),
    (list, "an array"),
    (dict, "a table"),
)


def _describe(value: Any) -> str:
    kind = next((name for t, name in _TOML_TYPES if isinstance(value, t)), type(value).__name__)
    return kind if isinstance(value, (list, dict)) else f"{value!r} ({kind})"


#: What TOML's terse messages mean in a settings file (Python's ``tomllib`` words them).
_TOML_HINTS = (
    ("Cannot overwrite a value", ": a key is set twice (or a table's name is a key's too)"),
    ("Cannot declare", ": a table is declared twice"),
)


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        # Only a known table ([pdf]) is opened; any other table is a value to type-check.
        if isinstance(value, dict) and name in _TABLES:
            flat.update(_flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def read_config_file(path: Path) -> dict[str, Any]:
    """Config values from a ``cardsmith.toml``, each checked against its field's type.

    Raises :class:`ConfigError` naming the file and the key: an unknown key, a value of the
    wrong type (``root_deck = 5``, ``titles = "x"``), a file that is not TOML or not UTF-8,
    or one that cannot be read.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}  # no file; or no content folder, which discovery reports
    except OSError as exc:
        raise ConfigError(str(FileProblem("read", path, exc))) from exc
    except tomllib.TOMLDecodeError as exc:
        hint = next((h for start, h in _TOML_HINTS if str(exc).startswith(start)), "")
        raise ConfigError(f"{path}: {exc}{hint}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    hints = get_type_hints(Config)
    values: dict[str, Any] = {}
    for key, value in _flatten(data).items():
        if key not in _FILE_KEYS:
            known = ", ".join(sorted(_FILE_KEYS))
            raise ConfigError(f"{path}: unknown key '{key}' (known keys: {known})")
        name = _FILE_KEYS[key]
        accepts, expected = _TYPES[hints[name]]
        if isinstance(value, dict):
            _refuse_settings_inside(path, key, value)
        if not accepts(value):
            table = hints[name] == Mapping[str, str]
            raise ConfigError(f"{path}: {_wrong(key, value, expected, table)}")
        values[name] = value
    return values


def _refuse_settings_inside(path: Path, table: str, value: Mapping[str, Any]) -> None:
    """:class:`ConfigError` when a table (``[aliases]``) holds a key that is a setting: TOML
    puts every key below a ``[table]`` header into that table, so ``root_deck = "x"``
    written at the end of the file became an alias (found by the eleventh trial)."""
    misplaced = [k for k in value if k in _FILE_KEYS]
    if misplaced:
        raise ConfigError(
            f"{path}: '{misplaced[0]}' is inside the table [{table}]: TOML puts every key "
            f"below a [table] header into that table; move '{misplaced[0]}' above '[{table}]'"
        )


def _wrong(key: str, value: Any, expected: str, table: bool) -> str:
    """Why ``value`` is no value of ``key``: for a ``table`` of strings, its first entry
    that is not one."""
    if table and isinstance(value, dict):
        entry = next((k for k, v in value.items() if not isinstance(v, str)), None)
        if entry is not None:
            inner = json.dumps(entry, ensure_ascii=False)
            return f"'{key}.{inner}' must be a string, not {_describe(value[entry])}"
    return f"'{key}' must be {expected}, not {_describe(value)}"


#: Names Anki treats as a whole collection to restore, not a deck to add (Anki's importer).
_RESTORE_NAMES = re.compile(r"^(collection|backup-.*)$")


def _validated(config: Config, source: str) -> Config:
    """``config`` when every value is in range; else :class:`ConfigError` naming ``source``."""
    unknown = [f for f in config.formats if f not in FORMATS]
    problems = []
    if unknown:
        problems.append(f"unknown format {', '.join(unknown)} (choose from {', '.join(FORMATS)})")
    if not config.formats:
        problems.append(f"formats must name at least one of {', '.join(FORMATS)}")
    if config.default_language:
        from .highlight import did_you_mean, known_language

        if not known_language(config.default_language):
            # It was taken, and every fence without a language said "detected as" it.
            problems.append(
                f"default_language {config.default_language!r} is no language the "
                f"highlighter knows{did_you_mean(config.default_language)}"
            )
    if config.columns not in (1, 2):
        problems.append(f"pdf columns must be 1 or 2, not {config.columns}")
    if config.paper not in ("a4", "us-letter"):
        problems.append(f"paper must be 'a4' or 'us-letter', not {config.paper!r}")
    for name in ("fonts", "mono_fonts"):
        if not getattr(config, name):
            problems.append(f"pdf {name} must name at least one font")
    if any(not part.strip() for part in config.root_deck.split("::")) and config.root_deck.strip():
        problems.append(f"root_deck {config.root_deck!r} has an empty deck name between '::'")
    if not config.root_deck.strip():
        problems.append("root_deck must not be empty")
    if not config.package_name.strip():
        problems.append("package_name must not be empty")
    elif _RESTORE_NAMES.match(config.package_name):
        problems.append(
            f"package_name {config.package_name!r} would make Anki replace the whole collection"
        )
    # An empty title made the deck "Cardsmith::" and the tag "file::" (the eleventh trial).
    problems.extend(
        f"the title of {path!r} must not be empty"
        for path, t in config.titles.items()
        if not t.strip()
    )
    if any(ch in config.package_name for ch in "/\\"):
        problems.append(f"package_name {config.package_name!r} must be a file name, not a path")
    problems.extend(
        structure_problems(config.question_level, config.question_style, config.question_pattern)
    )
    if problems:
        raise ConfigError(f"{source}: " + "; ".join(problems))
    return config


def load_config(content: Path | None = None, **flags: Any) -> Config:
    """Defaults, then ``<content>/cardsmith.toml``, then the flags that are not None.

    Raises :class:`ConfigError` naming the file (or the option) and the key on any wrong
    type, range or unknown key.
    """
    base = Config() if content is None else Config(content=Path(content))
    config_path = base.content / CONFIG_NAME
    from_file = read_config_file(config_path)
    given = {k: v for k, v in flags.items() if v is not None and v != ()}
    names = {f.name for f in fields(Config)}
    for key in given:
        if key not in names:
            raise ConfigError(f"unknown option {key}")
    merged: dict[str, Any] = {**from_file, **given}
    for key in _TUPLE_FIELDS & merged.keys():
        value = merged[key]
        # Each once, in the order given: "--format json --format json" wrote cards.json
        # twice and stopped with an internal error (the eleventh trial).
        merged[key] = (value,) if isinstance(value, str) else tuple(dict.fromkeys(value))
    for key in ("out", "content"):
        if key in merged:
            merged[key] = Path(merged[key])
    source = f"{config_path}" if from_file else "options"
    return _validated(replace(base, **merged), source)
