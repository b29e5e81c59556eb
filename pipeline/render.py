"""The Markdown renderer: markdown-it-py, CJK-friendly, raw HTML escaped, code highlighted."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markdown_it.utils import OptionsDict

from .cjk import cjk_friendly
from .highlight import highlight_html

_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def is_external(target: str) -> bool:
    """True for URLs (``https:``, ``mailto:``, ``data:``) and in-page anchors."""
    return bool(_SCHEME.match(target)) or target.startswith("#") or target.startswith("//")


def resolve_local(target: str, note_dir: Path, root: Path) -> tuple[Path, bool]:
    """The file a relative target names, and whether it stays inside the content folder."""
    path_part = unquote(target.split("#", 1)[0].split("?", 1)[0])
    candidate = Path(path_part)
    resolved = (candidate if candidate.is_absolute() else note_dir / candidate).resolve()
    inside = resolved == root or root in resolved.parents
    return resolved, inside


def readable_image(target: str, note_dir: Path, root: Path) -> Path | None:
    """The file of a local image that may be read: inside the content folder and present."""
    if not target or is_external(target):
        return None
    path, inside = resolve_local(target, note_dir, root)
    return path if inside and path.is_file() else None


def escape_attr(text: str) -> str:
    """Text escaped the way the renderer writes attribute values."""
    return escapeHtml(text)


def missing_image_html(target: str, reason: str) -> str:
    """The visible placeholder shown instead of a broken image reference."""
    return f'<span class="missing-image">[{reason}: {escapeHtml(target)}]</span>'


def _escape_raw_html(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, _e: Any) -> str:
    # Raw HTML is shown as text: no markup (and no <script>) from the notes reaches a card.
    return escapeHtml(tokens[idx].content)


def _fence(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, _e: Any) -> str:
    tok = tokens[idx]
    language = tok.meta.get("language", tok.info.split(maxsplit=1)[0] if tok.info else "")
    return highlight_html(tok.content, language)


def _code_block(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, _e: Any) -> str:
    return highlight_html(tokens[idx].content, "")


def _image(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, env: Any) -> str:
    tok = tokens[idx]
    target = str(tok.attrGet("src") or "")
    alt = escapeHtml("".join(c.content for c in tok.children or ()))
    if not is_external(target) and "note_dir" in env:
        path, inside = resolve_local(target, env["note_dir"], env["root"])
        if not inside:
            return missing_image_html(target, "图片路径超出内容目录")
        if not path.is_file():
            return missing_image_html(target, "图片缺失")
    return f'<img src="{escape_attr(target)}" alt="{alt}">'


@lru_cache(maxsize=1)
def markdown() -> MarkdownIt:
    """The one configured parser/renderer, built once per process."""
    md = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    md.use(cjk_friendly)
    md.add_render_rule("html_block", _escape_raw_html)
    md.add_render_rule("html_inline", _escape_raw_html)
    md.add_render_rule("fence", _fence)
    md.add_render_rule("code_block", _code_block)
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
