"""Our exception types and the diagnostic record; every problem carries a source location."""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]

# C0 and C1 controls, DEL and the Unicode line and paragraph separators: each would break a
# one-line message (or move the cursor) if printed as it is.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def shown(path: str | os.PathLike[str]) -> str:
    """A path as printed in a message: unchanged, or JSON-quoted when it holds a control
    character, so that a newline in a file name never splits a diagnostic over two lines."""
    text = os.fspath(path)
    return json.dumps(text, ensure_ascii=False) if _UNPRINTABLE.search(text) else text


def quoted(path: str | os.PathLike[str]) -> str:
    """A path quoted inside a sentence: ``'notes/a.md'``, or ``"a\\nb.md"`` as :func:`shown`."""
    text = shown(path)
    return f"'{text}'" if text == os.fspath(path) else text


def one_line(text: str, width: int | None = None) -> str:
    """``text`` with its line breaks as spaces (its first ``width`` characters): a question
    written over two lines, quoted in a message or in a line of a summary (the plan's, an
    orphan's: the thirty-fourth trial), keeps it one line."""
    return " ".join(text.split("\n"))[:width]


MAX_MESSAGE = 400
"""Characters of a diagnostic's message at most; a longer one is cut with an ellipsis."""


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem found in the content, reported as ``path:line: severity: message``."""

    path: str
    """File the problem is in, relative to the content folder (POSIX separators)."""
    line: int
    """1-based line in that file (0 when the problem concerns the whole file)."""
    severity: Severity
    """``error`` fails the build; ``warning`` fails it only with ``--strict``."""
    message: str
    """What is wrong, in words a person can act on."""
    code: str = ""
    """Short stable name of the check (``missing-image``), for editors and filters."""
    related: tuple[str, int] | None = None
    """Another location the problem involves (the other copy of a duplicate), if any."""

    def __post_init__(self) -> None:
        # A diagnostic is one line, whatever text it quotes (a question written on two lines),
        # and stays readable however long the quoted text is.
        message = one_line(self.message)
        if len(message) > MAX_MESSAGE:
            message = message[: MAX_MESSAGE - 1] + "…"
        if message != self.message:
            object.__setattr__(self, "message", message)

    def __str__(self) -> str:
        also = f" (also at {shown(self.related[0])}:{self.related[1]})" if self.related else ""
        return f"{shown(self.path)}:{self.line}: {self.severity}: {self.message}{also}"

    def as_json(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "related": None
            if self.related is None
            else {"path": self.related[0], "line": self.related[1]},
        }


class CardsmithError(Exception):
    """Base of every error the library raises on purpose."""


class ConfigError(CardsmithError):
    """The configuration (file or options) is invalid; the message names the file and key."""


class ContentError(CardsmithError):
    """The content has errors; the build stopped before writing anything."""

    def __init__(self, diagnostics: tuple[Diagnostic, ...]) -> None:
        self.diagnostics = diagnostics
        errors = sum(1 for d in diagnostics if d.severity == "error")
        super().__init__(f"{errors} error(s) in the content")


class EnvironmentProblem(CardsmithError):
    """Something outside the content is missing (a font, a writable folder)."""


class FileProblem(EnvironmentProblem):
    """A file-system operation failed; the message names the operation and the path."""

    def __init__(self, operation: str, path: str | os.PathLike[str], exc: OSError) -> None:
        self.operation = operation
        self.path = os.fspath(path)
        reason = exc.strerror or str(exc)
        super().__init__(f"cannot {operation} {quoted(path)}: {reason}")


class ExportCheckError(CardsmithError):
    """An output failed its self-check after it was written."""


class WouldOverwrite(CardsmithError):
    """``init`` found files it would write already there; it wrote nothing."""
