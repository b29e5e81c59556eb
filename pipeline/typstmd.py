"""The Typst renderer: markdown-it tokens -> Typst markup, the second renderer of one parse.

It renders the very tokens the card's HTML was rendered from (``pipeline/parse.py`` calls
both), so the sheet prints what the card shows: the same list structure, the same
reference links, the same code languages and colours, the same image verdicts.

Tokens become a tree of :class:`Node` and each node type has one function in :data:`BLOCKS`
or :data:`INLINE`. (markdown-it's ``SyntaxTreeNode`` links each child to its parent, a
reference cycle per node that builds, which run without the cycle collector, would keep.)
Block structure is written in Typst's function form (``#list([..], [..])``,
``#enum(start: 3, ..)``), which does not depend on indentation; every ASCII punctuation
character in text is escaped, so nothing in a note can become Typst syntax.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from markdown_it.token import Token

from .highlight import typst_string
from .paths import is_external
from .records import Target

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")


def escape(text: str) -> str:
    """Text safe in Typst markup: every ASCII punctuation character backslash-escaped."""
    return _PUNCT.sub(r"\\\1", text)


class Node:
    """A token with the tokens nested inside it (an ``_open`` token and its contents)."""

    __slots__ = ("children", "token", "type")

    def __init__(self, token: Token) -> None:
        self.token = token
        """The token itself; for a container, its opening token."""
        self.type = token.type.removesuffix("_open")
        """The token type without ``_open``: ``paragraph``, ``strong``, ``fence``…"""
        self.children: list[Node] = []
        """The nodes directly inside it; an ``inline`` token's children are nodes too."""


def tree(tokens: Sequence[Token]) -> list[Node]:
    """The top-level nodes of a well-nested run of tokens."""
    root: list[Node] = []
    stack: list[Node] = []
    for tok in tokens:
        if tok.nesting == -1:
            stack.pop()
            continue
        node = Node(tok)
        (stack[-1].children if stack else root).append(node)
        if tok.nesting == 1:
            stack.append(node)
        elif tok.children:
            node.children = tree(tok.children)
    return root


class TypstRenderer:
    """Renders one note file's tokens; knows the verdicts on its images."""

    def __init__(self, images: Mapping[str, Target]) -> None:
        self.images = images
        """Image ``src`` as in the tokens -> its resolved target."""

    def blocks(self, tokens: Sequence[Token]) -> str:
        """Typst markup for a run of whole block tokens (an answer)."""
        return "".join(self._block(node, False) for node in tree(tokens)).strip()

    def inline(self, children: Sequence[Token]) -> str:
        """Typst markup for an inline token's children (a question)."""
        return "".join(self._inline(node) for node in tree(children)).strip()

    # -- blocks
    def _children(self, node: Node, tight: bool) -> str:
        return "".join(self._block(child, tight) for child in node.children)

    def _block(self, node: Node, tight: bool) -> str:
        render = BLOCKS.get(node.type)
        return render(self, node, tight) if render else self._children(node, tight)

    def _paragraph(self, node: Node, tight: bool) -> str:
        return self._inline_of(node) + ("\n" if tight else "\n\n")

    def _heading(self, node: Node, _tight: bool) -> str:
        return f"#subhead[{self._inline_of(node)}]\n\n"

    def _items(self, node: Node) -> str:
        # A list is tight when markdown-it hid its items' paragraphs (CommonMark 5.3).
        tight = all(
            p.token.hidden for item in node.children for p in item.children if p.type == "paragraph"
        )
        return ", ".join(f"[{self._children(item, tight).strip()}]" for item in node.children)

    def _bullet_list(self, node: Node, _tight: bool) -> str:
        return f"#list({self._items(node)})\n\n"

    def _ordered_list(self, node: Node, _tight: bool) -> str:
        start = int(node.token.attrGet("start") or 1)
        return f"#enum(start: {start}, {self._items(node)})\n\n"

    def _code(self, node: Node, _tight: bool) -> str:
        # Lexed once, with the HTML, when the note file was compiled.
        return f"#codeblock({node.token.meta['typst']})\n\n"

    def _blockquote(self, node: Node, _tight: bool) -> str:
        return f"#quote(block: true)[{self._children(node, False).strip()}]\n\n"

    def _hr(self, _node: Node, _tight: bool) -> str:
        return "#line(length: 100%, stroke: 0.4pt + luma(180))\n\n"

    def _table(self, node: Node, _tight: bool) -> str:
        cells: list[str] = []
        columns = 0
        for part in node.children:  # thead / tbody
            for row in part.children:
                columns = max(columns, len(row.children))
                for cell in row.children:
                    body = self._inline_of(cell)
                    if cell.type == "th":
                        body = f"*{body}*" if body else body
                    cells.append(f"[{body}]")
        return f"#table(columns: {max(columns, 1)}, inset: 3pt, {', '.join(cells)})\n\n"

    def _html_block(self, node: Node, _tight: bool) -> str:
        return escape(node.token.content.strip()) + "\n\n"

    # -- inline
    def _inline_of(self, node: Node) -> str:
        """The inline content of a paragraph, heading or table cell."""
        return "".join(self._inline(n) for child in node.children for n in child.children)

    def _inline(self, node: Node) -> str:
        render = INLINE.get(node.type)
        return render(self, node) if render else ""

    def _wrapped(self, node: Node) -> str:
        inner = "".join(self._inline(child) for child in node.children)
        return f"{WRAPPERS[node.type]}[{inner}]"

    def _text(self, node: Node) -> str:
        return escape(node.token.content)

    def _code_inline(self, node: Node) -> str:
        return f"#raw({typst_string(node.token.content)})"

    def _link(self, node: Node) -> str:
        inner = "".join(self._inline(child) for child in node.children)
        href = str(node.token.attrGet("href") or "")
        if is_external(href):
            return f"#link({typst_string(href)})[{inner}]"
        return f"#[{inner}]"

    def _image(self, node: Node) -> str:
        url = str(node.token.attrGet("src") or "")
        target = self.images.get(url)
        if target is None or target.kind == "external":
            return f"#missing[{escape(target.written if target else url)}]"
        if target.kind != "local":  # validation has reported it
            return f"#missing[图片缺失: {escape(target.written)}]"
        return f"#image({typst_string('/' + target.file)}, width: 90%)"


#: Block node type -> its Typst; a type not listed renders its children.
BLOCKS: dict[str, Callable[[TypstRenderer, Node, bool], str]] = {
    "paragraph": TypstRenderer._paragraph,
    "heading": TypstRenderer._heading,
    "bullet_list": TypstRenderer._bullet_list,
    "ordered_list": TypstRenderer._ordered_list,
    "fence": TypstRenderer._code,
    "code_block": TypstRenderer._code,
    "blockquote": TypstRenderer._blockquote,
    "hr": TypstRenderer._hr,
    "table": TypstRenderer._table,
    "html_block": TypstRenderer._html_block,
}

#: Inline emphasis node type -> the Typst function that wraps its content.
WRAPPERS = {"strong": "#strong", "em": "#emph", "s": "#strike"}

#: Inline node type -> its Typst; a type not listed prints nothing.
INLINE: dict[str, Callable[[TypstRenderer, Node], str]] = {
    "text": TypstRenderer._text,
    "text_special": TypstRenderer._text,
    "html_inline": TypstRenderer._text,
    "softbreak": lambda _r, _n: " ",
    "hardbreak": lambda _r, _n: "#linebreak()",
    "strong": TypstRenderer._wrapped,
    "em": TypstRenderer._wrapped,
    "s": TypstRenderer._wrapped,
    "code_inline": TypstRenderer._code_inline,
    "link": TypstRenderer._link,
    "image": TypstRenderer._image,
}
