"""Per-language syntax checks for code blocks: parse only, never execute."""

from __future__ import annotations

import ast
import json
import warnings
from collections.abc import Callable

#: A check returns ``(line within the block, 1-based; message)`` or None when the code parses.
Check = Callable[[str], "tuple[int, str] | None"]


def _python(code: str) -> tuple[int, str] | None:
    try:
        with warnings.catch_warnings():
            # Invalid escapes and the like are warnings, not syntax errors: keep them quiet.
            warnings.simplefilter("ignore")
            # Compiling to bytecode takes half the time of building the AST, and what compiles
            # also parses. What does not compile is asked again of the parser alone, so that
            # a snippet like a bare ``return x`` (a compile error, not a syntax error) passes.
            try:
                compile(code, "<code>", "exec", dont_inherit=True)
                return None
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                ast.parse(code)
    except SyntaxError as exc:
        return (exc.lineno or 1, exc.msg)
    except (ValueError, RecursionError, MemoryError) as exc:
        return (1, str(exc) or type(exc).__name__)
    return None


def _json(code: str) -> tuple[int, str] | None:
    try:
        json.loads(code)
    except json.JSONDecodeError as exc:
        return (exc.lineno, exc.msg)
    return None


#: Language (as normalised by :func:`normalise`) -> syntax check. A new language is one entry.
CHECKS: dict[str, Check] = {
    "python": _python,
    "json": _json,
}

_ALIASES = {"py": "python", "python3": "python", "py3": "python", "jsonc": "json"}


def normalise(language: str) -> str:
    """The canonical name of a fence language (``py`` -> ``python``)."""
    lang = language.strip().lower()
    return _ALIASES.get(lang, lang)


def check(language: str, code: str) -> tuple[int, str] | None:
    """Syntax-check ``code`` if its language has a checker."""
    checker = CHECKS.get(normalise(language))
    return checker(code) if checker else None
