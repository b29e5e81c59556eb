"""The two image forms people paste most that CommonMark does not read, read as images.

- Obsidian embeds of an image, ``![[Pasted image 20240101.png]]`` (``|300`` after the name
  sets a width in Obsidian and is ignored here; ``![[another note]]`` is not an image).
  Obsidian finds the file anywhere in the vault, so the token is marked ``meta["embed"]``
  and the path rules look it up by name when it is not beside the note.
- A destination with a bare space, ``![图](模型 结构.png)``: CommonMark wants ``<模型 结构.png>``
  or ``%20``, and leaves the whole thing as text. Only a destination ending in an image
  extension is taken, so prose in brackets and parentheses stays prose.

Both become the ordinary ``image`` token, so every output treats them like ``![](…)``.
"""

from __future__ import annotations

import re

from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

_EXTENSIONS = r"(?:png|jpe?g|gif|webp|svg|bmp|avif|tiff?)"
_EMBED = re.compile(
    r"!\[\[([^\[\]|\n]+?\." + _EXTENSIONS + r")(?:\|[^\[\]\n]*)?\]\]", re.IGNORECASE
)
_SPACED = re.compile(
    r"!\[([^\[\]\n]*)\]\(([^()<>\n\"]*?[ \t][^()<>\n\"]*?\." + _EXTENSIONS + r")\)", re.IGNORECASE
)


def _push_image(state: StateInline, src: str, alt: str, end: int, embed: bool) -> None:
    children: list[Token] = []
    state.md.inline.parse(alt, state.md, state.env, children)
    token = state.push("image", "img", 0)
    token.attrs = {"src": state.md.normalizeLink(src.strip()), "alt": ""}
    token.children = children
    token.content = alt
    if embed:
        token.meta["embed"] = True
    state.pos = end


def _embed(state: StateInline, silent: bool) -> bool:
    if not state.src.startswith("![[", state.pos):
        return False
    match = _EMBED.match(state.src, state.pos)
    if not match:
        return False
    if not silent:
        name = match.group(1).strip()
        _push_image(state, name, name.rsplit("/", 1)[-1], match.end(), embed=True)
    else:
        state.pos = match.end()
    return True


def _spaced(state: StateInline, silent: bool) -> bool:
    if not state.src.startswith("![", state.pos):
        return False
    match = _SPACED.match(state.src, state.pos)
    if not match:
        return False
    if not silent:
        _push_image(state, match.group(2), match.group(1), match.end(), embed=False)
    else:
        state.pos = match.end()
    return True


def image_forms(md: MarkdownIt) -> None:
    """Plugin: Obsidian embeds and space-containing image destinations as images."""
    md.inline.ruler.before("image", "obsidian_embed", _embed)
    md.inline.ruler.before("image", "spaced_image", _spaced)
