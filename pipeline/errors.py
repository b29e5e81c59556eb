"""Our exception types and the diagnostic record; every problem carries a source location."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Severity = Literal["error", "warning"]


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
        # A diagnostic is one line, whatever text it quotes (a question written on two lines).
        if "\n" in self.message:
            object.__setattr__(self, "message", " ".join(self.message.split("\n")))

    def __str__(self) -> str:
        also = f" (also at {self.related[0]}:{self.related[1]})" if self.related else ""
        return f"{self.path}:{self.line}: {self.severity}: {self.message}{also}"

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


class ExportCheckError(CardsmithError):
    """An output failed its self-check after it was written."""


class WouldOverwrite(CardsmithError):
    """``init`` found files it would write already there; it wrote nothing."""
