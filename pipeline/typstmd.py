"""A card's Markdown -> Typst markup, through the same markdown-it parser as the cards.

Block structure is written in Typst's function form (``#list([..], [..])``,
``#enum(start: 3, ..)``), which does not depend on indentation; every ASCII punctuation
character in text is escaped, so nothing in a note can become Typst syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it.token import Token

from .highlight import detect_language, typst_code, typst_string
from .render import is_external, markdown, readable_image

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def escape(text: str) -> str:
    """Text safe in Typst markup: every ASCII punctuation character backslash-escaped."""
    return _PUNCT.sub(r"\\\1", text)


@dataclass
class _Node:
    """A block or inline container rebuilt from markdown-it's flat token stream."""

    token: Token
    children: list[_Node] = field(default_factory=list)


def _tree(tokens: Sequence[Token]) -> list[_Node]:
    root: list[_Node] = []
    stack: list[_Node] = []
    for tok in tokens:
        if tok.nesting == -1:
            stack.pop()
            continue
        node = _Node(tok)
        (stack[-1].children if stack else root).append(node)
        if tok.nesting == 1:
            stack.append(node)
    return root


@dataclass
class TypstWriter:
    """Converts one card's Markdown; knows where its images live."""

    note_dir: Path
    """Folder of the note file (images are relative to it)."""
    root: Path
    """The content folder, which is also Typst's root: nothing outside it is read."""
    languages: Sequence[str] = ()
    """Languages of the card's code blocks in order (as written or detected)."""

    def __post_init__(self) -> None:
        self._fences = iter(self.languages)

    def convert(self, text: str) -> str:
        """Typst markup for a Markdown text."""
        tokens = markdown().parse(text, {})
        return self.blocks(_tree(tokens))

    def inline_markup(self, text: str) -> str:
        """Typst markup for a one-line Markdown text (a question)."""
        tokens = markdown().parseInline(text, {})
        return "".join(self.inline(tok.children or []) for tok in tokens).strip()

    # -- blocks
    def blocks(self, nodes: Sequence[_Node], tight: bool = False) -> str:
        return "".join(self.block(node, tight) for node in nodes)

    def block(self, node: _Node, tight: bool) -> str:
        tok = node.token
        kind = tok.type
        if kind == "paragraph_open":
            body = "".join(self.inline(c.token.children or []) for c in node.children)
            return body + ("\n" if tight else "\n\n")
        if kind == "heading_open":
            body = "".join(self.inline(c.token.children or []) for c in node.children)
            return f"#subhead[{body}]\n\n"
        if kind in ("bullet_list_open", "ordered_list_open"):
            tight_items = self._tight(node)
            items = ", ".join(
                f"[{self.blocks(item.children, tight_items).strip()}]" for item in node.children
            )
            if kind == "bullet_list_open":
                return f"#list({items})\n\n"
            start = int(tok.attrGet("start") or 1)
            return f"#enum(start: {start}, {items})\n\n"
        if kind in ("fence", "code_block"):
            written = tok.info.split(maxsplit=1)[0] if kind == "fence" and tok.info.strip() else ""
            language = next(self._fences, "") or written or detect_language(tok.content)
            return f"#codeblock({typst_code(tok.content.rstrip(chr(10)), language)})\n\n"
        if kind == "blockquote_open":
            return f"#quote(block: true)[{self.blocks(node.children).strip()}]\n\n"
        if kind == "hr":
            return "#line(length: 100%, stroke: 0.4pt + luma(180))\n\n"
        if kind == "table_open":
            return self.table(node) + "\n\n"
        if kind == "html_block":
            return escape(tok.content.strip()) + "\n\n"
        return self.blocks(node.children, tight)

    @staticmethod
    def _tight(list_node: _Node) -> bool:
        return all(
            c.token.hidden
            for item in list_node.children
            for c in item.children
            if c.token.type == "paragraph_open"
        )

    def table(self, node: _Node) -> str:
        cells: list[str] = []
        columns = 0
        for row in _rows(node):
            columns = max(columns, len(row.children))
            for cell in row.children:
                body = "".join(self.inline(c.token.children or []) for c in cell.children)
                if cell.token.type == "th_open":
                    body = f"*{body}*" if body else body
                cells.append(f"[{body}]")
        return f"#table(columns: {max(columns, 1)}, inset: 3pt, {', '.join(cells)})"

    # -- inline
    def inline(self, tokens: Sequence[Token]) -> str:
        out: list[str] = []
        for tok in tokens:
            kind = tok.type
            if kind in ("text", "text_special", "html_inline"):
                out.append(escape(tok.content))
            elif kind == "softbreak":
                out.append(" ")
            elif kind == "hardbreak":
                out.append("#linebreak()")
            elif kind in ("strong_open", "em_open", "s_open"):
                out.append(
                    {"strong_open": "#strong[", "em_open": "#emph[", "s_open": "#strike["}[kind]
                )
            elif kind in ("strong_close", "em_close", "s_close", "link_close"):
                out.append("]")
            elif kind == "code_inline":
                out.append(f"#raw({typst_string(tok.content)})")
            elif kind == "link_open":
                href = str(tok.attrGet("href") or "")
                out.append(f"#link({typst_string(href)})[" if is_external(href) else "#[")
            elif kind == "image":
                out.append(self.image(tok))
        return "".join(out)

    def image(self, tok: Token) -> str:
        target = str(tok.attrGet("src") or "")
        if is_external(target):
            return f"#missing[{escape(target)}]"
        path = readable_image(target, self.note_dir, self.root)
        if path is None:  # the validate stage has reported it
            return f"#missing[图片缺失: {escape(target)}]"
        rel = "/" + path.relative_to(self.root.resolve()).as_posix()
        return f"#image({typst_string(rel)}, width: 90%)"


def _rows(table: _Node) -> Iterator[_Node]:
    for part in table.children:  # thead / tbody
        yield from part.children
