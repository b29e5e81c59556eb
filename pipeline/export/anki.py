"""The Anki package: one note type, a deck per section, media named by content hash.

Updates must apply and builds must reproduce, so nothing here reads the clock: every
note carries the modification time the identity stage chose (newer exactly when its
content changed), ids derive from those times, and the zip entries have fixed dates.
"""

from __future__ import annotations

import hashlib
import html
import io
import itertools
import json
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import genanki
from genanki.apkg_col import APKG_COL
from genanki.apkg_schema import APKG_SCHEMA

from ..errors import ConfigError, ExportCheckError
from ..highlight import stylesheet
from ..records import Card
from ..render import escape_attr, is_external, readable_image
from .data import BuildData

TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "anki"

#: The note type is a public contract: its id and fields never change (Anki would create a
#: second note type and refuse every update). CSS and template HTML may change freely.
MODEL_ID = 1607392319
MODEL_NAME = "cardsmith Q&A"
FIELDS = ("Question", "Answer", "Source", "ID")
UNANSWERED = '<p class="cs-unanswered">（尚未作答）</p>'
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def note_model() -> genanki.Model:
    """The one note type, with the Pygments palettes inside its CSS."""
    return genanki.Model(
        MODEL_ID,
        MODEL_NAME,
        fields=[{"name": name} for name in FIELDS],
        templates=[
            {"name": "Card 1", "qfmt": _template("front.html"), "afmt": _template("back.html")}
        ],
        css=_template("style.css") + "\n" + stylesheet(),
        sort_field_index=0,
    )


def deck_id(name: str) -> int:
    """A stable deck id from the deck's name (Anki matches decks by name anyway)."""
    return (1 << 30) + int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:12], 16) % (1 << 30)


class _Note(genanki.Note):  # type: ignore[misc]
    """A genanki note that carries its own modification time instead of the build's."""

    def __init__(self, mod: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mod = mod

    def write_to_db(self, cursor: Any, timestamp: float, deck_id: int, id_gen: Any) -> None:
        super().write_to_db(cursor, self.mod, deck_id, id_gen)


@dataclass(frozen=True)
class Medium:
    """An image packed into the package."""

    name: str
    """Name in Anki's flat media folder: content hash plus the original extension."""
    data: bytes
    """The file's bytes."""


def _media_for(card: Card, root: Path, media: dict[str, Medium]) -> str:
    """The card's answer HTML with every packed image pointing at its media name."""
    note_dir = (root / card.source.path).parent
    answer = card.answer_html
    for ref in card.references:
        path = readable_image(ref.target, note_dir, root) if ref.image else None
        if path is None:
            continue  # the renderer already shows a placeholder; nothing outside is read
        data = path.read_bytes()
        name = hashlib.sha256(data).hexdigest()[:20] + path.suffix.lower()
        media.setdefault(name, Medium(name, data))
        answer = answer.replace(f'src="{escape_attr(ref.target)}"', f'src="{name}"')
    return answer


def package_name(data: BuildData) -> str:
    """File name of the package; never one Anki treats as a full collection restore."""
    name = data.config.package_name
    if name == "collection" or name.startswith("backup-") or "/" in name:
        raise ConfigError(f"package_name {name!r} would make Anki replace the whole collection")
    return f"{name}.apkg"


def _source(card: Card) -> str:
    where = " · ".join(
        part for part in (card.deck[1] if len(card.deck) > 1 else "", card.section) if part
    )
    return html.escape(f"{card.source.path} — {where}" if where else card.source.path)


def build_package(data: BuildData) -> tuple[bytes, int, dict[str, Medium]]:
    """The .apkg bytes, the number of notes and the media packed."""
    model = note_model()
    root = data.config.content.resolve()
    decks: dict[str, genanki.Deck] = {}
    media: dict[str, Medium] = {}
    count = 0
    mods = [m.mod for m in data.matches] or [0]
    for card, match in data.notes:
        name = "::".join(card.deck)
        deck = decks.setdefault(name, genanki.Deck(deck_id(name), name))
        answer = _media_for(card, root, media) if card.answered else UNANSWERED
        deck.add_note(
            _Note(
                match.mod,
                model=model,
                guid=card.id,
                tags=list(card.tags),
                fields=[card.question_html, answer, _source(card), card.id],
            )
        )
        count += 1
    blob = _write(decks.values(), model, media, model_mod=max(mods))
    return blob, count, media


def _write_db(cursor: Any, decks: list[genanki.Deck], model: genanki.Model, mod: int) -> None:
    """The collection database, with each deck's and the model's JSON written once.

    genanki's own ``Deck.write_to_db`` rewrites the JSON of every deck once per deck:
    quadratic with a deck per section (5,000 decks at 100k questions).
    """
    cursor.executescript(APKG_SCHEMA)
    cursor.executescript(APKG_COL)
    (decks_json,) = cursor.execute("SELECT decks FROM col").fetchone()
    all_decks = json.loads(decks_json)
    all_decks.update({str(d.deck_id): d.to_json() for d in decks})
    (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
    models = json.loads(models_json)
    models[str(model.model_id)] = model.to_json(mod, decks[0].deck_id if decks else 1)
    cursor.execute(
        "UPDATE col SET decks = ?, models = ?", (json.dumps(all_decks), json.dumps(models))
    )
    # Note and card ids derive from the newest modification time: fixed for fixed input.
    ids = itertools.count(mod * 1000)
    for deck in decks:
        for note in deck.notes:
            note.write_to_db(cursor, mod, deck.deck_id, ids)


def _write(
    decks: Iterable[genanki.Deck], model: genanki.Model, media: dict[str, Medium], model_mod: int
) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "collection.anki2"
        conn = sqlite3.connect(db_path)
        cursor = conn.cursor()
        _write_db(cursor, list(decks), model, model_mod)
        conn.commit()
        conn.close()
        db = db_path.read_bytes()
    names = sorted(media)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        entries = [
            ("collection.anki2", db),
            ("media", json.dumps({str(i): n for i, n in enumerate(names)}).encode()),
        ]
        entries += [(str(i), media[n].data) for i, n in enumerate(names)]
        for entry, payload in entries:
            info = zipfile.ZipInfo(entry, date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, payload, compresslevel=1)
    return out.getvalue()


_SRC = re.compile(r'<img src="([^"]+)"')


def self_check(blob: bytes, expected_notes: int, expected_guids: Iterable[str]) -> None:
    """Read the package back: note count, unique guids, every image reference packed."""
    with zipfile.ZipFile(io.BytesIO(blob)) as zf, tempfile.TemporaryDirectory() as tmp:
        media = json.loads(zf.read("media"))
        missing_files = [idx for idx in media if idx not in zf.namelist()]
        db_path = Path(tmp) / "c.anki2"
        db_path.write_bytes(zf.read("collection.anki2"))
        conn = sqlite3.connect(db_path)
        try:
            guids = [g for (g,) in conn.execute("SELECT guid FROM notes")]
            fields = [f for (f,) in conn.execute("SELECT flds FROM notes")]
        finally:
            conn.close()
    problems = []
    if len(guids) != expected_notes:
        problems.append(f"{len(guids)} notes written, {expected_notes} expected")
    if len(set(guids)) != len(guids):
        problems.append("two notes share a guid")
    if set(guids) != set(expected_guids):
        problems.append("note guids differ from the card ids")
    if missing_files:
        problems.append(f"media entries without files: {missing_files}")
    packed = set(media.values())
    unpacked = {
        src for f in fields for src in _SRC.findall(f) if not is_external(html.unescape(src))
    } - packed
    if unpacked:
        problems.append(f"images referenced but not packed: {sorted(unpacked)}")
    if problems:
        raise ExportCheckError("the Anki package failed its self-check: " + "; ".join(problems))


def export(data: BuildData) -> dict[str, bytes]:
    """``<package_name>.apkg``, checked after it is made."""
    name = package_name(data)
    blob, count, _media = build_package(data)
    self_check(blob, count, [card.id for card, _ in data.notes])
    return {name: blob}
