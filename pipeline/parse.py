"""Markdown note files -> cards. markdown-it tokens never leave this module.

Two conventions, detected from the document and freely mixed:

1. heading questions: ``#### N. question`` under section headings; the answer is everything
   up to the next heading of the same or a higher level (deeper headings belong to it);
2. list questions: a top-level ordered list under a section heading; each item's first
   paragraph is the question, everything nested under it is the answer.

Everything about a card is decided here, once, from the tokens of the single parse: each
code block's language, syntax check and highlighting (lexed once for the HTML and the
Typst), each image and link resolved by the path rules, the card's HTML and, for a PDF
build, its Typst. Parsing is most of the cost of a build, and exporters that parsed or
decided again would both double it and drift from the card.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markdown_it.token import Token

from . import codecheck, contentscan, rawhtml
from .config import Config
from .errors import Diagnostic, Severity
from .highlight import (
    detect_language,
    fence_language,
    highlight,
    known_language,
    typst_string,
    unknown_language_message,
)
from .paths import Resolver
from .pdflimits import MAX_ANSWER_CHARS, MAX_CODE_LINES
from .records import Card, CodeBlock, Deck, ParsedFile, Source, Target
from .render import markdown, render_blocks, render_inline
from .typstmd import TypstRenderer, escape

#: ``1. `` / ``1、`` / ``1) `` at the start of a heading: presentation, not identity.
_NUMBER = re.compile(r"^\s*\d+\s*[.、．)）]\s*")
_LIST_MARKER = re.compile(r"^(\s*)(\d+[.)]|[-+*])([ \t]+|$)")
_TAG_UNSAFE = re.compile(r"\s+")


# --- reading -------------------------------------------------------------------------------


def decode(path: str, data: bytes) -> tuple[str | None, Diagnostic | None]:
    """UTF-8 text of a note file (BOM and CRLF removed), or an error naming the bad byte."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        byte = data[exc.start]
        return None, Diagnostic(
            path,
            line,
            "error",
            f"not valid UTF-8: byte 0x{byte:02x} at offset {exc.start}; save the file as UTF-8",
            "encoding",
        )
    return text.replace("\r\n", "\n").replace("\r", "\n"), None


# --- helpers over the token stream -----------------------------------------------------------


def _blocks(tokens: list[Token], start: int, end: int) -> Iterator[tuple[int, int]]:
    """(start, end) index ranges of the blocks directly inside ``tokens[start:end]``."""
    i = start
    while i < end:
        if tokens[i].nesting == 1:
            depth, j = 1, i + 1
            while depth:
                depth += tokens[j].nesting
                j += 1
            yield i, j
            i = j
        else:
            yield i, i + 1
            i += 1


def _heading_level(tok: Token) -> int:
    return int(tok.tag[1])


_TAB = 4  # CommonMark 2.2: tabs advance to the next multiple of four columns


def _dedent(line: str, width: int, marker: bool = False) -> str:
    """``line`` without up to ``width`` columns of indentation (and, with ``marker``, of
    whatever stands there: the list marker); a tab that straddles the boundary leaves its
    remaining columns as spaces (CommonMark 2.2)."""
    column = 0
    for i, ch in enumerate(line):
        if column >= width:
            return line[i:]
        if ch == "\t":
            stop = column + _TAB - column % _TAB
            if stop > width:
                return " " * (stop - width) + line[i + 1 :]
            column = stop
        elif ch == " " or marker:
            column += 1
        else:
            return line[i:]
    return ""


def _content_column(line: str) -> int:
    """Column where a list item's content starts (CommonMark 5.2), tabs expanded."""
    marker = _LIST_MARKER.match(line)
    if not marker:
        return 0
    column = 0
    for ch in marker.group(1) + marker.group(2):
        column = column + _TAB - column % _TAB if ch == "\t" else column + 1
    after = column
    for ch in marker.group(3):
        after = after + _TAB - after % _TAB if ch == "\t" else after + 1
    # No text after the marker, or five or more columns (an indented code block): one counts.
    if after == column or after - column > _TAB or marker.end() == len(line):
        return column + 1
    return after


def _trim_blank(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return [line.rstrip() for line in lines[start:end]]


def deck_name(title: str) -> str:
    """A title fit for a deck name: trailing ``：``/``:`` trimmed, no ``::`` separators inside."""
    return title.strip().rstrip("：:").strip().replace("::", ":")


def tag_name(text: str) -> str:
    """An Anki-safe tag: no spaces (Chinese kept)."""
    return _TAG_UNSAFE.sub("_", text.strip())


# --- the parser ----------------------------------------------------------------------------


@dataclass
class _FileParser:
    """Walks one file's tokens; private to this module."""

    path: str
    text: str
    config: Config
    file_title: str
    root: Path
    """The content folder, resolved."""
    want_typst: bool
    """Render each card to Typst too (a PDF build)."""

    def __post_init__(self) -> None:
        self.lines = self.text.split("\n")
        self.resolver = Resolver(self.root, (self.root / self.path).parent.resolve())
        self.images: dict[str, Target] = {}
        # The renderers read the path rules' verdict on each image from the environment.
        self.env: dict[str, Any] = {"images": self.images}
        self.typst = TypstRenderer(self.images) if self.want_typst else None
        self.tokens: list[Token] = markdown().parse(self.text, self.env)
        if self.typst:
            self.typst.prepare(self.tokens, self.lines)
        self.cards: list[Card] = []
        self.diagnostics: list[Diagnostic] = []
        self.sections: list[tuple[int, str]] = []

    # -- diagnostics
    def warn(self, line: int, message: str, code: str, severity: Severity = "warning") -> None:
        self.diagnostics.append(Diagnostic(self.path, line, severity, message, code))

    # -- structure
    def question_level(self) -> int | None:
        """The shallowest level of numbered headings: the level of heading questions."""
        levels = [
            _heading_level(tok)
            for i, tok in enumerate(self.tokens)
            if tok.type == "heading_open"
            and tok.level == 0
            and _NUMBER.match(self.tokens[i + 1].content)
        ]
        return min(levels) if levels else None

    def run(self) -> ParsedFile:
        self.scan_file_wide()
        tokens = self.tokens
        q_level = self.question_level()
        open_q: tuple[int, int] | None = None  # (heading index, body start index)
        for start, end in _blocks(tokens, 0, len(tokens)):
            tok = tokens[start]
            if tok.type == "heading_open":
                level = _heading_level(tok)
                if open_q and q_level is not None and level > q_level:
                    continue  # a sub-heading of the answer
                if open_q:
                    self.heading_card(open_q[0], open_q[1], start)
                    open_q = None
                if q_level is not None and level == q_level:
                    open_q = (start, end)
                else:
                    self.push_section(level, tokens[start + 1].content)
            elif open_q:
                continue
            elif tok.type == "ordered_list_open":
                for item_start, item_end in _blocks(tokens, start + 1, end - 1):
                    self.list_card(item_start, item_end)
        if open_q:
            self.heading_card(open_q[0], open_q[1], len(tokens))
        self.typst_problems()
        return ParsedFile(self.path, tuple(self.cards), tuple(self.diagnostics))

    def push_section(self, level: int, title: str) -> None:
        while self.sections and self.sections[-1][0] >= level:
            self.sections.pop()
        self.sections.append((level, deck_name(title)))

    # -- file-wide checks (need the raw token stream)
    def scan_file_wide(self) -> None:
        for scan in contentscan.SCANS:
            for line, severity, message, code in scan(self.tokens, self.lines):
                self.warn(line, message, code, severity)

    def typst_problems(self) -> None:
        """What the PDF could not print as written (a formula it shows as TeX)."""
        for line, message in self.typst.problems if self.typst else ():
            self.warn(line, message, "math-pdf")

    # -- cards
    def deck(self) -> Deck:
        return Deck(self.config.root_deck, self.file_title, tuple(t for _, t in self.sections))

    def heading_card(self, h_start: int, body_start: int, body_end: int) -> None:
        heading, inline = self.tokens[h_start], self.tokens[h_start + 1]
        assert heading.map
        question = _NUMBER.sub("", inline.content, count=1).strip()
        children = _strip_number(inline.children or [])
        line_end = self.tokens[body_end].map[0] if body_end < len(self.tokens) else len(self.lines)  # type: ignore[index]
        answer_md = "\n".join(_trim_blank(self.lines[heading.map[1] : line_end]))
        answer_tokens = self.tokens[body_start:body_end]
        self.add_card(question, children, heading.map[0] + 1, answer_md, answer_tokens, inline)

    def list_card(self, start: int, end: int) -> None:
        item = self.tokens[start]
        assert item.map
        blocks = list(_blocks(self.tokens, start + 1, end - 1))
        if not blocks:
            return  # an empty item (``32. ``) is no question
        first_start = blocks[0][0]
        if self.tokens[first_start].type != "paragraph_open":
            self.warn(
                item.map[0] + 1, "list item has no question text before its answer", "no-question"
            )
            return
        inline = self.tokens[first_start + 1]
        rest = blocks[1:]
        width = _content_column(self.lines[item.map[0]])
        answer_tokens, answer_lines = self.unwrap(rest, width)
        answer_md = "\n".join(_trim_blank(answer_lines))
        self.add_card(
            inline.content.strip(),
            inline.children or [],
            item.map[0] + 1,
            answer_md,
            answer_tokens,
            inline,
        )

    def unwrap(self, blocks: list[tuple[int, int]], width: int) -> tuple[list[Token], list[str]]:
        """Answer tokens and Markdown lines; a leading one-item ordered list becomes its blocks."""
        if not blocks:
            return [], []
        tokens = self.tokens
        first_map = tokens[blocks[0][0]].map
        last_map = tokens[blocks[-1][0]].map
        assert first_map and last_map
        lines = [_dedent(line, width) for line in self.lines[first_map[0] : last_map[1]]]
        out: list[Token] = []
        s, e = blocks[0]
        items = list(_blocks(tokens, s + 1, e - 1)) if tokens[s].type == "ordered_list_open" else []
        if len(items) == 1:
            item_s, item_e = items[0]
            inner = tokens[item_s + 1 : item_e - 1]
            for tok in inner:
                if tok.type.startswith("paragraph_") and tok.level == tokens[item_s].level + 1:
                    tok.hidden = False  # it was a tight list item; now it is a paragraph
            out.extend(inner)
            item_map = tokens[item_s].map
            assert item_map
            n = item_map[1] - item_map[0]
            inner_width = _content_column(lines[0])
            # The marker goes; the item's continuation lines lose its indentation.
            lines[:n] = [_dedent(lines[0], inner_width, marker=True)] + [
                _dedent(ln, inner_width) for ln in lines[1:n]
            ]
            s = e
        else:
            s = blocks[0][0]
        out.extend(tokens[s : blocks[-1][1]])
        return out, lines

    def add_card(
        self,
        question: str,
        children: list[Token],
        line: int,
        answer_md: str,
        answer_tokens: list[Token],
        inline: Token,
    ) -> None:
        """Compile one card: code, targets, then both renderings of the same tokens."""
        compiled = [
            self.code_block(tok) for tok in answer_tokens if tok.type in ("fence", "code_block")
        ]
        code_blocks = tuple(cb for cb in compiled if cb is not None)
        targets = tuple(self.targets(inline)) + tuple(
            t for tok in answer_tokens if tok.type in _HAS_TARGETS for t in self.targets(tok)
        )
        deck = self.deck()
        languages = sorted({cb.language for cb in code_blocks if cb.language})
        tags = tuple(
            dict.fromkeys(
                tag_name(t)
                for t in (
                    f"file::{self.file_title}",
                    f"section::{deck.section}" if deck.section else "",
                    *(f"code::{lang}" for lang in languages),
                )
                if t
            )
        )
        typst = self.typst
        self.cards.append(
            Card(
                question=question,
                answer=answer_md if answer_tokens else "",
                question_html=render_inline(children, self.env).strip(),
                answer_html=render_blocks(answer_tokens, self.env) if answer_tokens else "",
                deck=deck,
                source=Source(self.path, line),
                code_blocks=code_blocks,
                targets=targets,
                tags=tags,
                question_typst=typst.inline(children) if typst else "",
                answer_typst=self.answer_typst(answer_md, answer_tokens),
            )
        )

    def answer_typst(self, answer: str, tokens: list[Token]) -> str:
        """The answer as the PDF prints it: "" without a PDF, a note when it is too long."""
        if self.typst is None or not tokens:
            return ""
        if len(answer) > MAX_ANSWER_CHARS:  # validate warns: pdflimits.answer_message
            return f"#missing[{escape(f'答案过长（{len(answer):,} 字），请看卡片')}]"
        return self.typst.blocks(tokens)

    def code_block(self, tok: Token) -> CodeBlock | None:
        """Decide a code block's language, check its syntax and highlight it, once.

        The decisions go into the token's ``meta`` for both renderers; an indented code
        block has no language and gets no record.
        """
        assert tok.map
        fenced = tok.type == "fence"
        written = fence_language(tok.info) if fenced else ""
        language = (
            written or self.config.default_language or detect_language(tok.content)
            if fenced
            else ""
        )
        tok.meta["language"] = language
        tok.meta["html"], typst = highlight(tok.content, language, self.typst is not None)
        if self.typst is not None:
            tok.meta["typst"] = _printed_code(tok.content, language, typst)
        if not fenced:
            return None
        fence_line = tok.map[0] + 1
        if written and not known_language(written):
            self.warn(fence_line, unknown_language_message(written), "fence-language")
        problem = codecheck.check(language, tok.content)
        error = (fence_line + problem[0], problem[1]) if problem else None
        return CodeBlock(language, not written, tok.content, fence_line, error)

    def targets(self, inline: Token) -> Iterator[Target]:
        """The images and links of an inline token (or the ``<img>`` of a raw HTML block),
        resolved; images noted for the renderers, formulas given their line."""
        assert inline.map is not None
        line = inline.map[0] + 1
        if inline.type == "html_block":
            yield from self.html_images(inline.content, line)
            return
        for child in inline.children or ():
            if child.type in ("softbreak", "hardbreak"):
                line += 1
            elif child.type in ("image", "link_open"):
                image = child.type == "image"
                url = str(child.attrGet("src" if image else "href") or "")
                target = self.resolver.target(url, line, image, bool(child.meta.get("embed")))
                if image:
                    self.images[url] = target
                yield target
            elif child.type == "html_inline":
                yield from self.html_images(child.content, line)
            elif child.type.startswith("math"):
                child.meta["line"] = line  # for the PDF's warning about a formula

    def html_images(self, html: str, line: int) -> Iterator[Target]:
        """The ``<img src>`` of raw HTML: images like ``![](…)``, keyed by ``src`` as written."""
        for src in rawhtml.image_sources(html):
            target = self.resolver.target(src, line, True)
            self.images[src] = target
            yield target


#: Token types whose images and links are targets.
_HAS_TARGETS = frozenset({"inline", "html_block"})


def _printed_code(code: str, language: str, typst: str) -> str:
    """The Typst of a code block as the PDF prints it: its first lines only, when it is long.

    ``validate`` warns at the fence (``pdflimits.code_lines_message``); the card shows all.
    """
    lines = code.split("\n", MAX_CODE_LINES)
    if len(lines) <= MAX_CODE_LINES:
        return typst
    shown = highlight("\n".join(lines[:MAX_CODE_LINES]), language, True)[1]
    more = typst_string(f"… {code.count(chr(10)) - MAX_CODE_LINES:,} more lines on the card")
    return shown[:-1] + f"; linebreak(); text(fill: luma(110), {more})}}"


def _strip_number(children: list[Token]) -> list[Token]:
    """Inline children without the leading ``N.`` of a heading question."""
    if children and children[0].type == "text" and _NUMBER.match(children[0].content):
        first = children[0].copy()
        first.content = _NUMBER.sub("", first.content, count=1)
        return [first, *children[1:]]
    return children


def file_title(path: str, config: Config) -> str:
    """Title of a note file in deck names: configured, or the file name without ``.md``."""
    return deck_name(config.titles.get(path) or Path(path).stem)


def parse_file(
    root: Path, path: str, config: Config, typst: bool = False, data: bytes | None = None
) -> ParsedFile:
    """Read, decode and compile one note file (``path`` relative to ``root``).

    ``typst`` renders every card to Typst as well, for the PDF. ``data``: the file's bytes,
    when the caller has read them already (the cache keys its entries by them).
    """
    full = root / path
    try:
        data = full.read_bytes() if data is None else data
    except OSError as exc:
        return ParsedFile(
            path, (), (Diagnostic(path, 0, "error", f"cannot read: {exc.strerror}", "io"),)
        )
    text, problem = decode(path, data)
    if text is None:
        assert problem
        return ParsedFile(path, (), (problem,))
    title = file_title(path, config)
    return _FileParser(path, text, config, title, root.resolve(), typst).run()
