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

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from html.parser import HTMLParser

from markdown_it.token import Token

from . import rawhtml
from .highlight import typst_string, wrap_points
from .mathmd import MATH_TOKENS
from .mathtypst import convert_all
from .paths import is_external
from .pdflimits import MAX_NESTING
from .records import Target

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")
#: A run of ASCII without a space long enough to overflow a column (a URL, a hash)...
_LONG = re.compile(r"[!-~]{20,}")
#: ...gets a break opportunity after each of these and at least every 12 characters.
_BREAK_AFTER = re.compile(r"([/.\-_?&=#:,;]|[^/.\-_?&=#:,;]{12})(?=.)")
_BREAK = "\x00"
_BLANK_LINES = re.compile(r"\n{3,}")  # marks a break opportunity until the text is escaped


def escape(text: str) -> str:
    """Text safe in Typst markup: every ASCII punctuation character backslash-escaped."""
    return _PUNCT.sub(r"\\\1", text)


def prose(text: str) -> str:
    """Escaped text in which a long unbreakable token (a URL, a hash) can wrap.

    The break opportunities are empty boxes: nothing lands in the PDF's text layer, so a
    URL copied from the sheet is the URL.
    """
    if len(text) < 20 or not _LONG.search(text):
        return escape(text)
    marked = _LONG.sub(lambda m: _BREAK_AFTER.sub(r"\1" + _BREAK, m.group()), text)
    return escape(marked).replace(_BREAK, "#box()")


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
        self._depth = 0  # block quotes and lists open around the node being rendered
        self.problems: list[tuple[int, str]] = []
        """(1-based line, message) of what could not be printed as written (a formula)."""
        self.math: Mapping[str, str | None] = {}
        """TeX formula -> its Typst math, or None to print the TeX (see :meth:`prepare`)."""

    def prepare(self, tokens: Sequence[Token]) -> None:
        """Convert every formula of the file's tokens at once (Typst checks them in one go)."""
        self.math = convert_all(
            t.content
            for tok in tokens
            for t in (tok, *(tok.children or ()))
            if t.type in MATH_TOKENS
        )

    def blocks(self, tokens: Sequence[Token]) -> str:
        """Typst markup for a run of whole block tokens (an answer)."""
        return "".join(self._block(node, False) for node in tree(tokens)).strip()

    def inline(self, children: Sequence[Token]) -> str:
        """Typst markup for an inline token's children (a question)."""
        return self._run(tree(children)).strip()

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

    def _nested(self, node: Node, wrap: Callable[[], str]) -> str:
        """A block quote or list, or, nested deeper than the PDF prints, its content flat."""
        if self._depth >= MAX_NESTING:  # check warns at its line (pdflimits.nesting)
            return (
                self._children(node, False)
                if node.type == "blockquote"
                else "".join(self._children(item, False) for item in node.children)
            )
        self._depth += 1
        try:
            return wrap()
        finally:
            self._depth -= 1

    def _bullet_list(self, node: Node, _tight: bool) -> str:
        return self._nested(node, lambda: f"#list({self._items(node)})\n\n")

    def _ordered_list(self, node: Node, _tight: bool) -> str:
        start = int(node.token.attrGet("start") or 1)
        return self._nested(node, lambda: f"#enum(start: {start}, {self._items(node)})\n\n")

    def _code(self, node: Node, _tight: bool) -> str:
        # Lexed once, with the HTML, when the note file was compiled.
        return f"#codeblock({node.token.meta['typst']})\n\n"

    def _blockquote(self, node: Node, _tight: bool) -> str:
        return self._nested(
            node, lambda: f"#quote(block: true)[{self._children(node, False).strip()}]\n\n"
        )

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
        # What the card keeps of it, and nothing else: comments and scripts are gone.
        printer = _HtmlPrinter(self)
        printer.feed(rawhtml.sanitise(node.token.content))
        printer.close()
        return _BLANK_LINES.sub("\n\n", printer.typst()).strip() + "\n\n"

    def _math_block(self, node: Node, _tight: bool) -> str:
        return f"{self._formula(node.token, True)}\n\n"

    def _formula(self, tok: Token, display: bool) -> str:
        """Typst math for a formula, or its TeX in the code font (with a warning) when the
        converter cannot take it: one formula never stops the sheet."""
        tex = tok.content.strip()
        math = self.math.get(tex)
        if math is not None:
            return f"$ {math} $" if display else f"${math}$"
        line = int(tok.meta.get("line", 0) or (tok.map[0] + 1 if tok.map else 0))
        self.problems.append((line, f"formula printed as TeX source in the PDF: {tex[:60]}"))
        return f"#codeblock({typst_string(tex)})" if display else f"#raw({typst_string(tex)})"

    # -- inline
    def _inline_of(self, node: Node) -> str:
        """The inline content of a paragraph, heading or table cell."""
        return "".join(self._run(child.children) for child in node.children)

    def _run(self, nodes: Sequence[Node]) -> str:
        """Inline nodes side by side; raw HTML tags among them opened and closed in scope."""
        scope = _HtmlScope()
        out = []
        for node in nodes:
            if node.type == "html_inline":
                out.append(scope.tag(self, node.token.content))
            elif not scope.hidden:
                out.append(self._inline(node))
        out.append(scope.close())
        return "".join(out)

    def _inline(self, node: Node) -> str:
        render = INLINE.get(node.type)
        return render(self, node) if render else ""

    def _wrapped(self, node: Node) -> str:
        return f"{WRAPPERS[node.type]}[{self._run(node.children)}]"

    def _text(self, node: Node) -> str:
        return prose(node.token.content)

    def _math(self, node: Node) -> str:
        return self._formula(node.token, MATH_TOKENS[node.type])

    def _code_inline(self, node: Node) -> str:
        code = node.token.content
        bounds = [0, *wrap_points(code), len(code)]
        # Pieces with empty boxes between: a long one may wrap, and copies as it was.
        return "#box()".join(
            f"#raw({typst_string(code[a:b])})" for a, b in itertools.pairwise(bounds)
        )

    def _link(self, node: Node) -> str:
        inner = self._run(node.children)
        href = str(node.token.attrGet("href") or "")
        if is_external(href):
            return f"#link({typst_string(href)})[{inner}]"
        return f"#[{inner}]"

    def _image(self, node: Node) -> str:
        return self.image(str(node.token.attrGet("src") or ""))

    def image(self, url: str) -> str:
        """An image by its ``src``: the file (through the sheet's ``cs-image``), or a
        placeholder saying why it cannot be printed."""
        target = self.images.get(url)
        if target is None or target.kind == "external":
            return f"#missing[{REMOTE_IMAGE}: {escape(target.written if target else url)}]"
        if target.kind != "local":  # validation has reported it
            return f"#missing[图片缺失: {escape(target.written)}]"
        return f"#cs-image({typst_string('/' + target.file)})"


#: Placeholder of an image on the web: the sheet is printed offline.
REMOTE_IMAGE = "远程图片，离线无法打印"

#: Raw HTML tag -> the Typst function that wraps its content in the PDF.
HTML_WRAPPERS = {
    "b": "#strong",
    "strong": "#strong",
    "i": "#emph",
    "em": "#emph",
    "u": "#underline",
    "ins": "#underline",
    "s": "#strike",
    "del": "#strike",
    "strike": "#strike",
    "sub": "#sub",
    "sup": "#super",
    "mark": "#highlight",
    "kbd": "#kbd",
    "code": "#mono",
    "tt": "#mono",
}

#: Raw HTML tags that end a paragraph in the PDF.
HTML_BLOCKS = frozenset(
    {"p", "div", "details", "summary", "center", "li", "tr", "table", "blockquote", "hr"}
    | {f"h{n}" for n in range(1, 7)}
)


class _HtmlScope:
    """The raw HTML tags open in one run of inline nodes; the run closes what it opened, so
    a stray or unclosed tag in a note can never unbalance the Typst brackets."""

    def __init__(self) -> None:
        self.open: list[str] = []
        self.hidden = ""  # a <script>/<style> whose content the card drops

    def tag(self, renderer: TypstRenderer, content: str) -> str:
        out = []
        for tag in rawhtml.tags(content):
            name = tag.name
            if self.hidden:
                if name == "/" + self.hidden:
                    self.hidden = ""
            elif name in rawhtml.REMOVED:
                self.hidden = name
            elif name == "br":
                out.append("#linebreak()")
            elif name == "img":
                src = dict(tag.attrs).get("src", "")
                out.append(renderer.image(src) if src else "")
            elif name in HTML_WRAPPERS:
                self.open.append(name)
                out.append(f"{HTML_WRAPPERS[name]}[")
            elif name.startswith("/") and name[1:] in self.open:
                while self.open:
                    out.append("]")
                    if self.open.pop() == name[1:]:
                        break
        return "".join(out)

    def close(self) -> str:
        closing = "]" * len(self.open)
        self.open.clear()
        return closing


class _HtmlPrinter(HTMLParser):
    """A sanitised raw HTML block as Typst: its text, harmless inline markup, images."""

    def __init__(self, renderer: TypstRenderer) -> None:
        super().__init__(convert_charrefs=True)
        self.renderer = renderer
        self.out: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.out.append("#linebreak()")
        elif tag == "img":
            src = dict(attrs).get("src") or ""
            self.out.append(self.renderer.image(src) if src else "")
        elif tag in HTML_BLOCKS:
            self.out.append("\n\n")
        elif tag in HTML_WRAPPERS and tag not in self.open:
            self.open.append(tag)
            self.out.append(f"{HTML_WRAPPERS[tag]}[")

    def handle_endtag(self, tag: str) -> None:
        if tag in HTML_BLOCKS:
            self.out.append("\n\n")
        elif tag in self.open:
            while self.open:
                self.out.append("]")
                if self.open.pop() == tag:
                    break

    def handle_data(self, data: str) -> None:
        self.out.append(prose(" ".join(data.split()) if not data.strip() else data))

    def typst(self) -> str:
        return "".join(self.out) + "]" * len(self.open)


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
    "math_block": TypstRenderer._math_block,
    "math_block_label": TypstRenderer._math_block,
    "math_block_eqno": TypstRenderer._math_block,
}

#: Inline emphasis node type -> the Typst function that wraps its content.
WRAPPERS = {"strong": "#strong", "em": "#emph", "s": "#strike"}

#: Inline node type -> its Typst; a type not listed prints nothing.
INLINE: dict[str, Callable[[TypstRenderer, Node], str]] = {
    "text": TypstRenderer._text,
    "text_special": TypstRenderer._text,
    "math_inline": TypstRenderer._math,
    "math_single": TypstRenderer._math,
    "math_inline_double": TypstRenderer._math,
    "softbreak": lambda _r, _n: " ",
    "hardbreak": lambda _r, _n: "#linebreak()",
    "strong": TypstRenderer._wrapped,
    "em": TypstRenderer._wrapped,
    "s": TypstRenderer._wrapped,
    "code_inline": TypstRenderer._code_inline,
    "link": TypstRenderer._link,
    "image": TypstRenderer._image,
}
