"""What axe's beat sent and the chain has not applied yet: such an event is sent once, and again
only after a timeout.

A beat decides from the alarms as stored: while the chain lags, a resolution it sent is still
queued at the next tick and the alarm still looks due. Sending it again every tick fed a lagging
chain thousands of copies (7,984 events for 749 alarms) and kept it from ever draining. An event
counts as applied once the alarm no longer calls for it (resolved, unsnoozed…); the timeout only
covers one that never arrived (dead-lettered, purged).
"""

from __future__ import annotations

from collections.abc import Iterable

from engines.model import Event

__all__ = ["BeatLedger"]

#: An alarm and the kind of event the beat sends about it.
Key = tuple[str, str]


class BeatLedger:
    """One beat at a time: `start`, `to_send` for each page of decisions, `finish` when all are made."""

    def __init__(self, resend_after: float) -> None:
        self.resend_after = resend_after
        #: When each event still waiting was last sent, by (entity id, event type).
        self.sent: dict[Key, float] = {}
        self._due: set[Key] = set()

    def __repr__(self) -> str:
        return f"<BeatLedger {len(self.sent)} sent and not applied yet>"

    def start(self) -> None:
        self._due = set()

    def to_send(self, decided: Iterable[Event], now: float) -> list[Event]:
        """The events of `decided` not sent in the last `resend_after` seconds (all of them once)."""
        fresh = []
        for event in decided:
            key = (event.entity_id, event.event_type)
            self._due.add(key)
            last = self.sent.get(key)
            if last is None or now - last >= self.resend_after:
                self.sent[key] = now
                fresh.append(event)
        return fresh

    def finish(self) -> int:
        """Forget the events no longer called for (applied); return how many still wait."""
        self.sent = {key: at for key, at in self.sent.items() if key in self._due}
        return len(self.sent)
