"""TeX math -> Typst math, for the PDF: ``tex2typst``, checked by Typst itself.

``tex2typst`` (the JS converter of that name, run in an embedded QuickJS: no node) had the
best fidelity of the converters measured on interview-note formulas
(shared/research/libraries-math-html-images.md): it alone set the columns of an ``array``
apart. Its strict mode rejects ``\\max`` and other common operators, so it runs leniently,
and what it passes through unknown (``\\boxed``, ``\\color``, a typo) is caught by letting
Typst evaluate every converted formula of a note file in one call (about 20 ms for a
thousand); only when that fails is each formula evaluated alone. A formula that does not
convert or does not evaluate is None: the sheet prints its TeX source instead, with a
warning at its line, and one formula never stops the sheet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

#: ``\|x\|`` (a norm): converted as two loose bars, set apart from ``x``; ``\left\|x\right\|``
#: becomes Typst's ``norm(x)``, set tight.
_NORM = re.compile(r"\\\|(.+?)\\\|")


def _convert(tex: str) -> str | None:
    from tex2typst import tex2typst  # loads the JS bundle once, on the first formula

    if "\\|" in tex and "\\left\\|" not in tex and "\\right\\|" not in tex:
        tex = _NORM.sub(r"\\left\\|\1\\right\\|", tex)
    try:
        converted = tex2typst(tex, non_strict=True)
    except Exception:  # the converter's errors are plain ValueErrors; any failure: verbatim
        return None
    return converted if isinstance(converted, str) and converted.strip() else None


def _evaluates(expression: str) -> bool:
    import typst

    try:
        # No fonts needed: an unknown name or a bad argument fails at evaluation.
        typst.eval(b"", expression, ignore_system_fonts=True)
    except Exception:  # TypstError, or anything else typst-py raises: not printable
        return False
    return True


def convert_all(formulas: Iterable[str]) -> Mapping[str, str | None]:
    """Each distinct TeX formula (stripped, without delimiters) -> Typst math, or None."""
    converted = {tex: _convert(tex) for tex in dict.fromkeys(f.strip() for f in formulas) if tex}
    good = [(tex, math) for tex, math in converted.items() if math is not None]
    if good and not _evaluates("(" + ", ".join(f"${math}$" for _, math in good) + ",)"):
        for tex, math in good:
            if not _evaluates(f"${math}$"):
                converted[tex] = None
    return converted
