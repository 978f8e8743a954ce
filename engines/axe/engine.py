"""engine-axe: one open alarm per entity, changed by each event; every decision is in lifecycle.py."""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from engines.axe.lifecycle import apply_event
from engines.axe.replay import already_applied, record_applied, replayed
from engines.axe.resend import BeatLedger
from engines.axe.rule_documents import DEFAULT_RESOLVE_RULE, FlappingRule, ResolveRule
from engines.axe.rules import (
    Rules,
    alarms_to_resolve,
    cancels_to_resolve,
    flapping_to_update,
    snoozes_to_end,
)
from engines.model import Event
from engines.model.alarm import Alarm
from engines.store.alarm_cache import CachedAlarmStore
from engines.store.alarms import AlarmStore
from engines.store.collections import FLAPPING_RULES, RESOLVE_RULES
from engines.store.documents import DocumentSource, valid_documents
from engines.store.entities import EntityStore, entities_of
from engines.store.factory import StoreFactory, options_of
from framework import DROP, BatchOutcome, Engine, Services, Settings, database_errors, in_turns

__all__ = ["AxeEngine", "AxeOptions", "AxeStores"]

logger = logging.getLogger(__name__)


class AxeOptions(BaseModel):
    cancel_autosolve_delay: int = Field(default=3600, ge=0, description="seconds before a cancelled alarm resolves")
    stealthy_interval: int = Field(default=0, ge=0, description="seconds of the stealthy status; 0 disables it")
    allow_double_ack: bool = Field(default=False, description="let an acked alarm be acked again")
    allow_change_severity_to_info: bool = Field(default=False, description="let changestate set state 0")
    alarm_cache_seconds: float = Field(
        default=60, ge=0, description="seconds an open alarm in memory is trusted before it is read again; 0: no cache"
    )
    alarm_cache_mb: float = Field(
        default=32, ge=0, description="MiB of open alarms kept in memory (~8 KB + 1.4 KB per step each); 0: no cache"
    )
    beat_resend_seconds: float = Field(
        default=600, gt=0, description="seconds before the beat sends again an event not applied yet (chain lagging)"
    )


@dataclass(frozen=True)
class AxeStores:
    """What axe reads and writes: the alarms, the entities (read only), and its rules."""

    alarms: AlarmStore
    entities: EntityStore
    resolve_rules: DocumentSource
    flapping_rules: DocumentSource

    @classmethod
    def open(
        cls,
        factory: StoreFactory,
        options: AxeOptions,
        *,
        alarms: AlarmStore | None,
        entities: EntityStore | None,
        resolve_rules: DocumentSource | None,
        flapping_rules: DocumentSource | None,
    ) -> AxeStores:
        return cls(
            alarms=factory.alarms(alarms, cache_mb=options.alarm_cache_mb, cache_seconds=options.alarm_cache_seconds),
            entities=factory.entities(entities),
            # In memory, Canopsis' default rule is there from the start, as setup installs it in MongoDB.
            resolve_rules=factory.documents(resolve_rules, RESOLVE_RULES, [DEFAULT_RESOLVE_RULE.to_document()]),
            flapping_rules=factory.documents(flapping_rules, FLAPPING_RULES),
        )


class AxeEngine(Engine[Event]):
    """Alarms: opens, updates and resolves the alarm of each entity from the events che enriched."""

    name = "axe"
    message_model = Event
    publish_to = ("Engine_action",)
    uses = frozenset({"mongo"})
    beat_once = True
    options_model = AxeOptions
    #: Opened by `setup`, from the stores given to the constructor (see StoreFactory).
    stores: AxeStores

    def __init__(
        self,
        settings: Settings,
        *,
        alarms: AlarmStore | None = None,
        entities: EntityStore | None = None,
        resolve_rules: DocumentSource | None = None,
        flapping_rules: DocumentSource | None = None,
    ) -> None:
        super().__init__(settings)
        self.options = options_of(settings, AxeOptions)
        # A store given here (tests, the embedded chain) is used as it is; setup opens the others.
        self._open_stores = functools.partial(
            AxeStores.open,
            alarms=alarms,
            entities=entities,
            resolve_rules=resolve_rules,
            flapping_rules=flapping_rules,
        )
        self.rules = self._rules((), ())
        self.ledger = BeatLedger(self.options.beat_resend_seconds)

    async def setup(self, services: Services) -> None:
        self.stores = self._open_stores(StoreFactory(services), self.options)
        if services.mongo is not None:
            await _install_default_rule(services.mongo)
        await self.stores.alarms.setup()
        await self.reload_rules()

    async def reload_rules(self) -> None:
        resolve = valid_documents(ResolveRule, await self.stores.resolve_rules.all(), RESOLVE_RULES, logger)
        flapping = valid_documents(FlappingRule, await self.stores.flapping_rules.all(), FLAPPING_RULES, logger)
        self.rules = self._rules(resolve, flapping)

    def _rules(self, resolve: Sequence[ResolveRule], flapping: Sequence[FlappingRule]) -> Rules:
        o = self.options
        return Rules(
            resolve_rules=resolve,
            flapping_rules=flapping,
            allow_double_ack=o.allow_double_ack,
            allow_change_severity_to_info=o.allow_change_severity_to_info,
            cancel_autosolve_delay=o.cancel_autosolve_delay,
            stealthy_interval=o.stealthy_interval,
        )

    async def handle_batch(self, events: Sequence[Event]) -> list[BatchOutcome]:
        now = int(time.time())
        # The entity che attached to each event (`current_entity`), else the stored one.
        entities = await entities_of(self.stores.entities, [(event, event.entity_id) for event in events])
        open_alarms: dict[str, Alarm | None] = dict(await self.stores.alarms.find_open(set(entities)))
        as_read: dict[str, Alarm | None] = {a.id: a for a in open_alarms.values() if a is not None}
        changed: list[Alarm] = []
        outcomes: list[BatchOutcome] = []
        replays = 0
        async for event in in_turns(events):
            entity = entities.get(event.entity_id)
            key = entity.id if entity else event.entity_id
            alarm = open_alarms.get(key)
            if already_applied(alarm, event):
                assert alarm is not None
                change = replayed(alarm)
                replays += 1
            else:
                change = apply_event(alarm, event, entity, self.rules, now, str(uuid.uuid4()))
            if change.modified and change.alarm is not None:
                change = dataclasses.replace(change, alarm=record_applied(change.alarm, event))
                assert change.alarm is not None
                changed.append(change.alarm)
                open_alarms[key] = None if change.resolved else change.alarm
            if not change.forward:
                outcomes.append(DROP)
                continue
            update: dict[str, Any] = {"alarm_change": change.to_event_field()}
            if change.alarm is not None:
                update["current_alarm"] = change.alarm.to_document()
                update["current_alarm"].pop("cps_applied", None)
            outcomes.append(event.model_copy(update=update))
        opened: dict[str, Alarm | None] = {a.id: None for a in changed if a.id not in as_read}
        await self.stores.alarms.save_all(changed, {**as_read, **opened})
        if replays:
            logger.info("%d redelivered events were already applied: forwarded, not applied again", replays)
        return outcomes

    async def on_assigned(self, queue: str) -> None:
        if isinstance(self.stores.alarms, CachedAlarmStore):
            self.stores.alarms.forget()  # another instance may have changed these entities' alarms

    async def beat(self) -> AsyncGenerator[list[Event], None]:
        """Decide what time changed (resolutions, snooze ends…) and send it as events through the chain."""
        await self.reload_rules()
        return self._decide(int(time.time()), self.rules)

    async def _decide(self, now: int, rules: Rules) -> AsyncGenerator[list[Event], None]:
        """The beat's events, a page of due alarms at a time (each page published before the next is read)."""
        self.ledger.start()
        looked = sent = 0
        async for alarms in self.stores.alarms.due_for_beat(now, now - rules.cancel_autosolve_delay):
            entities = await self.stores.entities.find_many({a.entity_id for a in alarms})
            pairs = [(a, entities[a.entity_id]) for a in alarms if a.entity_id in entities]
            decided = [
                *alarms_to_resolve(pairs, rules, now),
                *snoozes_to_end(pairs, rules, now),
                *cancels_to_resolve(pairs, rules, now),
                *flapping_to_update(pairs, rules, now),
            ]
            batch = self.ledger.to_send(decided, now)
            looked, sent = looked + len(alarms), sent + len(batch)
            yield batch
        waiting = self.ledger.finish()
        if sent or waiting > sent:
            logger.info(
                "beat: %d alarms looked at, %d events sent to the head of the chain, %d sent earlier"
                " and not applied yet",
                looked,
                sent,
                waiting - sent,
            )


async def _install_default_rule(db: AsyncDatabase[dict[str, Any]]) -> None:
    """Canopsis installs its default resolve rule as a fixture at first start: so do we (an instance
    starting beside us may do it too: the same _id, inserted once)."""
    with contextlib.suppress(DuplicateKeyError), database_errors():
        if not await db[RESOLVE_RULES].count_documents({}, limit=1):
            await db[RESOLVE_RULES].insert_one(DEFAULT_RESOLVE_RULE.to_document())
