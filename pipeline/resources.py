"""The files cardsmith reads at run time, found through ``importlib.resources``.

The templates stay at the top of the repository (``templates/``) and are installed as the
package ``pipeline.templates`` (see ``pyproject.toml``), so the same calls work from a
wheel, a ``pipx`` install and an editable checkout.
"""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable


def anki_templates() -> Traversable:
    """Folder of the note type's ``front.html``, ``back.html`` and ``style.css``."""
    return files("pipeline.templates").joinpath("anki")


def pdf_template() -> Traversable:
    """The cheat sheet's Typst template."""
    return files("pipeline.templates").joinpath("pdf", "cheatsheet.typ")


def init_files() -> Traversable:
    """Folder of the starter files ``cardsmith init`` copies (dotfiles without their dot)."""
    return files("pipeline.templates").joinpath("init")


def preview_files() -> Traversable:
    """Folder of the preview page's script and style, and the vendored MathJax."""
    return files("pipeline.templates").joinpath("preview")


def cards_schema() -> Traversable:
    """The JSON schema of ``cards.json``."""
    return files("pipeline").joinpath("schema", "cards.schema.json")
