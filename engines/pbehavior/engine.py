"""engine-pbehavior: on each beat, the pbh events of the entities whose pbehavior changed.

Every decision is in schedule.py (which pbehavior is in force) and transition.py (the event an
entity needs); this module reads, calls them and returns the events, which
the runtime publishes to the head of the chain (che records the entity's `pbehavior_info`,
axe updates its alarm). Alarms are never written here.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass

from pydantic import BaseModel, Field, field_validator

from engines.model import Event
from engines.pbehavior.documents import DEFAULT_REASON, DEFAULT_TYPES, PBehavior, PBehaviorReason, PBehaviorType
from engines.pbehavior.recurrence import time_zone
from engines.pbehavior.schedule import Schedule
from engines.pbehavior.store import install_defaults
from engines.pbehavior.transition import transition
from engines.store.collections import PBEHAVIOR_REASONS, PBEHAVIOR_TYPES, PBEHAVIORS
from engines.store.documents import DocumentSource, valid_documents
from engines.store.entities import EntityStore
from engines.store.factory import StoreFactory, options_of
from framework import DROP, Engine, Outcome, Services, Settings

__all__ = ["PbehaviorEngine", "PbehaviorOptions", "PbehaviorStores"]

logger = logging.getLogger(__name__)


class PbehaviorOptions(BaseModel):
    timezone: str = Field(default="Europe/Paris", description="IANA time zone rrules are evaluated in")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        time_zone(name)  # raises ValueError naming it
        return name


@dataclass(frozen=True)
class PbehaviorStores:
    """What engine-pbehavior reads: the pbehaviors, their types and reasons, and the entities."""

    pbehaviors: DocumentSource
    types: DocumentSource
    reasons: DocumentSource
    entities: EntityStore

    @classmethod
    def open(
        cls,
        factory: StoreFactory,
        *,
        pbehaviors: DocumentSource | None,
        types: DocumentSource | None,
        reasons: DocumentSource | None,
        entities: EntityStore | None,
    ) -> PbehaviorStores:
        # In memory, Canopsis' default types and reason are there from the start, as setup
        # installs them in MongoDB.
        return cls(
            pbehaviors=factory.documents(pbehaviors, PBEHAVIORS),
            types=factory.documents(types, PBEHAVIOR_TYPES, [kind.to_document() for kind in DEFAULT_TYPES]),
            reasons=factory.documents(reasons, PBEHAVIOR_REASONS, [DEFAULT_REASON.to_document()]),
            entities=factory.entities(entities),
        )


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
    #: Opened by `setup`, from the stores given to the constructor (see StoreFactory).
    stores: PbehaviorStores

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
        self.options = options_of(settings, PbehaviorOptions)
        # A store given here (tests, the embedded chain) is used as it is; setup opens the others.
        self._open_stores = functools.partial(
            PbehaviorStores.open, pbehaviors=pbehaviors, types=types, reasons=reasons, entities=entities
        )
        self.clock = clock

    async def setup(self, services: Services) -> None:
        self.stores = self._open_stores(StoreFactory(services))
        # Canopsis installs them as fixtures; without a default active and a default inactive
        # type nothing can be resolved.
        if services.mongo is not None and (inserted := await install_defaults(services.mongo, int(self.clock()))):
            logger.info("installed %d default pbehavior types and reasons", inserted)

    async def handle(self, event: Event) -> Outcome:
        """Nothing is forwarded: pbehaviors are recomputed on the beat."""
        return DROP

    async def beat(self) -> AsyncGenerator[list[Event], None]:
        """The pbh events of this beat, a page of entities at a time (published by the runtime)."""
        return self.events_at(int(self.clock()))

    async def events_at(self, now: int) -> AsyncGenerator[list[Event], None]:
        """Resolve every entity concerned at `now`; the events of those that changed, by page."""
        s = self.stores
        pbehaviors = valid_documents(PBehavior, await s.pbehaviors.all(), PBEHAVIORS, logger)
        types = valid_documents(PBehaviorType, await s.types.all(), PBEHAVIOR_TYPES, logger)
        reasons = valid_documents(PBehaviorReason, await s.reasons.all(), PBEHAVIOR_REASONS, logger)
        schedule = Schedule.at(pbehaviors, types, now, self.options.timezone, reasons=reasons)
        for problem in schedule.problems:
            logger.warning("%s", problem)
        looked = sent = 0
        async for entities in s.entities.pages(in_pbehavior=not schedule.any_in_force):
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
                len(schedule.candidates),
                looked,
                sent,
            )
