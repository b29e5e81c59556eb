"""What every exporter reads."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from ..identity import Match
from ..records import Card


@dataclass(frozen=True)
class BuildData:
    """Everything the exporters need, gathered before anything is written."""

    cards: tuple[Card, ...]
    """Every card (answered or not) with its id, in source order."""
    matches: tuple[Match, ...]
    """Identity result parallel to ``cards`` (status and note modification time)."""
    config: Config
    """The build's configuration (content folder, names, PDF options)."""
