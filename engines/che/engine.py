"""engine-che: the entity context and the event filter, applied to every event in order."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel, Field

from engines.che.context import apply_context, entity_ids, truncate_outputs
from engines.che.eventfilter import RuleSet, apply_rules, load_rules
from engines.model import Entity, Event
from engines.model.perfdata import PerfDataError, parse_perf_data
from engines.store.collections import EVENT_FILTER_RULES
from engines.store.documents import DocumentSource
from engines.store.entities import EntityStore, EntityWrite
from engines.store.entity_cache import CachedEntityStore
from engines.store.factory import StoreFactory, options_of
from framework import DROP, BadEvent, BatchOutcome, Drop, Engine, Services, Settings, in_turns

__all__ = ["CheEngine", "CheOptions", "CheStores"]

logger = logging.getLogger(__name__)


class CheOptions(BaseModel):
    output_length: int = Field(default=255, description="characters of output kept for external events; 0: all")
    long_output_length: int = Field(default=1024, description="characters of long_output kept; 0: all")
    last_event_date_resolution: int = Field(
        default=60, ge=0, description="seconds an entity's last_event_date may lag before it is written; 0: every event"
    )
    entity_cache_seconds: float = Field(
        default=60, ge=0, description="seconds an entity in memory is trusted before it is read again; 0: no cache"
    )
    entity_cache_mb: float = Field(
        default=32, ge=0, description="MiB of entities kept in memory (~2 KB each); 0: no cache"
    )


@dataclass(frozen=True)
class CheStores:
    """What che reads and writes: the entities, and the event-filter rules."""

    entities: EntityStore
    filters: DocumentSource

    @classmethod
    def open(
        cls, factory: StoreFactory, options: CheOptions, *, entities: EntityStore | None, filters: DocumentSource | None
    ) -> CheStores:
        entity_store = factory.entities(
            entities,
            last_event_date_resolution=options.last_event_date_resolution,
            cache_mb=options.entity_cache_mb,
            cache_seconds=options.entity_cache_seconds,
        )
        return cls(entities=entity_store, filters=factory.documents(filters, EVENT_FILTER_RULES))


class CheEngine(Engine[Event]):
    """Entities and event filter: creates the entities events name, enriches or drops events by rule."""

    name = "che"
    message_model = Event
    publish_to = ("Engine_axe",)
    binds_events = True
    uses = frozenset({"mongo"})
    options_model = CheOptions

    #: Opened by `setup`, from the stores given to the constructor (see StoreFactory).
    stores: CheStores

    def __init__(
        self, settings: Settings, *, entities: EntityStore | None = None, filters: DocumentSource | None = None
    ) -> None:
        super().__init__(settings)
        self.options = options_of(settings, CheOptions)
        # A store given here (tests, the embedded chain) is used as it is; setup opens the others.
        self._open_stores = functools.partial(CheStores.open, entities=entities, filters=filters)
        self.rules: RuleSet = load_rules([])[0]

    async def setup(self, services: Services) -> None:
        self.stores = self._open_stores(StoreFactory(services), self.options)
        await self.stores.entities.setup()
        await self.reload_rules()

    async def on_assigned(self, queue: str) -> None:
        if isinstance(self.stores.entities, CachedEntityStore):
            self.stores.entities.forget()  # another instance may have changed these entities

    async def beat(self) -> None:
        await self.reload_rules()

    async def reload_rules(self) -> None:
        self.rules, problems = load_rules(await self.stores.filters.all())
        for problem in problems:
            logger.warning("eventfilter: %s", problem)

    async def handle_batch(self, events: Sequence[Event]) -> list[BatchOutcome]:
        now = int(time.time())
        # change_entity rules rewrite the identity, so they run before the entities are read.
        identified = [self._identify(event, now) async for event in in_turns(events)]
        wanted = {i for e in identified if isinstance(e, Event) for i in entity_ids(e).load}
        known: dict[str, Entity] = await self.stores.entities.find_many(wanted)
        writes: list[EntityWrite] = []
        outcomes = [
            self._process(e, known, writes, now) if isinstance(e, Event) else e async for e in in_turns(identified)
        ]
        await self.stores.entities.save_all(writes)
        return outcomes

    def _identify(self, event: Event, now: int) -> Event | Drop:
        event = truncate_outputs(
            event, output_length=self.options.output_length, long_output_length=self.options.long_output_length
        )
        renamed = apply_rules(self.rules.identity, event, None, now)
        self._log_failures(renamed.failures)
        return DROP if renamed.outcome == "drop" else renamed.event

    @staticmethod
    def _log_failures(failures: Sequence[str]) -> None:
        for failure in failures:
            logger.warning("eventfilter: %s", failure)

    def _process(self, event: Event, known: dict[str, Entity], writes: list[EntityWrite], now: int) -> BatchOutcome:
        """Context, filter, perf data for one event; `known` and `writes` carry over to the next."""
        context = apply_context(event, known, now)
        if context.error:
            return BadEvent(context.error)
        for upsert in context.upserts:
            writes.append((known.get(upsert.id), upsert))
            known[upsert.id] = upsert
        entity: Entity | None = context.entity
        filtered = apply_rules(self.rules.filters, event, entity, now)
        self._log_failures(filtered.failures)
        if filtered.entity_changed and filtered.entity is not None:
            writes.append((entity, filtered.entity))
            known[filtered.entity.id] = entity = filtered.entity
        if filtered.outcome == "drop":
            return DROP
        event = filtered.event
        if event.event_type == "check" and event.perf_data:
            event, entity = self._perf_data(event, entity, known, writes)
        if entity is None:
            return event
        return event.model_copy(update={"current_entity": entity.to_document()})

    @staticmethod
    def _perf_data(
        event: Event, entity: Entity | None, known: dict[str, Entity], writes: list[EntityWrite]
    ) -> tuple[Event, Entity | None]:
        """Parse `perf_data` into `perf_data_array`; record the metric names on the entity."""
        try:
            data = parse_perf_data(event.perf_data or "")
        except PerfDataError as exc:
            logger.warning("perf_data of %s ignored: %s", event.entity_id, exc)
            return event, entity
        event = event.model_copy(update={"perf_data_array": [d.to_array_item() for d in data]})
        names = sorted({d.metric_name for d in data})
        if entity is not None and not set(names) <= set(entity.perf_data):
            updated = Entity.model_validate({**entity.to_document(), "perf_data": sorted({*entity.perf_data, *names})})
            writes.append((entity, updated))
            known[entity.id] = entity = updated
        return event, entity
