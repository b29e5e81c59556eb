"""The Markdown parser and the HTML renderer: markdown-it-py, CJK-friendly, math, safe HTML.

Math (``$…$``, ``$$…$$``, ``\\(…\\)``, ``\\[…\\]``) is read verbatim by the markdown-it
authors' plugins and written as ``\\(…\\)`` / ``\\[…\\]``, which Anki's bundled MathJax
renders. Raw HTML is kept as written, and a card that has any is passed through the
allowlist sanitiser (``pipeline/rawhtml.py``) as a whole.

The renderer decides nothing: a code block's HTML and an image's verdict were made when
its note file was compiled (``pipeline/parse.py``) and are read from the tokens' ``meta``
and from the ``targets`` the compile step puts in the environment.
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from . import mathmd, rawhtml
from .cjk import cjk_friendly
from .mdimages import image_forms
from .records import Target, TargetKind

#: Placeholder text of an image that cannot be shown, by what the path rules found.
MISSING_IMAGE: Mapping[TargetKind, str] = {
    "missing": "图片缺失",
    "unreadable": "图片无法读取",
    "outside": "图片路径超出内容目录",
}


def escape_attr(text: str) -> str:
    """Text escaped the way the renderer writes attribute values."""
    return escapeHtml(text)


def missing_image_html(written: str, reason: str) -> str:
    """The visible placeholder shown instead of a broken image reference."""
    return f'<span class="missing-image">[{reason}: {escapeHtml(written)}]</span>'


_RAW = "raw_html"  # env key: the HTML being rendered holds raw HTML and must be sanitised


def _raw_html(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, env: Any) -> str:
    # Kept as written here; render_blocks/render_inline sanitise the whole card's HTML, since
    # an inline tag and its end tag are separate tokens.
    env[_RAW] = True
    html = tokens[idx].content
    if tokens[idx].type == "html_block" and html.rfind("<!--") > html.rfind("-->"):
        # A comment never closed ends with its list item or quote, as Markdown reads it
        # (the checks say so); a browser's parser would hide the rest of the card in it.
        html += "-->\n"
    return html


def _code(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, _e: Any) -> str:
    return str(tokens[idx].meta["html"])  # highlighted when the note file was compiled


def _image(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, env: Any) -> str:
    tok = tokens[idx]
    url = str(tok.attrGet("src") or "")
    alt = escapeHtml("".join(c.content for c in tok.children or ()))
    target: Target | None = env.get("images", {}).get(url)
    if target is not None and target.kind in MISSING_IMAGE:
        return missing_image_html(target.written, MISSING_IMAGE[target.kind])
    return f'<img src="{escape_attr(url)}" alt="{alt}">'


#: The element name of a start or end tag (None for a comment, ``<!DOCTYPE>``, ``<?…?>``).
_TAG_NAME = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)")
#: Elements that have no end tag (HTML's void elements).
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
    | {"track", "wbr", "param", "keygen"}
)


def _unknown_tag(html: str) -> bool:
    """Whether raw HTML opens with a tag of no HTML element (``<String>``, ``</cache>``)."""
    found = _TAG_NAME.match(html)
    return found is not None and found.group(2).lower() not in rawhtml.ELEMENTS


def _unpaired(children: Sequence[Token]) -> set[int]:
    """The indexes of the inline HTML tags among ``children`` that are no markup: of no
    HTML element, or a start tag never ended there, or an end tag never started
    (``Optional<Object>``, ``List<Map>``: a type's parameter, which a browser would take
    for an element and hide, with all that follows it)."""
    tags = [
        (i, found.group(1) == "/", found.group(2), child.content.rstrip().endswith("/>"))
        for i, child in enumerate(children)
        if child.type == "html_inline" and (found := _TAG_NAME.match(child.content))
    ]
    unpaired = {i for i, _end, name, _closed in tags if name.lower() not in rawhtml.ELEMENTS}
    open_tags: dict[str, list[tuple[int, str]]] = {}  # element -> its start tags still open
    for i, end, name, closed in tags:
        if i in unpaired or name.lower() in _VOID or closed:
            continue
        if not end:
            open_tags.setdefault(name.lower(), []).append((i, name))
        elif open_tags.get(name.lower()):
            open_tags[name.lower()].pop()
        elif _not_markup(name):
            unpaired.add(i)
    unpaired.update(i for left in open_tags.values() for i, name in left if _not_markup(name))
    return unpaired


def _not_markup(name: str) -> bool:
    """Whether a tag of ``name``, never ended (or never started), is no markup: written
    with a capital (``Object``, ``Map``: a type), or one that would hide all after it
    (``object``, ``script``). An ``<sub>`` left open is a slip, and stays markup."""
    return name != name.lower() or name.lower() in rawhtml.REMOVED


def unknown_tags_as_text(state: Any) -> None:
    """A markdown-it core rule: raw HTML that is no markup its author meant is shown as
    written: an inline tag of no HTML element, or one never ended (or never started) in
    its paragraph, as text (``List<String>``, ``Optional<Object>``); an HTML block that
    opens with a tag of no HTML element (an XML configuration pasted without a fence) as
    code. CommonMark reads any tag name as raw HTML (section 6.6), and a card showed
    ``List`` and nothing of ``<cache></cache>`` (the twenty-second and twenty-fourth
    trials)."""
    for tok in state.tokens:
        if "<" not in tok.content:
            continue  # most blocks: no tag to look at (3 % of a parse otherwise)
        if tok.type == "html_block" and _unknown_tag(tok.content.lstrip()):
            tok.type, tok.tag = "code_block", "code"
        elif tok.children:
            for i in _unpaired(tok.children):
                tok.children[i].type = "text"


#: Levels of block tokens markdown-it reads (its ``maxNesting``): a list item takes two, a
#: block quote one. Deeper lines are skipped without a word (the commonmark preset's 20
#: lost the tenth list inside a list: the eleventh trial), so the scans say so
#: (:func:`pipeline.contentscan.too_deep`). 100 (the default preset's) parses 2,000 lists
#: inside each other in 0.5 s without nearing Python's recursion limit.
MAX_LEVELS = 100


@lru_cache(maxsize=1)
def markdown() -> MarkdownIt:
    """The one configured parser/renderer, built once per process."""
    md = MarkdownIt("commonmark", {"html": True, "maxNesting": MAX_LEVELS})
    md.enable(["table", "strikethrough"])
    md.use(cjk_friendly)
    md.use(mathmd.math_plugin)
    md.use(image_forms)
    md.core.ruler.after("inline", "unknown_tags_as_text", unknown_tags_as_text)
    md.add_render_rule("html_block", _raw_html)
    md.add_render_rule("html_inline", _raw_html)
    md.add_render_rule("fence", _code)
    md.add_render_rule("code_block", _code)
    md.add_render_rule("image", _image)
    return md


def render_blocks(tokens: Sequence[Token], env: dict[str, Any]) -> str:
    """HTML of a run of block tokens."""
    md = markdown()
    env[_RAW] = False
    return _safe(str(md.renderer.render(tokens, md.options, env)), env)


def render_inline(children: Sequence[Token], env: dict[str, Any]) -> str:
    """HTML of an inline token's children (a question)."""
    md = markdown()
    env[_RAW] = False
    html = str(md.renderer.renderInline(children, md.options, env))  # type: ignore[attr-defined]
    return _safe(html, env)


def _safe(html: str, env: dict[str, Any]) -> str:
    """The HTML, sanitised when raw HTML went into it (most cards have none and skip it).

    A raw ``<img>`` whose file is missing becomes the same placeholder as a Markdown one.
    """
    if not env.pop(_RAW, False):
        return html
    html = rawhtml.sanitise(html)
    images: Mapping[str, Target] = env.get("images", {})
    if "<img" in html and any(t.kind in MISSING_IMAGE for t in images.values()):
        html = _IMG.sub(lambda m: _placeholder(m, images), html)
    return html


_IMG = re.compile(r'<img\b[^>]*?\bsrc="([^"]*)"[^>]*>')


def _placeholder(match: re.Match[str], images: Mapping[str, Target]) -> str:
    target = images.get(html_lib.unescape(match.group(1)))
    if target is None or target.kind not in MISSING_IMAGE:
        return match.group()
    return missing_image_html(target.written, MISSING_IMAGE[target.kind])
