"""The Anki package: one note type, a deck per section, media named by content hash.

Updates must apply and builds must reproduce, so nothing here reads the clock: every
note carries the modification time the identity stage chose (newer exactly when its
content changed), ids derive from those times, and the zip entries have fixed dates.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import os
import re
import shutil
import sqlite3
import tempfile
import zipfile
import zlib
from collections.abc import Iterator, Sequence, Set
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import EnvironmentProblem, ExportCheckError, FileProblem, quoted
from ..notetype import FIELDS as FIELDS
from ..notetype import MODEL_ID as MODEL_ID
from ..notetype import MODEL_NAME as MODEL_NAME
from ..notetype import current_look
from ..paths import is_external, read_regular
from ..records import BuildData, Card
from ..render import escape_attr
from .outputs import Outputs

if TYPE_CHECKING:  # imported where a package is made: 15 ms of every start (a sync's too)
    import genanki

UNANSWERED = '<p class="cs-unanswered">（尚未作答）</p>'
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_DATABASE = "collection.anki2"  # in the scratch folder
_PAGE_SIZE = 65536  # bytes, SQLite's largest
_NEW_CARD = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "")


def note_model() -> genanki.Model:
    """The one note type (:mod:`pipeline.notetype`), with the Pygments palettes in its CSS."""
    import genanki

    look = current_look()
    return genanki.Model(
        MODEL_ID,
        MODEL_NAME,
        fields=[{"name": name} for name in FIELDS],
        templates=[{"name": "Card 1", "qfmt": look.qfmt, "afmt": look.afmt}],
        css=look.css,
        sort_field_index=0,
    )


def deck_id(name: str) -> int:
    """A stable deck id from the deck's name (Anki matches decks by name anyway)."""
    return (1 << 30) + int(hashlib.sha256(name.encode("utf-8")).hexdigest()[:12], 16) % (1 << 30)


@dataclass(frozen=True)
class _NoteRow:
    """One note as it goes into the package's ``notes`` table."""

    guid: str
    """The card's stable id."""
    mod: int
    """The note's own modification time, from the lock file (never the build's clock)."""
    tags: str
    """Space-separated, with a space at each end, as Anki stores them."""
    fields: tuple[str, ...]
    """The field values, in the order of :data:`FIELDS`."""


@dataclass(frozen=True)
class Medium:
    """An image to pack into the package (or to add to a collection's media folder)."""

    name: str
    """Name in Anki's flat media folder: a hash of its bytes plus its suffix (paths.py)."""
    file: Path
    """The image file inside the content folder; read only when it is packed."""

    def data(self) -> bytes:
        """The file's bytes; :class:`FileProblem` when it cannot be read any more."""
        try:
            return read_regular(self.file)  # replaced by a named pipe since: no waiting
        except OSError as exc:
            raise FileProblem("read the image", self.file, exc) from exc


def note_fields(card: Card, root: Path, media: dict[str, Medium]) -> tuple[str, ...]:
    """The note's fields, in :data:`FIELDS` order, with every image under its media name.

    The path rules named each found image's media file when the note was compiled; here
    its ``src`` is pointed at that name in every field, and the file is noted in ``media``.
    """
    question, answer = card.question_html, card.answer_html if card.answered else UNANSWERED
    for target in card.targets:
        if target.media:
            media.setdefault(target.media, Medium(target.media, root / target.file))
            src = f'src="{escape_attr(target.url)}"'
            question = question.replace(src, f'src="{target.media}"')
            answer = answer.replace(src, f'src="{target.media}"')
    return question, answer, _source(card), card.id


def package_name(data: BuildData) -> str:
    """File name of the package (the configuration rejects names Anki would restore from)."""
    return f"{data.config.package_name}.apkg"


def _source(card: Card) -> str:
    return _source_html(card.source.path, card.deck.file_title, card.deck.section)


@lru_cache(maxsize=1024)  # the same for every card of a section
def _source_html(path: str, file_title: str, section: str) -> str:
    where = " · ".join(part for part in (file_title, section) if part)
    return html.escape(f"{path} — {where}" if where else path)


def _prepare(data: BuildData, tmp: Path) -> tuple[Path, list[str], dict[str, Medium]]:
    """The package's database, written in the scratch folder ``tmp``: its path, the guids
    it must hold, and the media its notes show, by name. Not checked yet (:func:`export`
    checks it beside the zip's compression)."""
    model = note_model()
    root = data.config.content.resolve()
    decks: dict[str, list[_NoteRow]] = {}
    media: dict[str, Medium] = {}
    mods = [card.matched.mod for card in data.cards] or [0]
    # A watch's rows of its last build, by the card they were made from (a card carried over
    # by the identity stage is the same object, so its row is the same); a card showing an
    # image is made again, to name its media.
    kept = data.kept.setdefault("anki", {}) if data.kept is not None else {}
    made = {}
    for card in data.notes:
        held = kept.get(id(card))
        if held is None or held[0] is not card:
            fields = note_fields(card, root, media)
            tags = " " + " ".join(card.tags) + " "
            held = (card, _NoteRow(card.id, card.matched.mod, tags, fields))
            if not any(target.media for target in card.targets):
                made[id(card)] = held
        else:
            made[id(card)] = held
        decks.setdefault(card.deck.path, []).append(held[1])
    if data.kept is not None:
        data.kept["anki"] = made
    db_path = _database(tmp, decks, model, max(*mods, data.note_type_mod))
    return db_path, _guids(decks), media


def _guids(decks: dict[str, list[_NoteRow]]) -> list[str]:
    """The guids the package's database must hold, deck by deck."""
    return [row.guid for rows in decks.values() for row in rows]


def write_package(
    out: BinaryIO,
    decks: dict[str, list[_NoteRow]],
    model: genanki.Model,
    media: dict[str, Medium],
    model_mod: int,
) -> None:
    """A package of the given rows (deck name -> its notes), database checked, into ``out``."""
    with _scratch() as tmp:
        db_path = _database(tmp, decks, model, model_mod)
        _raise(database_problems(db_path, _guids(decks), set(media)))
        _pack(tmp, media, out)


def _write_db(
    cursor: Any, decks: dict[str, list[_NoteRow]], model: genanki.Model, mod: int
) -> None:
    """The collection database: deck and model JSON written once, notes and cards in bulk.

    genanki's own ``Deck.write_to_db`` rewrites the JSON of every deck once per deck
    (quadratic with a deck per section: 5,000 decks at 100k questions), and its notes
    insert one row at a time after checks that cost more than the insert. Its schema, its
    collection row and its deck and model JSON are used as they are.
    """
    import genanki
    from genanki.apkg_col import APKG_COL
    from genanki.apkg_schema import APKG_SCHEMA

    cursor.executescript(APKG_SCHEMA)
    cursor.executescript(APKG_COL)
    ids_of = {name: deck_id(name) for name in decks}
    (decks_json,) = cursor.execute("SELECT decks FROM col").fetchone()
    all_decks = json.loads(decks_json)
    all_decks.update({str(i): genanki.Deck(i, name).to_json() for name, i in ids_of.items()})
    (models_json,) = cursor.execute("SELECT models FROM col").fetchone()
    models = json.loads(models_json)
    models[str(model.model_id)] = model.to_json(mod, next(iter(ids_of.values()), 1))
    cursor.execute(
        "UPDATE col SET decks = ?, models = ?", (json.dumps(all_decks), json.dumps(models))
    )
    # The card templates' required fields: a note whose required fields are empty has no card.
    required = [
        (card_ord, {"any": any, "all": all}[how], ords) for card_ord, how, ords in model._req
    ]
    # Note and card ids derive from the newest modification time: fixed for fixed input.
    ids = itertools.count(mod * 1000)
    cards: list[tuple[Any, ...]] = []

    def note_rows() -> Iterator[tuple[Any, ...]]:
        # A generator: at 100k questions the joined fields would be hundreds of MB at once.
        for name, rows in decks.items():
            for row in rows:
                note_id = next(ids)
                flds = "\x1f".join(row.fields)
                sort_field = row.fields[model.sort_field_index]
                # id, guid, mid, mod, usn, tags, flds, sfld, csum, flags, data
                yield (
                    note_id,
                    row.guid,
                    model.model_id,
                    row.mod,
                    -1,
                    row.tags,
                    flds,
                    sort_field,
                    0,
                    0,
                    "",
                )
                for card_ord, test, ords in required:
                    if test(row.fields[o] for o in ords):
                        # id, nid, did, ord, mod, usn, type, queue, due, ivl, factor, reps,
                        # lapses, left, odue, odid, flags, data: a new card
                        cards.append(
                            (next(ids), note_id, ids_of[name], card_ord, row.mod, -1, *_NEW_CARD)
                        )

    cursor.executemany("INSERT INTO notes VALUES(?,?,?,?,?,?,?,?,?,?,?)", note_rows())
    cursor.executemany("INSERT INTO cards VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", cards)


def _entry(name: str, size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    # ZipInfo has no public compression level before Python 3.13 (writestr sets the same).
    info._compresslevel = 1  # type: ignore[attr-defined]
    info.external_attr = 0o644 << 16
    info.file_size = size
    return info


class _TwoCoreDeflate:
    """DEFLATE (level 1) on two cores, as pigz does it: the input is cut into blocks of
    :data:`_BLOCK` bytes, each compressed on its own and ended on a byte boundary (a sync
    flush), the last one finished; joined in order, they are one valid DEFLATE stream.

    The same input gives the same bytes, whatever the sizes it is fed in. At 100k questions
    the 160 MB database took 0.37 s instead of 0.69 s alone, for 0.06 % more bytes; in a
    build it runs beside the other outputs (:meth:`Outputs.background`), and zlib works
    outside the GIL. The ``compress`` and ``flush`` of :func:`zlib.compressobj`.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="deflate")
        self._pending: list[Future[bytes]] = []
        self._held = bytearray()

    @staticmethod
    def _block(data: bytes, last: bool) -> bytes:
        deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
        return deflate.compress(data) + deflate.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH)

    def compress(self, data: bytes) -> bytes:
        self._held += data
        while len(self._held) > _BLOCK:  # a block is sent once more follows it
            block = bytes(self._held[:_BLOCK])
            del self._held[:_BLOCK]
            self._pending.append(self._pool.submit(self._block, block, False))
        done = b""
        while len(self._pending) > 2:  # two blocks at a time, and no more held
            done += self._pending.pop(0).result()
        return done

    def flush(self) -> bytes:
        self._pending.append(self._pool.submit(self._block, bytes(self._held), True))
        self._held.clear()
        done = b"".join(job.result() for job in self._pending)
        self._pending.clear()
        return done

    def __enter__(self) -> _TwoCoreDeflate:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._pool.shutdown(cancel_futures=True)


_BLOCK = 8 << 20  # bytes of input a block


def _pack(tmp: Path, media: dict[str, Medium], out: BinaryIO) -> None:
    """Zip the database of the scratch folder ``tmp`` and the media into ``out``.

    Mostly outside the GIL (zlib's DEFLATE, file reads), so it can run in a thread beside
    the build's other work (:meth:`Outputs.background`).
    """
    names = sorted(media)
    db_path = tmp / _DATABASE
    with zipfile.ZipFile(out, "w") as zf:
        # The database is streamed into the zip: at 100k questions it is hundreds of MB.
        with (
            _TwoCoreDeflate() as deflate,  # outlives the writer, whose close flushes it
            db_path.open("rb") as src,
            zf.open(_entry("collection.anki2", db_path.stat().st_size), "w") as dst,
        ):
            # zipfile has no public way to take another compressor: its writer's own is
            # replaced (CPython's _ZipWriteFile, 3.9 to 3.13); the CRC and sizes stay its.
            if hasattr(dst, "_compressor"):
                dst._compressor = deflate
            shutil.copyfileobj(src, dst, 1 << 20)
        index = json.dumps({str(i): n for i, n in enumerate(names)}).encode()
        with zf.open(_entry("media", len(index)), "w") as dst:
            dst.write(index)
        for i, name in enumerate(names):  # read one at a time, never all held in memory
            payload = media[name].data()
            with zf.open(_entry(str(i), len(payload)), "w") as dst:
                dst.write(payload)


def _tmpdir_problem(exc: OSError | sqlite3.Error) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"cannot write the Anki database in the temporary folder {quoted(tempfile.gettempdir())}"
        f" (TMPDIR): {getattr(exc, 'strerror', None) or exc}"
    )


def _scratch_folder() -> Path:
    """A new scratch folder under TMPDIR for the database; a full or read-only one is named."""
    try:
        return Path(tempfile.mkdtemp(prefix="cardsmith-"))
    except OSError as exc:
        raise _tmpdir_problem(exc) from exc


@contextmanager
def _scratch() -> Iterator[Path]:
    """A scratch folder, removed afterwards."""
    tmp = _scratch_folder()
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _database(
    tmp: Path, decks: dict[str, list[_NoteRow]], model: genanki.Model, model_mod: int
) -> Path:
    """The package's collection database, written in the scratch folder ``tmp``."""
    db_path = tmp / _DATABASE
    try:
        conn = sqlite3.connect(db_path)
        # Fewer, larger pages: a note's fields (a few KB) fit in one page instead of a chain
        # of overflow pages. The database is 13 % smaller and made 10 % faster at 10k
        # questions (bench/README.md), and SQLite reads any page size.
        conn.execute(f"PRAGMA page_size = {_PAGE_SIZE}")
        # A scratch file, copied into the zip and deleted: no journal, no waiting for the disk.
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        _write_db(conn.cursor(), decks, model, model_mod)
        conn.commit()
        conn.close()
    except (OSError, sqlite3.Error) as exc:
        raise _tmpdir_problem(exc) from exc
    return db_path


_SRC = re.compile(r'<img src="([^"]+)"')


def database_problems(db_path: Path, expected_guids: Sequence[str], packed: Set[str]) -> list[str]:
    """What is wrong with a package's database: its note count, duplicate or unexpected
    guids, images its notes show that are not among the ``packed`` media names."""
    referenced: set[str] = set()
    conn = sqlite3.connect(db_path)
    try:
        guids = [guid for (guid,) in conn.execute("SELECT guid FROM notes")]
        # Only the notes with an image are read whole (row by row), not every field.
        query = "SELECT flds FROM notes WHERE instr(flds, '<img src=\"') > 0"
        for (fields,) in conn.execute(query):
            referenced.update(_SRC.findall(fields))
    finally:
        conn.close()
    problems = []
    if len(guids) != len(expected_guids):
        problems.append(f"{len(guids)} notes written, {len(expected_guids)} expected")
    if len(set(guids)) != len(guids):
        problems.append("two notes share a guid")
    if set(guids) != set(expected_guids):
        problems.append("note guids differ from the card ids")
    unpacked = {src for src in referenced if not is_external(html.unescape(src))} - packed
    if unpacked:
        problems.append(f"images referenced but not packed: {sorted(unpacked)}")
    return problems


def archive_problems(package: Path) -> tuple[list[str], set[str]]:
    """What is wrong with a package's zip (a media index entry without its file), and the
    media names it packs. Reads the zip's directory and its small media index only."""
    with zipfile.ZipFile(package) as zf:
        media = json.loads(zf.read("media"))
        names = set(zf.namelist())
    problems = []
    if "collection.anki2" not in names:
        problems.append("no collection.anki2 in the package")
    missing_files = [idx for idx in media if idx not in names]
    if missing_files:
        problems.append(f"media entries without files: {missing_files}")
    return problems, set(media.values())


def _raise(problems: list[str]) -> None:
    if problems:
        raise ExportCheckError("the Anki package failed its self-check: " + "; ".join(problems))


def self_check(package: Path, expected_guids: Sequence[str]) -> None:
    """Read a whole package back: its zip, then its database (as :func:`export` checks them,
    the database before it was packed); :class:`ExportCheckError` names every problem."""
    problems, packed = archive_problems(package)
    with zipfile.ZipFile(package) as zf, _scratch() as tmp:
        db_path = Path(tmp) / "c.anki2"
        with zf.open("collection.anki2") as src, db_path.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        problems += database_problems(db_path, expected_guids, packed)
    _raise(problems)


def _second_name(db_path: Path) -> Path | None:
    """A hard link to the database in a scratch folder of its own, so that its check and
    its compression each remove theirs when done; None where links cannot be made."""
    folder = _scratch_folder()
    try:
        os.link(db_path, folder / _DATABASE)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return None
    return folder / _DATABASE


def export(data: BuildData, outputs: Outputs) -> None:
    """``<package_name>.apkg``, checked as it is made: its database before it is packed
    (note count, guids, images), then the zip's directory.

    The database is made here. It is checked and zipped in the background
    (:meth:`Outputs.alongside`, :meth:`Outputs.background`), the two side by side, while
    the build writes its other outputs: at 100k questions the check (0.27 s) no longer
    waits for the compression (1.1 s), nor the compression for the check.
    """
    tmp = _scratch_folder()
    try:
        db_path, guids, media = _prepare(data, tmp)
        linked = _second_name(db_path)
        if linked is None:
            _raise(database_problems(db_path, guids, set(media)))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    if linked is not None:
        checked_db = linked

        def check() -> None:
            try:
                _raise(database_problems(checked_db, guids, set(media)))
            finally:
                shutil.rmtree(checked_db.parent, ignore_errors=True)

        outputs.alongside(check)

    def pack(out: BinaryIO) -> None:
        try:
            _pack(tmp, media, out)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    outputs.background(package_name(data), pack, lambda path: _raise(archive_problems(path)[0]))
