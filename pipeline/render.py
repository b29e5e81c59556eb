"""The Markdown parser and the HTML renderer: markdown-it-py, CJK-friendly, raw HTML escaped.

The renderer decides nothing: a code block's HTML and an image's verdict were made when
its note file was compiled (``pipeline/parse.py``) and are read from the tokens' ``meta``
and from the ``targets`` the compile step puts in the environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from .cjk import cjk_friendly
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


def _escape_raw_html(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, _e: Any) -> str:
    # Raw HTML is shown as text: no markup (and no <script>) from the notes reaches a card.
    return escapeHtml(tokens[idx].content)


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


@lru_cache(maxsize=1)
def markdown() -> MarkdownIt:
    """The one configured parser/renderer, built once per process."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.use(cjk_friendly)
    md.add_render_rule("html_block", _escape_raw_html)
    md.add_render_rule("html_inline", _escape_raw_html)
    md.add_render_rule("fence", _code)
    md.add_render_rule("code_block", _code)
    md.add_render_rule("image", _image)
    return md


def render_blocks(tokens: Sequence[Token], env: dict[str, Any]) -> str:
    """HTML of a run of block tokens."""
    md = markdown()
    return str(md.renderer.render(tokens, md.options, env))


def render_inline(children: Sequence[Token], env: dict[str, Any]) -> str:
    """HTML of an inline token's children (a question)."""
    md = markdown()
    return str(md.renderer.renderInline(children, md.options, env))  # type: ignore[attr-defined]
