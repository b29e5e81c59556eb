"""The one Anki note type: its fixed id, name and fields, and its CSS and templates.

The id, name and fields are a public contract (Anki would create a second note type and
refuse every update if they changed). The CSS and templates may change with any cardsmith
version; their hash is kept in the lock file so that a change reaches Anki.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

from . import resources
from .highlight import stylesheet

TEMPLATES = resources.anki_templates()
MODEL_ID = 1607392319
MODEL_NAME = "cardsmith Q&A"
FIELDS = ("Question", "Answer", "Source", "ID")


@dataclass(frozen=True)
class NoteTypeLook:
    """The note type's parts that may change: CSS and card templates."""

    css: str
    """The stylesheet, Pygments palettes included."""
    qfmt: str
    """Front template (Anki ``{{Field}}`` syntax)."""
    afmt: str
    """Back template."""

    @property
    def digest(self) -> str:
        """sha256 of CSS and templates: it changes exactly when Anki must update the type."""
        text = "\x1f".join((self.css, self.qfmt, self.afmt))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def current_look() -> NoteTypeLook:
    """CSS and templates as this version of cardsmith ships them."""
    return NoteTypeLook(
        css=_template("style.css") + "\n" + stylesheet(),
        qfmt=_template("front.html"),
        afmt=_template("back.html"),
    )
