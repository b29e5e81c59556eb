"""Write a corpus in ankdown's format, from cardsmith's own cards.json of the same corpus.

``python bench/adapt_ankdown.py CARDS_JSON OUT_DIR``: one file per source file, cards as
``question / % / answer / ---``, so the peer sees exactly the questions and answers we do.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path


def main(cards_json: Path, out: Path) -> None:
    cards = json.loads(cards_json.read_text(encoding="utf-8"))["cards"]
    files: dict[str, list[str]] = defaultdict(list)
    for card in cards:
        if card["answered"]:
            files[card["source"]["path"]].append(f"{card['question']}\n\n%\n\n{card['answer']}\n")
    deck = out / "bench"
    deck.mkdir(parents=True, exist_ok=True)
    for path, bodies in files.items():
        (deck / Path(path).name).write_text("\n---\n\n".join(bodies), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
