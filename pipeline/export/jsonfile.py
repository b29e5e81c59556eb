"""``cards.json``: every record, answered or not, in source order."""

from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Sequence
from typing import Any

from ..records import BuildData, Card
from .outputs import Outputs

SCHEMA_VERSION = 1
FILE_NAME = "cards.json"
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True).encode  # made once, not per card


def card_record(card: Card) -> dict[str, Any]:
    """The JSON form of one card (see ``pipeline/schema/cards.schema.json``)."""
    return {
        "id": card.id,
        "deck": card.deck.path,
        "section": card.section,
        "question": card.question,
        "answer": card.answer,
        "question_html": card.question_html,
        "answer_html": card.answer_html,
        "tags": list(card.tags),
        "source": {"path": card.source.path, "line": card.source.line},
        "code_blocks": [
            {
                "language": block.language,
                "detected": block.detected,
                "code": block.code,
                "line": block.line,
                "valid": block.valid,
                "error": None
                if block.error is None
                else {"line": block.error[0], "message": block.error[1]},
            }
            for block in card.code_blocks
        ],
        "images": [t.written for t in card.targets if t.image],
        "answered": card.answered,
    }


def _file_rows(cards: Sequence[Card]) -> bytes:
    """The lines of one note file's cards, without the separator after the last."""
    return ",\n".join(_ENCODE(card_record(card)) for card in cards).encode("utf-8")


def export(data: BuildData, outputs: Outputs) -> None:
    """``cards.json``: one card a line, keys sorted, so it is stable and diffs well.

    Written a note file at a time: the whole file is never in memory, and a file whose
    records and ids are those of the last build is copied from the cache, not encoded again.
    """
    with outputs.open(FILE_NAME) as out:
        out.write(f'{{"schema_version": {SCHEMA_VERSION}, "cards": [\n'.encode())
        separator = b""
        for path, group in itertools.groupby(data.cards, key=lambda card: card.source.path):
            cards = tuple(group)
            if data.fragments is None:
                rows = _file_rows(cards)
            else:
                ids = " ".join(card.id for card in cards)
                rows = data.fragments(path, "json", ids, functools.partial(_file_rows, cards))
            out.write(separator)  # not joined to the rows: that would copy them (240 MB at 100k)
            out.write(rows)
            separator = b",\n"
        out.write(b"\n]}\n")
