"""``sync --ankiconnect``: the same plan as :mod:`pipeline.syncplan`, applied to a running Anki.

Most people keep Anki open, and then the collection file is locked; the AnkiConnect add-on
offers Anki's operations over HTTP instead. Two things it cannot do are done differently:

- a note added through AnkiConnect gets a random guid, and a note type it creates a new
  id; new notes (and the note type, the first time) therefore arrive as a small ``.apkg``
  through its ``importPackage`` action, which keeps both;
- it cannot store anything in the collection's config, so what the last sync wrote (to
  recognise notes edited in Anki) is kept beside the lock file, in
  ``.cardsmith-ankiconnect.json`` (one record per AnkiConnect address).
"""

from __future__ import annotations

import base64
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import Config
from .export.anki import _NoteRow, note_model, write_package
from .identity import refuse_changed_lock
from .lastpackage import forget_last_package
from .notetype import FIELDS, MODEL_NAME, NoteTypeLook
from .report import renamed_in
from .safeguards import refuse_collection_orphans
from .sync import SyncResult, lock_after, notes_for, record_ids
from .syncplan import (
    ORPHAN_TAG,
    Desired,
    Existing,
    Plan,
    State,
    SyncError,
    _ancestors,
    _same_deck,
    _tags_for,
    desired,
    fields_hash,
    lock_unknown,
    plan_against,
    question_text,
    recorded,
)

DEFAULT_URL = "http://127.0.0.1:8765"
RECORD_NAME = ".cardsmith-ankiconnect.json"
_SUSPENDED = -1


class AnkiConnect:
    """A minimal AnkiConnect client (API version 6)."""

    def __init__(self, url: str, timeout: float = 120) -> None:
        self.url = url
        self.timeout = timeout

    def __call__(self, action: str, **params: Any) -> Any:
        body = json.dumps({"action": action, "version": 6, "params": params}).encode()
        request = urllib.request.Request(
            self.url, body, {"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                reply = json.loads(response.read())
        except (urllib.error.URLError, OSError) as exc:
            raise SyncError(
                f"no AnkiConnect at {self.url} ({getattr(exc, 'reason', exc)}): is Anki running "
                "with the AnkiConnect add-on? (or close Anki and use --collection)"
            ) from exc
        if not isinstance(reply, dict) or set(reply) != {"result", "error"}:
            raise SyncError(f"{self.url} did not answer as AnkiConnect does")
        if reply["error"] is not None:
            raise SyncError(f"AnkiConnect {action}: {reply['error']}")
        return reply["result"]

    def many(self, action: str, params: Sequence[Mapping[str, Any]]) -> list[Any]:
        """One action many times, in one request."""
        if not params:
            return []
        results = self("multi", actions=[{"action": action, "params": dict(p)} for p in params])
        out = []
        for r in results:
            if isinstance(r, dict) and set(r) == {"result", "error"}:
                if r["error"] is not None:
                    raise SyncError(f"AnkiConnect {action}: {r['error']}")
                r = r["result"]
            out.append(r)
        return out


def _record_path(config: Config) -> Path:
    return config.content / RECORD_NAME


def _read_record(config: Config, url: str) -> dict[str, Any]:
    try:
        data = json.loads(_record_path(config).read_text("utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SyncError(f"{_record_path(config)}: unreadable ({exc}); delete it") from exc
    record = data.get(url, {}) if isinstance(data, dict) else {}
    return record if isinstance(record, dict) else {}


def _write_record(config: Config, url: str, record: Mapping[str, Any]) -> None:
    path = _record_path(config)
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        data = {}
    data[url] = dict(record)
    path.write_text(json.dumps(data, ensure_ascii=False, sort_keys=True, indent=1) + "\n", "utf-8")


def read_state(ac: AnkiConnect, want: Desired, record: Mapping[str, Any]) -> State:
    """The collection as AnkiConnect shows it, in the same record the library path reads."""
    decks = {name: int(i) for name, i in ac("deckNamesAndIds").items()}
    model = None
    model_fields: tuple[str, ...] = ()
    if MODEL_NAME in ac("modelNames"):
        model_fields = tuple(ac("modelFieldNames", modelName=MODEL_NAME))
        css = ac("modelStyling", modelName=MODEL_NAME)["css"]
        templates = ac("modelTemplates", modelName=MODEL_NAME)
        (template,) = templates.values()
        model = NoteTypeLook(css, template["Front"], template["Back"])
    notes: dict[str, Existing] = {}
    deck_cards: dict[str, int] = defaultdict(int)
    if model is not None:
        nids = ac("findNotes", query=f'"note:{MODEL_NAME}"')
        infos = ac("notesInfo", notes=nids) if nids else []
        cids = [c for info in infos for c in info["cards"]]
        # getDecks and a search, not cardsInfo: that one renders every card's both sides.
        deck_of = {
            c: d for d, cs in (ac("getDecks", cards=cids) if cids else {}).items() for c in cs
        }
        suspended = set(ac("findCards", query=f'"note:{MODEL_NAME}" is:suspended'))
        wanted = {w.guid for w in want.notes}
        gone = [info for info in infos if info["fields"]["ID"]["value"] not in wanted]
        reviews = (
            ac("getReviewsOfCards", cards=[c for i in gone for c in i["cards"]]) if gone else {}
        )
        for info in infos:
            mine = [c for c in info["cards"] if c in deck_of]
            guid = info["fields"]["ID"]["value"]
            fields = tuple(info["fields"][name]["value"] for name in FIELDS)
            notes[guid] = Existing(
                nid=info["noteId"],
                guid=guid,
                fields_hash=fields_hash(fields),
                question=question_text(fields, guid),
                tags=tuple(info["tags"]),
                cards=tuple(mine),
                decks=tuple(deck_of[c] for c in mine),
                suspended=tuple(c in suspended for c in mine),
                reviews=sum(len(reviews.get(str(c), reviews.get(c, ()))) for c in mine),
            )
            for c in mine:
                deck_cards[deck_of[c]] += 1
    # Cards of other note types in the decks cardsmith might remove keep those decks.
    ours = {a for e in notes.values() for d in e.decks for a in _ancestors(d)}
    ours |= {a for d in record.get("decks", ()) for a in _ancestors(d)}
    ours &= set(decks)
    if ours:
        query = " OR ".join(f'"deck:{d}"' for d in sorted(ours))
        others = ac("findCards", query=f'-"note:{MODEL_NAME}" ({query})')
        for deck, cards in (ac("getDecks", cards=others) if others else {}).items():
            deck_cards[deck] += len(cards)
    # The filtered decks among those the notes want: cards cannot be put in one (a deck's
    # config is the deck itself, with "dyn" set, for a filtered deck).
    needed = sorted({a for w in want.notes for a in _ancestors(w.deck)} & set(decks))
    configs = ac.many("getDeckConfig", [{"deck": d} for d in needed])
    filtered = frozenset(
        d.casefold() for d, c in zip(needed, configs, strict=True) if c and c.get("dyn")
    )
    names = sorted(want.media)
    present = ac.many("getMediaFilesNames", [{"pattern": n} for n in names])
    return State(
        notes=notes,
        model=model,
        model_fields=model_fields,
        decks=decks,
        deck_cards=deck_cards,
        media=frozenset(n for n, found in zip(names, present, strict=True) if found),
        **recorded(record),
        filtered_decks=filtered,
    )


def _package(plan: Plan) -> Path:
    """The new notes as a package (their guids and the note type's id kept)."""
    now = int(time.time())  # note ids derive from it: Anki shows them as creation times
    decks: dict[str, list[_NoteRow]] = defaultdict(list)
    for w in plan.add:
        decks[w.deck].append(_NoteRow(w.guid, now, " " + " ".join(w.tags) + " ", w.fields))
    fd, name = tempfile.mkstemp(suffix=".apkg", prefix="cardsmith-sync-")
    with open(fd, "wb") as out:
        write_package(out, decks, note_model(), {}, model_mod=now)
    return Path(name)


def apply(ac: AnkiConnect, plan: Plan, want: Desired) -> None:
    """Carry the plan out with AnkiConnect's actions."""
    ac.many(
        "storeMediaFile",
        [{"filename": m.name, "data": base64.b64encode(m.data()).decode()} for m in plan.media],
    )
    if plan.model == "update":
        look = want.model
        ac("updateModelStyling", model={"name": MODEL_NAME, "css": look.css})
        ac(
            "updateModelTemplates",
            model={
                "name": MODEL_NAME,
                "templates": {"Card 1": {"Front": look.qfmt, "Back": look.afmt}},
            },
        )
    for name in plan.create_decks:
        ac("createDeck", deck=name)
    if plan.add:
        package = _package(plan)
        try:
            ac("importPackage", path=str(package))
        finally:
            package.unlink()
    ac.many(
        "updateNoteFields",
        [
            {"note": {"id": e.nid, "fields": dict(zip(FIELDS, w.fields, strict=True))}}
            for w, e in plan.update
        ],
    )
    retag = {e.nid: _tags_for(e.tags, w.tags) for w, e in (*plan.update, *plan.revive)}
    ac.many("updateNoteTags", [{"note": nid, "tags": list(tags)} for nid, tags in retag.items()])
    by_deck: dict[str, list[int]] = defaultdict(list)
    for w, e in plan.move:
        by_deck[w.deck] += [
            c for c, d in zip(e.cards, e.decks, strict=True) if not _same_deck(d, w.deck)
        ]
    ac.many("changeDeck", [{"cards": c, "deck": d} for d, c in sorted(by_deck.items())])
    fresh = [e.nid for e in plan.orphan if not e.orphaned]
    if fresh:
        ac("addTags", notes=fresh, tags=ORPHAN_TAG)
    if plan.suspend:
        ac("suspend", cards=list(plan.suspend))
    if plan.unsuspend:
        ac("unsuspend", cards=list(plan.unsuspend))
    if plan.delete:
        ac("deleteNotes", notes=[e.nid for e in plan.delete])
    if plan.remove_decks:
        ac("deleteDecks", decks=list(plan.remove_decks), cardsToo=True)


def sync(
    config: Config,
    url: str = DEFAULT_URL,
    *,
    dry_run: bool = False,
    delete_orphans: bool = False,
    force: bool = False,
) -> SyncResult:
    """Apply the notes to the Anki that runs AnkiConnect at ``url``."""
    data, identity, warnings = notes_for(config, dry_run=dry_run)
    want = desired(data)
    ac = AnkiConnect(url)
    record = _read_record(config, url)
    state = read_state(ac, want, record)
    plan = plan_against(want, state, identity.lock_file, force=force, delete_orphans=delete_orphans)
    warnings = (*warnings, *lock_unknown(config.lock_path, plan))
    if not dry_run:
        # A lock restored meanwhile, or a wrong notes folder: Anki untouched.
        refuse_changed_lock(config.lock_path, identity, "sync")
        found = len(want.notes)
        refuse_collection_orphans(plan, state, url, found, config.allow_mass_orphan)
        if not plan.empty:
            apply(ac, plan, want)
        if plan.state is not None:
            _write_record(config, url, plan.state)
        record_ids(config, identity, lock_after(identity, plan))
        forget_last_package(config)  # Anki holds the notes as the lock says
    return SyncResult(plan, not dry_run, identity.successors, warnings, renamed_in(identity))
