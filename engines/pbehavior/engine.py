"""engine-pbehavior: on each beat, the pbh events of the entities whose pbehavior changed.

Every decision is in schedule.py (which pbehavior is in force) and transition.py (the event an
entity needs); this module reads, calls them and returns the events, which
the runtime publishes to the head of the chain (che records the entity's `pbehavior_info`,
axe updates its alarm). Alarms are never written here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, field_validator

from engines.model import Event
from engines.pbehavior.documents import PBehavior, PBehaviorReason, PBehaviorType
from engines.pbehavior.recurrence import time_zone
from engines.pbehavior.schedule import Schedule
from engines.pbehavior.transition import transition
from engines.pbehavior.store import install_defaults
from engines.store.collections import PBEHAVIOR_REASONS, PBEHAVIOR_TYPES, PBEHAVIORS
from engines.store.documents import DocumentSource, MongoDocuments
from engines.store.entities import EntityStore, MongoEntityStore
from framework import DROP, Engine, Outcome, Services, Settings

__all__ = ["PbehaviorEngine", "PbehaviorOptions"]

logger = logging.getLogger(__name__)

_Model = TypeVar("_Model", bound=BaseModel)


class PbehaviorOptions(BaseModel):
    timezone: str = Field(default="Europe/Paris", description="IANA time zone rrules are evaluated in")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        time_zone(name)  # raises ValueError naming it
        return name


class PbehaviorEngine(Engine[Event]):
    """Periodic behaviours: sends pbhenter, pbhleave and pbhleaveandenter as they start and end.

    Its queue (`Engine_pbehavior`) receives nothing by default and whatever arrives there is
    dropped: every decision is taken on the beat (`--beat-interval`, 60 s by default, the
    precision of a behaviour's start and end), from the `pbehavior` collections as they are then.

    Cost of a beat: the pbehaviors, types and reasons are read whole and each rrule is expanded
    once; then the entities carrying a `pbehavior_info` are read, and *all* entities while some
    pbehavior is in force anywhere, each matched against the pbehaviors in force. That is one
    scan of `default_entities` per beat during a maintenance window: simple and always right
    (an entity created meanwhile is caught), linear in time with the number of entities, and a
    page at a time (each page's events are published before the next is read), so memory is not.
    """

    name = "pbehavior"
    message_model = Event
    publish_to = ()
    uses = frozenset({"mongo"})
    beat_once = True
    options_model = PbehaviorOptions

    def __init__(
        self,
        settings: Settings,
        *,
        pbehaviors: DocumentSource | None = None,
        types: DocumentSource | None = None,
        reasons: DocumentSource | None = None,
        entities: EntityStore | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings)
        self.options = settings.options if isinstance(settings.options, PbehaviorOptions) else PbehaviorOptions()
        self.pbehaviors = pbehaviors
        self.types = types
        self.reasons = reasons
        self.entities = entities
        self.clock = clock

    async def setup(self, services: Services) -> None:
        if services.mongo is not None:
            db = services.mongo
            self.pbehaviors = self.pbehaviors or MongoDocuments(db, PBEHAVIORS)
            self.types = self.types or MongoDocuments(db, PBEHAVIOR_TYPES)
            self.reasons = self.reasons or MongoDocuments(db, PBEHAVIOR_REASONS)
            self.entities = self.entities or MongoEntityStore(db)
            # Canopsis installs them as fixtures; without a default active and a default
            # inactive type nothing can be resolved.
            if inserted := await install_defaults(db, int(self.clock())):
                logger.info("installed %d default pbehavior types and reasons", inserted)
        assert None not in (self.pbehaviors, self.types, self.reasons, self.entities), (
            "sources are given or opened from MongoDB"
        )

    async def handle(self, event: Event) -> Outcome:
        """Nothing is forwarded: pbehaviors are recomputed on the beat."""
        return DROP

    async def beat(self) -> AsyncGenerator[list[Event], None]:
        """The pbh events of this beat, a page of entities at a time (published by the runtime)."""
        return self.events_at(int(self.clock()))

    async def events_at(self, now: int) -> AsyncGenerator[list[Event], None]:
        """Resolve every entity concerned at `now`; the events of those that changed, by page."""
        assert self.pbehaviors and self.types and self.reasons and self.entities
        pbehaviors = _valid(PBehavior, await self.pbehaviors.all(), PBEHAVIORS)
        types = _valid(PBehaviorType, await self.types.all(), PBEHAVIOR_TYPES)
        reasons = _valid(PBehaviorReason, await self.reasons.all(), PBEHAVIOR_REASONS)
        schedule = Schedule.at(pbehaviors, types, now, self.options.timezone, reasons=reasons)
        for problem in schedule.problems:
            logger.warning("%s", problem)
        looked = sent = 0
        async for entities in self.entities.pages(in_pbehavior=not schedule.any_in_force):
            events = [
                event
                for entity in entities
                if entity.soft_deleted is None
                and (event := transition(entity.pbehavior_info, schedule.resolve(entity), entity, now)) is not None
            ]
            looked, sent = looked + len(entities), sent + len(events)
            yield events
        if sent:
            logger.info(
                "beat: %d pbehaviors in force, %d entities looked at, %d events sent",
                len(schedule.candidates), looked, sent,
            )


def _valid(model: type[_Model], documents: Sequence[dict[str, Any]], collection: str) -> list[_Model]:
    """Documents that validate; a broken one is reported and skipped, never fatal."""
    valid = []
    for document in documents:
        try:
            valid.append(model.model_validate(document))
        except ValidationError as exc:
            logger.warning("%s %r skipped: %s", collection, document.get("_id"), exc.errors()[0]["msg"])
    return valid
