"""Per-language syntax checks for code blocks: parse only, never execute."""

from __future__ import annotations

import ast
import json
import re
import warnings
from collections.abc import Callable

#: A check returns ``(line within the block, 1-based; message)`` or None when the code parses.
Check = Callable[[str], "tuple[int, str] | None"]


def _python(code: str) -> tuple[int, str] | None:
    if _SESSION.match(code):
        # An interactive session fenced as ```python (common in notes): its prompts are no
        # syntax error (every one was reported: the twelfth trial).
        return _pycon(code)
    return _python_source(code)


def _python_source(code: str) -> tuple[int, str] | None:
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


def _ipython(code: str) -> tuple[int, str] | None:
    # Magics (%timeit, %%time) and shell escapes (!pip) are IPython, not Python: blanked,
    # so the lines keep their numbers.
    return _python(_MAGIC.sub("", code))


_MAGIC = re.compile(r"^[ \t]*[%!].*$", re.MULTILINE)
_PROMPT = re.compile(r"^(>>> |\.\.\. |>>>$|\.\.\.$)")
#: A block whose first line with text is a ``>>>`` prompt: a session, whatever its fence says.
_SESSION = re.compile(r"\s*>>>( |$)")


def _pycon(code: str) -> tuple[int, str] | None:
    # An interactive session: the code is what follows the prompts; the rest is output.
    # Each statement (a >>> line and its ... lines) is checked on its own.
    lines = code.split("\n")
    start = None
    for i, line in enumerate([*lines, ">>> "]):
        prompt = _PROMPT.match(line)
        if start is not None and not (prompt and prompt.group().startswith("...")):
            source = "\n".join(_PROMPT.sub("", ln) for ln in lines[start:i])
            problem = _python_source(source)
            if problem:
                return start + problem[0], problem[1]
            start = None
        if prompt and prompt.group().startswith(">>>"):
            start = i
    return None


#: Language (as normalised by :func:`normalise`) -> syntax check. A new language is one entry.
CHECKS: dict[str, Check] = {
    "python": _python,
    "ipython": _ipython,
    "pycon": _pycon,
    "json": _json,
}

_ALIASES = {
    "py": "python",
    "python3": "python",
    "py3": "python",
    "jsonc": "json",
    "ipython3": "ipython",
    "jupyter": "ipython",
}


def normalise(language: str) -> str:
    """The canonical name of a fence language (``py`` -> ``python``, ``{python}`` -> ``python``)."""
    lang = language.strip().strip("{}").strip().lower()
    lang = lang.split(",", 1)[0].split(" ", 1)[0].lstrip(".")
    return _ALIASES.get(lang, lang)


def check(language: str, code: str) -> tuple[int, str] | None:
    """Syntax-check ``code`` if its language has a checker."""
    checker = CHECKS.get(normalise(language))
    return checker(code) if checker else None
