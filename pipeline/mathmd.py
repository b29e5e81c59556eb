"""Math in Markdown: ``$…$``, ``$$…$$``, ``\\(…\\)`` and ``\\[…\\]``, read verbatim.

The markdown-it authors' plugins (``mdit-py-plugins``) do the reading: ``dollarmath`` with
the rules against prices (no space inside the dollars, no digit outside them, so
``$5 and $10`` stays text) and ``texmath`` for the bracket forms. Inside math there is no
emphasis and no backslash escape, so ``$Q^*(s,a)$ … $V^*(s)$`` and ``\\left\\{`` arrive intact.

Every math token gets ``meta["display"]`` (a block formula or an inline one) and is written
for Anki as ``\\(…\\)`` or ``\\[…\\]``, which its bundled MathJax renders on every platform.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.rules_core import StateCore
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import OptionsDict
from mdit_py_plugins.dollarmath import dollarmath_plugin
from mdit_py_plugins.dollarmath.index import math_inline_dollar
from mdit_py_plugins.texmath import texmath_plugin

#: Every token type the two plugins emit, and whether it is a display (block) formula.
MATH_TOKENS = {
    "math_inline": False,
    "math_single": False,
    "math_inline_double": True,
    "math_block": True,
    "math_block_label": True,
    "math_block_eqno": True,
}

_PROSE_PUNCTUATION = re.compile("[，。；：！？、]")

InlineRule = Callable[[StateInline, bool], bool]


def _digit_safe(strict: InlineRule, lenient: InlineRule) -> InlineRule:
    """The ``$`` rule with dollarmath's ``pos == 0`` bug worked around.

    With ``allow_digits=False`` the plugin looks at ``src[pos - 1]`` for a digit before the
    opening ``$``; at ``pos == 0`` Python reads the *last* character, so ``$x_i$ costs 5``
    was not math. At the start of the text nothing precedes the ``$``: the lenient rule
    parses it, and the match is undone when a digit follows the closing ``$``.
    """

    def rule(state: StateInline, silent: bool) -> bool:
        start, count, pending = state.pos, len(state.tokens), state.pending
        if not (lenient if start == 0 else strict)(state, silent):
            return False
        digit_after = start == 0 and state.pos < state.posMax and state.src[state.pos].isdigit()
        # ``价格是$5，而$x$是变量``: the plugin pairs the price's ``$`` with the formula's.
        # Chinese punctuation is prose, never TeX, so such a "formula" is text.
        if digit_after or _PROSE_PUNCTUATION.search(state.src, start, state.pos):
            # Undone: pushing the math token had turned the pending text into a token.
            state.pos, state.pending = start, pending
            del state.tokens[count:]
            return False
        return True

    return rule


def _html(_r: Any, tokens: Sequence[Token], idx: int, _o: OptionsDict, _env: Any) -> str:
    tok = tokens[idx]
    tex = escapeHtml(tok.content.strip())
    if MATH_TOKENS[tok.type]:
        return f"\\[{tex}\\]" if tok.type == "math_inline_double" else f"<p>\\[{tex}\\]</p>\n"
    return f"\\({tex}\\)"


def _place_bracket_blocks(state: StateCore) -> None:
    """Give the ``\\[…\\]`` blocks their lines: ``texmath`` makes them without a source map,
    where every other block has one (an answer's lines and every warning read it). Each
    starts at the first line holding ``\\[`` after the block before it, and ends with the
    line holding ``\\]``."""
    tokens = state.tokens
    if not any(tok.map is None and tok.block and tok.type in MATH_TOKENS for tok in tokens):
        return
    lines = state.src.split("\n")
    after, ends = 0, []  # the open containers' last lines
    for tok in tokens:
        if tok.nesting == 1:
            ends.append(tok.map[1] if tok.map else after)
            after = tok.map[0] if tok.map else after
        elif tok.nesting == -1:
            after = ends.pop() if ends else after
        elif tok.map:
            after = tok.map[1]
        elif tok.block and tok.type in MATH_TOKENS:
            start = next((i for i in range(after, len(lines)) if "\\[" in lines[i]), after)
            end = next((i for i in range(start, len(lines)) if "\\]" in lines[i]), start)
            tok.map, after = [start, end + 1], end + 1


def math_plugin(md: MarkdownIt) -> None:
    """Plugin: the four math forms, rendered for Anki's MathJax."""
    # A ``$$`` that never closes must not make parsing quadratic: no blank lines inside.
    dollarmath_plugin(
        md, allow_space=False, allow_digits=False, double_inline=True, allow_blank_lines=False
    )
    strict = math_inline_dollar(allow_space=False, allow_digits=False, allow_double=True)
    lenient = math_inline_dollar(allow_space=False, allow_digits=True, allow_double=True)
    md.inline.ruler.at("math_inline", _digit_safe(strict, lenient))
    texmath_plugin(md, delimiters="brackets")
    md.core.ruler.after("block", "math_block_lines", _place_bracket_blocks)
    # Both plugins render the same token types, whichever came last for both: ours instead.
    for name in MATH_TOKENS:
        md.add_render_rule(name, _html)


def is_display(tok: Token) -> bool:
    """True for a formula set on its own line."""
    return MATH_TOKENS[tok.type]
