"""What every exporter reads."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

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
    note_type_mod: int = 0
    """When the note type's CSS or templates last changed (from the lock file)."""

    @cached_property  # read by several exporters; worked out once
    def notes(self) -> tuple[tuple[Card, Match], ...]:
        """The cards that become Anki notes (answered, or all with ``include_unanswered``)."""
        return tuple(
            (card, match)
            for card, match in zip(self.cards, self.matches, strict=True)
            if card.answered or self.config.include_unanswered
        )

    @cached_property
    def skipped(self) -> tuple[Card, ...]:
        """The cards that make no Anki note."""
        if self.config.include_unanswered:
            return ()
        return tuple(card for card in self.cards if not card.answered)
