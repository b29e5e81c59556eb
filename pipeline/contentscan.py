"""File-wide checks that read a note's tokens: fences, raw HTML, an unclosed ``$$``.

Each function takes the file's tokens (and lines) and yields ``(line, severity, message,
code)``; ``pipeline/parse.py`` turns them into diagnostics. Fences are judged from the
tokens, not from raw lines: a fence inside a blockquote or a list item ends with its
container, which only the parser knows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator, Sequence

from markdown_it.token import Token

from . import pdflimits, rawhtml
from .cjk import LINE_BREAKS
from .errors import Severity
from .render import MAX_LEVELS
from .shapes import NUMBER, asks

Finding = tuple[int, Severity, str, str]

_CODE_INDENT = 4  # columns of indentation that make a line code, not a fence (CommonMark 4.5)
_QUOTE_PREFIX = re.compile(r"^(?:[ \t]{0,3}>[ \t]?)*")


def _fence_line(line: str, marker: str, length: int) -> bool:
    """True when ``line`` (its blockquote markers removed) could close a fence of
    ``length`` × ``marker``, indentation aside."""
    text = _QUOTE_PREFIX.sub("", line).strip()
    return len(text) >= length and set(text) == {marker}


def _fence(markup: str) -> str:
    """A fence's marker as a message quotes it: a run of 50,000 backticks is counted."""
    return (
        f"'{markup}'" if len(markup) <= 10 else f"'{markup[:3]}…' ({len(markup):,} × {markup[0]})"
    )


def _indent(line: str) -> int:
    line = _QUOTE_PREFIX.sub("", line)
    return len(line) - len(line.lstrip(" "))


def fences(tokens: Sequence[Token], lines: Sequence[str]) -> Iterator[Finding]:
    """Fences that never close, and closing fences indented too far to close anything."""
    for tok in tokens:
        if tok.type != "fence" or not tok.map:
            continue
        start, end = tok.map
        marker, length = tok.markup[0], len(tok.markup)
        last = lines[end - 1] if 0 < end <= len(lines) else ""
        opening = _indent(lines[start])
        if (
            end - start >= 2
            and _fence_line(last, marker, length)
            and _indent(last) - opening < _CODE_INDENT
        ):
            continue  # closed where the parser says the block ends
        # A line that looks like the closing fence but is read as code: indented 4+ columns
        # past the opening one (CommonMark 4.5), e.g. copied into a list item.
        for i in range(start + 1, end):
            if (
                _fence_line(lines[i], marker, length)
                and _indent(lines[i]) - opening >= _CODE_INDENT
            ):
                yield (
                    i + 1,
                    "warning",
                    f"closing fence {_fence(tok.markup)} is indented {_indent(lines[i])} spaces, "
                    f"{_indent(lines[i]) - opening} more than its opening fence on line "
                    f"{start + 1}, so it is read as code; indent it {opening} spaces like "
                    "the opening fence",
                    "fence-indent",
                )
                break
        else:
            rest_blank = all(not line.strip() for line in lines[end:])
            if rest_blank:
                yield (
                    start + 1,
                    "error",
                    f"code fence {_fence(tok.markup)} is never closed; "
                    "everything after it is swallowed into the code block",
                    "unclosed-fence",
                )
            else:
                yield (
                    start + 1,
                    "warning",
                    f"code fence {_fence(tok.markup)} is never closed; it ends with its list item "
                    f"or quote on line {end}",
                    "unclosed-fence",
                )


#: A line of a fence's code that reads as the notes' Markdown: a heading of level 2 or
#: more (``# x`` is a comment in Python, shell, YAML), or a fence opened with a language,
#: which no code block holds unless its own fence is longer.
_MARKDOWN_HEADING = re.compile(r" {0,3}(#{2,6})[ \t]+(\S.*)")
_FENCE_OPENING = re.compile(r" {0,3}(`{3,}|~{3,})[ \t]*[A-Za-z]")
#: Fences that show Markdown on purpose.
_MARKDOWN_INFO = frozenset({"markdown", "md", "gfm", "commonmark", "text", "txt", "plain"})


def swallowed_questions(tokens: Sequence[Token], lines: Sequence[str]) -> Iterator[Finding]:
    """A fence whose code holds lines that read as the notes' Markdown: headings that ask
    or are numbered (``## 2. 什么是 B？``), fences opened with a language. Most often an
    earlier fence was left open and a later closing line closed it, and the questions
    between are code, with no other word (the twenty-second trial: 17 questions of one
    public note gone so)."""
    for tok in tokens:
        if tok.type != "fence" or not tok.map:
            continue
        if tok.info.strip().lower() in _MARKDOWN_INFO:
            continue
        start, end = tok.map
        marker = tok.markup[0]
        last = lines[end - 1] if 0 < end <= len(lines) else ""
        if end - start < 2 or not _fence_line(last, marker, len(tok.markup)):
            continue  # never closed: :func:`fences` says all that follows is swallowed
        found = [
            i
            for i in range(start + 1, min(end, len(lines)) - 1)
            if _reads_as_markdown(lines[i], marker)
        ]
        if found:
            shown = " ".join(lines[found[0]].split())[:40]
            more = f" and {len(found) - 1} more" if len(found) > 1 else ""
            yield (
                start + 1,
                "warning",
                f"the code block opened here runs to line {end} and holds lines that read as "
                f"Markdown: line {found[0] + 1} '{shown}'{more}; if it was meant to end "
                "before them, close it there (they are code now, not questions)",
                "fence-swallows",
            )


def _reads_as_markdown(line: str, marker: str) -> bool:
    """Whether a line of code reads as the notes' Markdown (:func:`swallowed_questions`)."""
    heading = _MARKDOWN_HEADING.match(line)
    if heading:
        return asks(heading.group(2)) or NUMBER.match(heading.group(2)) is not None
    opened = _FENCE_OPENING.match(line)
    return opened is not None and opened.group(1)[0] == marker


def _inline_line(tok: Token, child_index: int) -> int:
    assert tok.map is not None and tok.children is not None
    breaks = sum(1 for c in tok.children[:child_index] if c.type in LINE_BREAKS)
    return tok.map[0] + 1 + breaks


def raw_html(tokens: Sequence[Token], _lines: Sequence[str]) -> Iterator[Finding]:
    """What the card loses of the raw HTML in a note (harmless markup says nothing)."""
    for tok in tokens:
        if tok.type == "html_block" and tok.map:
            for at, problem in rawhtml.problems(tok.content):
                yield tok.map[0] + 1 + at, "warning", f"raw HTML: {problem}", "raw-html"
        elif tok.type == "inline" and tok.map and tok.children:
            for i, child in enumerate(tok.children):
                if child.type == "html_inline":
                    for at, problem in rawhtml.problems(child.content):
                        line = _inline_line(tok, i) + at
                        yield line, "warning", f"raw HTML: {problem}", "raw-html"


def unclosed_math(tokens: Sequence[Token], _lines: Sequence[str]) -> Iterator[Finding]:
    """A ``$$`` left in the text: a display formula that never closes (or holds a blank line)."""
    for tok in tokens:
        if tok.type != "inline" or not tok.map or not tok.children:
            continue
        for i, child in enumerate(tok.children):
            if child.type == "text" and "$$" in child.content:
                yield (
                    _inline_line(tok, i),
                    "warning",
                    "'$$' is never closed, so the formula is shown as text; close it with "
                    "'$$' (a display formula may not contain a blank line)",
                    "unclosed-math",
                )
                break


#: A link markdown-it refused (``validateLink``: javascript:, vbscript:, file: and data:
#: other than images), left in the text as written: ``[点我](javascript:…)``.
_REFUSED_LINK = re.compile(r"\]\(\s*<?\s*(javascript|vbscript|file|data):", re.IGNORECASE)


def refused_links(tokens: Sequence[Token], _lines: Sequence[str]) -> Iterator[Finding]:
    """A Markdown link to a script or a local file: shown as its text, as raw HTML's is warned."""
    for tok in tokens:
        if tok.type != "inline" or not tok.map or not tok.children or "](" not in tok.content:
            continue
        for i, child in enumerate(tok.children):
            for found in _REFUSED_LINK.finditer(child.content) if child.type == "text" else ():
                yield (
                    _inline_line(tok, i),
                    "warning",
                    f"a link to a '{found[1].lower()}:' address is not made (cards allow no "
                    "scripts or local files in links), so it shows as the text you wrote",
                    "refused-link",
                )


#: The HTML blocks that end only at an end marker (CommonMark 4.6, kinds 1 to 5): what
#: opens one -> what closes it, and how a message names it. One never closed runs to the end
#: of its list item or quote, or of the file: an open ``<!--`` hid every question after it.
_UNTIL_CLOSED: tuple[tuple[re.Pattern[str], re.Pattern[str], str], ...] = (
    (re.compile(r"<!--"), re.compile(r"-->"), "HTML comment '<!--'"),
    *(
        (
            re.compile(rf"<{tag}(?:\s|>|$)", re.IGNORECASE),
            re.compile(rf"</{tag}>", re.IGNORECASE),
            f"HTML '<{tag}>'",
        )
        for tag in ("pre", "script", "style", "textarea")
    ),
    (re.compile(r"<\?"), re.compile(r"\?>"), "HTML processing instruction '<?'"),
    (re.compile(r"<!\[CDATA\["), re.compile(r"\]\]>"), "'<![CDATA['"),
    (re.compile(r"<![A-Za-z]"), re.compile(r">"), "HTML declaration '<!'"),
)


def unclosed_html(tokens: Sequence[Token], lines: Sequence[str]) -> Iterator[Finding]:
    """HTML blocks that end only at an end marker (a comment, ``<pre>``) and never meet it:
    what follows is read as part of them, as an unclosed fence swallows it."""
    for tok in tokens:
        if tok.type != "html_block" or not tok.map:
            continue
        start = tok.content.lstrip(" ")
        found = next((k for k in _UNTIL_CLOSED if k[0].match(start)), None)
        if found is None or found[1].search(start, 2):
            continue
        _opens, _closes, what = found
        end = tok.map[1]
        if all(not line.strip() for line in lines[end:]):
            yield (
                tok.map[0] + 1,
                "error",
                f"{what} is never closed; everything after it (to the end of the file) is "
                "swallowed into it",
                "unclosed-html",
            )
        else:
            yield (
                tok.map[0] + 1,
                "warning",
                f"{what} is never closed; it ends with its list item or quote on line {end}",
                "unclosed-html",
            )


#: Control characters a note may hold by accident (pasted from a terminal): not the tab, the
#: line ends, nor ESC-free text. U+FFFD is what markdown-it makes of a NUL (CommonMark 2.3).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
#: Invisible characters that change what text shows or matches: zero-width spaces and
#: joiners a web page left, bidirectional overrides and isolates. Not U+200D, which joins
#: the emoji of a sequence (👨‍💻).
INVISIBLE = re.compile("[\u200b\u200c\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_HOLDS_TEXT = frozenset({"inline", "fence", "code_block", "html_block"})


def _first_in_each_block(
    tokens: Sequence[Token], lines: Sequence[str], pattern: re.Pattern[str]
) -> Iterator[tuple[int, str]]:
    """The first character ``pattern`` finds in each block that holds text, with its 0-based
    line."""
    for tok in tokens:
        if tok.type not in _HOLDS_TEXT or not tok.map:
            continue
        found = pattern.search(tok.content)
        if found is not None:
            first = tok.map[0] + (1 if tok.type == "fence" else 0)  # after the opening fence
            line = first + tok.content.count("\n", 0, found.start())
            yield min(line, len(lines) - 1), found.group()


def control_characters(tokens: Sequence[Token], lines: Sequence[str]) -> Iterator[Finding]:
    """A control character in a block (an ESC of a terminal's colours, a NUL): the card
    keeps it unseen, the PDF prints a box or nothing (found by the eleventh trial)."""
    for line, char in _first_in_each_block(tokens, lines, _CONTROL):
        if char == "\ufffd" and "\0" not in lines[line]:
            continue  # a replacement character the note really holds
        said = (
            "a NUL byte: the card shows it as �; remove it"
            if char == "\ufffd"
            else f"control character U+{ord(char):04X}: the card keeps it unseen and the PDF "
            "prints it as a box or not at all; remove it"
        )
        yield line + 1, "warning", said, "control-character"


def invisible_characters(tokens: Sequence[Token], lines: Sequence[str]) -> Iterator[Finding]:
    """An invisible character in a block (a zero-width space pasted from a web page, a
    right-to-left override): the card shows nothing of it, but it changes what the text
    shows around it, or what a search or the duplicate check matches (the twelfth trial)."""
    for line, char in _first_in_each_block(tokens, lines, INVISIBLE):
        name = unicodedata.name(char, "").lower()
        yield (
            line + 1,
            "warning",
            f"invisible character U+{ord(char):04X} ({name}): it changes unseen what the text "
            "shows or matches; remove it",
            "invisible-character",
        )


def too_deep(tokens: Sequence[Token], _lines: Sequence[str]) -> Iterator[Finding]:
    """Block quotes and lists nested so deep that markdown-it stops reading: the lines
    below that level are dropped (:data:`~pipeline.render.MAX_LEVELS`)."""
    for tok in tokens:
        if tok.level >= MAX_LEVELS - 1 and tok.map:
            yield (
                tok.map[0] + 1,
                "error",
                f"block quotes and lists nested about {MAX_LEVELS // 2} deep: what is nested "
                "deeper is not read; nest less",
                "too-deep",
            )
            return


#: Every scan, in order.
SCANS = (
    fences,
    swallowed_questions,
    unclosed_html,
    raw_html,
    unclosed_math,
    refused_links,
    pdflimits.nesting,
    too_deep,
    control_characters,
    invisible_characters,
)
