"""All Pygments knowledge: lexers, language detection, the formatter and the stylesheet."""

from __future__ import annotations

import ast
import itertools
import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from markdown_it.common.utils import escapeHtml
from pygments import format as _pygments_format
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.styles import get_style_by_name
from pygments.token import Token
from pygments.util import ClassNotFound

#: CSS class of every highlighted block: ``<pre class="highlight"><code>``.
CSS_CLASS = "highlight"
LIGHT_STYLE = "friendly"
DARK_STYLE = "monokai"

_FORMATTER = HtmlFormatter(nowrap=True, cssclass=CSS_CLASS)
#: Characters of code coloured at most: a longer block is shown plain and not checked.
#: Lexing makes an object a token: a 3.6 MB line of Python took 20 s and 2.4 GB to
#: colour (the twenty-second trial); 100,000 characters take a fraction of a second, and
#: are as much as the PDF prints of one answer (``pdflimits.MAX_ANSWER_CHARS``).
MAX_COLOURED = 100_000


@lru_cache(maxsize=1)
def accelerator() -> Callable[[Lexer], Lexer] | None:
    """:func:`pipeline.fastlex.accelerate`, or None to keep stock Pygments.

    None when ``CARDSMITH_FASTLEX=0`` is set, or when fastlex cannot be imported: it reads
    CPython's private regex parser (``re._parser``), and a Python that changed or dropped
    it must cost speed, never the whole tool.
    """
    if os.environ.get("CARDSMITH_FASTLEX", "1") == "0":
        return None
    try:
        from .fastlex import accelerate
    except Exception:  # any failure of the private API at import means stock Pygments
        return None
    return accelerate


#: Fence languages people write that Pygments does not know by that name -> its name.
LANGUAGE_ALIASES = {
    "ipython": "python",
    "ipython3": "python",
    "jupyter": "python",
    "py3": "python",
    "python3": "python",
    "pycon": "pycon",
    "shell": "bash",
    "zsh": "bash",
}


def fence_language(info: str) -> str:
    """The language of a fence's info string: its first word, or the first name inside the
    braces of R Markdown / Quarto (```` ```{python, echo=FALSE} ```` -> ``python``)."""
    info = info.strip()
    if info.startswith("{"):  # nothing but commas inside ({,}) names none
        names = info.strip("{}").replace(",", " ").split(maxsplit=1)
        return names[0].lstrip(".") if names else ""
    return info.split(maxsplit=1)[0] if info else ""


def lexer_name(language: str) -> str:
    """The Pygments name of a fence language: ``{python}`` (R Markdown, Quarto) and aliases
    such as ``ipython`` or ``jupyter`` resolved."""
    lang = language.strip().strip("{}").strip().lower()
    lang = lang.split(",", 1)[0].split(" ", 1)[0].lstrip(".")  # {python, echo=FALSE}, {.py}
    return LANGUAGE_ALIASES.get(lang, lang)


def known_language(language: str) -> bool:
    """True when Pygments has a lexer for the fence language."""
    return lexer_for(language) is not None


@lru_cache(maxsize=1)
def _all_names() -> tuple[str, ...]:
    from pygments.lexers import get_all_lexers

    names = {alias for _, aliases, _, _ in get_all_lexers() for alias in aliases}
    return tuple(sorted(names | set(LANGUAGE_ALIASES)))


def unknown_language_message(language: str) -> str:
    """The warning for a fence language no lexer knows, with the nearest known names."""
    return (
        f"code fence language '{language}' is unknown: shown as plain text, not checked"
        f"{did_you_mean(language)}"
    )


def did_you_mean(language: str) -> str:
    """``"; did you mean python or python3?"``: the known names nearest an unknown one
    ("" when none is near)."""
    import difflib

    close = difflib.get_close_matches(lexer_name(language), _all_names(), n=3, cutoff=0.75)
    return f"; did you mean {' or '.join(close)}?" if close else ""


@lru_cache(maxsize=128)
def lexer_for(language: str) -> Lexer | None:
    """The cached Pygments lexer for a fence language, or None when Pygments has none.

    Regex lexers get :func:`accelerator`'s loop when it is there: the same tokens, faster.
    """
    if not language:
        return None
    try:
        lexer = get_lexer_by_name(lexer_name(language), stripnl=False, ensurenl=False)
    except ClassNotFound:
        return None
    accelerate = accelerator()
    return accelerate(lexer) if accelerate else lexer


#: A fence's opening (or closing) line from its backticks or tildes on, in a note file's
#: bytes: two literal searches, 4 ms each over 7 MB, where one pattern of both took 20 ms.
_FENCE_INFO = (re.compile(rb"```([^\n]*)"), re.compile(rb"~~~([^\n]*)"))


def warm_lexers(texts: Iterable[bytes], default_language: str = "") -> frozenset[str]:
    """Make the lexers of the fence languages ``texts`` (note files' bytes) may need, so that
    workers forked next inherit them: each would otherwise make its own (Pygments compiles a
    lexer's patterns on first use: 0.06-0.1 s of a worker's first file for Python's, measured
    on a 10k re-sync). An unlabelled fence needs ``default_language`` or the detectors'
    languages. A line that only looks like a fence costs a lookup, never a wrong lexer; only
    the :data:`WARMED` languages fenced most often are made (a name Pygments does not know
    costs 43 us to look up, and notes may name thousands). Returns the languages made."""
    counts: Counter[bytes] = Counter()
    for text in texts:
        for fence in _FENCE_INFO:
            counts.update(fence.findall(text))
    languages: Counter[str] = Counter()
    for info, n in counts.items():
        languages[fence_language(info.decode("utf-8", "replace"))] += n
    unlabelled = languages.pop("", 0)
    if unlabelled:
        for language in [default_language] if default_language else [x for x, _ in DETECTORS]:
            languages[language] += unlabelled
    made = frozenset(language for language, _ in languages.most_common(WARMED))
    for language in made:
        lexer_for(language)
    return made


#: The most languages :func:`warm_lexers` makes.
WARMED = 8


def highlight_html(code: str, language: str) -> str:
    """Highlighted HTML for one code block, ``<pre class="highlight"><code>…</code></pre>``."""
    return highlight(code, language, typst=False)[0]


# --- language detection for unlabelled fences -------------------------------------------

_PYTHON_HINTS = re.compile(
    r"^\s*(import \w|from [\w.]+ import |def \w+\(|class \w+[(:]|print\(|@\w+|"
    r"for \w+.* in .+:|with .+:|if .+:|return\b|async def )",
    re.MULTILINE,
)


def _parses_as_json(code: str) -> bool:
    stripped = code.lstrip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        json.loads(code)
    except ValueError:
        return False
    return True


def _parses_as_python(code: str) -> bool:
    try:
        ast.parse(code)
    except (SyntaxError, ValueError):
        return False
    return True


def _looks_like_python(code: str) -> bool:
    # Broken Python still deserves Python colours and a syntax diagnostic.
    return len(_PYTHON_HINTS.findall(code)) >= 1


#: Detectors tried in order on a fence without a language: the first that says yes wins.
DETECTORS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("json", _parses_as_json),
    ("python", _parses_as_python),
    ("python", _looks_like_python),
)


def detect_language(code: str) -> str:
    """The language of an unlabelled code block, or "" when it cannot be told (an empty
    block, which parses as Python, is no Python)."""
    if not code.strip():
        return ""
    for language, test in DETECTORS:
        if test(code):
            return language
    return ""


# --- the stylesheet ----------------------------------------------------------------------


def _style_rules(style: str, scope: str) -> str:
    formatter = HtmlFormatter(style=style, cssclass=CSS_CLASS)
    # Token colours only; the block's own box is styled by the templates.
    lines = formatter.get_style_defs(f"{scope}.{CSS_CLASS}").splitlines()  # type: ignore[no-untyped-call]
    return "\n".join(line for line in lines if not line.startswith(("pre ", "td.", "span.linenos")))


@lru_cache(maxsize=1)
def stylesheet() -> str:
    """Class-based CSS for highlighted code: a light palette and a ``.nightMode`` palette.

    ``.night_mode`` is the class older AnkiDroid versions set; it gets the dark palette too.
    """
    dark = _style_rules(DARK_STYLE, ".nightMode ")
    dark_droid = _style_rules(DARK_STYLE, ".night_mode ")
    return "\n".join(
        [
            "/* Pygments light palette (" + LIGHT_STYLE + ") */",
            _style_rules(LIGHT_STYLE, ""),
            "/* Pygments night palette (" + DARK_STYLE + ") */",
            dark,
            dark_droid,
            ".nightMode pre.highlight, .night_mode pre.highlight "
            "{ background: #272822; color: #f8f8f2; }",
            "",
        ]
    )


# --- the print palette, for Typst -----------------------------------------------------------

# Break opportunities inside long code tokens, so a long line wraps instead of overflowing.
# They are empty boxes between strings, not zero-width spaces: nothing lands in the PDF's
# text layer, so code copied from the sheet compiles.
_BREAK_AFTER = re.compile(r"(?<=[.,(\[{/_=])(?=\S)")
_WRAP_AT = 24
#: A stretch without a space this long may not fit a column: it gets break opportunities.
#: Shorter ones need none (a line breaks at its spaces), and every box is one more element
#: for Typst to lay out.
_LONG_WORD = re.compile(f"[^ \u00a0]{{{_WRAP_AT + 1},}}")


def wrap_points(value: str) -> list[int]:
    """Where a long stretch of code without a space may wrap, in order: after punctuation,
    and every :data:`_WRAP_AT` characters of a stretch that has none (base64, a hash: it ran
    off the page and was cut, found by the eleventh trial)."""
    cuts: list[int] = []
    for word in _LONG_WORD.finditer(value):
        marks = [cut.start() for cut in _BREAK_AFTER.finditer(value, word.start(), word.end())]
        for a, b in itertools.pairwise([word.start(), *marks, word.end()]):
            cuts.extend(range(a + _WRAP_AT, b - 1, _WRAP_AT))
        cuts.extend(marks)
    return sorted(cuts)


def typst_string(text: str) -> str:
    """A Typst string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "    ")
    return f'"{escaped}"'


@lru_cache(maxsize=256)
def _typst_style(ttype: Any) -> str:
    """Typst text arguments for a token type in the light (print) palette: a type the
    style does not name (YAML's ``Literal.Scalar.Plain``) takes its nearest parent's, as
    Pygments' own HTML formatter does."""
    palette = get_style_by_name(LIGHT_STYLE)
    while not palette.styles_token(ttype) and ttype.parent is not None:
        ttype = ttype.parent
    style = palette.style_for_token(ttype)
    args = []
    if style["color"]:
        args.append(f'fill: rgb("#{style["color"]}")')
    if style["bold"]:
        args.append('weight: "bold"')
    if style["italic"]:
        args.append('style: "italic"')
    return ", ".join(args)


def _code_text(value: str, line_start: bool) -> str:
    """Code-mode Typst for a run of code text: string literals, broken up by empty boxes
    where a long token may wrap."""
    # Indentation and runs of spaces must survive; single spaces between words stay breakable.
    value = value.replace("\t", "    ")
    if line_start:
        stripped = value.lstrip(" ")
        value = "\u00a0" * (len(value) - len(stripped)) + stripped
    value = re.sub(r" (?= )", "\u00a0", value)
    if len(value) <= _WRAP_AT:
        return typst_string(value)
    cuts = wrap_points(value)
    if not cuts:
        return typst_string(value)
    bounds = [0, *cuts, len(value)]
    return " + box() + ".join(typst_string(value[a:b]) for a, b in itertools.pairwise(bounds))


def highlight(code: str, language: str, typst: bool) -> tuple[str, str]:
    """A code block lexed once: its card HTML and, when ``typst`` is set, its Typst content.

    The HTML is :func:`highlight_html`'s; the Typst is code-mode content coloured like the
    cards' light palette ("" unless asked).
    """
    lexer = lexer_for(language)
    if lexer is None:
        html = f'<pre class="{CSS_CLASS}"><code>{escapeHtml(code)}</code></pre>\n'
        return html, _typst_runs([(Token.Text, code)]) if typst else ""
    tokens = list(lexer.get_tokens(code))
    body = _pygments_format(tokens, _FORMATTER)
    html = f'<pre class="{CSS_CLASS}" data-lang="{language}"><code>{body}</code></pre>\n'
    return html, _typst_runs(tokens) if typst else ""


def _typst_runs(tokens: Iterable[tuple[Any, str]]) -> str:
    """Typst content for Pygments tokens; a trailing line break is dropped.

    Adjacent tokens of one style become one text run, and whitespace is never styled:
    every run is an element Typst lays out, and the count decides the time of a big PDF.
    """
    runs: list[tuple[str, str]] = []  # (style arguments, text); "\n" alone is a line break
    for ttype, value in tokens:
        for i, line in enumerate(value.split("\n")):
            if i:
                runs.append(("", "\n"))
            if line:
                args = "" if not line.strip() else _typst_style(ttype)
                if runs and runs[-1][0] == args and runs[-1][1] != "\n":
                    runs[-1] = (args, runs[-1][1] + line)
                else:
                    runs.append((args, line))
    while runs and runs[-1][1] == "\n":
        runs.pop()
    parts: list[str] = []
    line_start = True
    for args, text in runs:
        if text == "\n":
            parts.append("linebreak()")
            line_start = True
            continue
        literal = _code_text(text, line_start)
        parts.append(f"text({args}, {literal})" if args else literal)
        line_start = False
    return "{" + "; ".join(parts) + "}"
