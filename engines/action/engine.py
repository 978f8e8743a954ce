"""engine-action: runs the `action_scenario` scenarios each alarm change triggers.

Alarm actions (ack, assocticket, changestate…) become events published to the head of the chain,
so every alarm change goes through che and axe like any other. The runtime publishes only what
`handle` forwards and what `beat` returns, so scenario runs go through MongoDB:

  handle_batch  an event carrying `current_alarm` and `alarm_change` → its triggers → the
                matching scenarios → one `action_execution` document each, due now or after the
                scenario's delay, written before the event is acked (nothing is lost);
  beat          deletes the outbox events of this process's previous beat (the runtime confirmed
                them before calling this beat), renews the claims of running executions, claims
                the due ones and runs them in background tasks (webhooks may take a while), waits
                briefly for the quick ones, then returns the outbox events not yet published.

So scenarios run on the beat, every second by default (`--beat-interval`). Delayed scenarios survive
restarts (they are documents); delivery of their events is at-least-once. The events an action
sends are marked (`scenario_execution`) and, when axe forwards them back, trigger scenarios only
if the action said `emit_trigger`, as in Canopsis.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

import httpx
from pydantic import BaseModel, Field, ValidationError, field_validator

from engines.action.effects import EXECUTION_KEY
from engines.action.executions import Execution, new_execution
from engines.action.executor import ExecutionPool, Executor, WebhookSettings
from engines.action.matching import matching, triggers_of
from engines.action.scenarios import Scenario
from engines.action.store import ExecutionStore, MemoryExecutionStore, MongoExecutionStore
from engines.action.webhook import Retry
from engines.model import Event
from engines.model.alarm import Alarm
from engines.store.alarms import AlarmStore
from engines.store.collections import ACTION_SCENARIOS
from engines.store.documents import DocumentSource, problem_of, valid_documents
from engines.store.entities import EntityStore, entities_of
from engines.store.factory import StoreFactory, options_of
from framework import (
    DROP,
    BadEvent,
    BatchOutcome,
    Engine,
    Services,
    ServiceUnavailable,
    Settings,
    holder_id,
)

__all__ = ["ActionEngine", "ActionOptions", "ActionStores"]

logger = logging.getLogger(__name__)

#: Seconds a claim on a running execution holds without renewal (each beat renews it).
CLAIM_SECONDS: Final = 30.0
#: Outbox events taken by a process that never came back are taken again after this long.
STALE_SECONDS: Final = 60.0
#: Events returned by one beat at most; the rest go with the next.
EVENTS_PER_BEAT: Final = 1000
#: Beats slower than this make immediate scenarios wait; the engine says so at start.
SLOW_BEAT: Final = 5.0


class ActionOptions(BaseModel):
    webhook_timeout: float = Field(
        default=10.0, gt=0, le=300, description="seconds per webhook attempt, unless the action sets request.timeout"
    )
    webhook_retries: int = Field(
        default=2,
        ge=0,
        le=10,
        description="attempts after a failed one (connect error, timeout, 5xx), unless the action sets retry_count",
    )
    webhook_retry_delay: float = Field(
        default=1.0, ge=0, le=300, description="seconds between webhook attempts, unless the action sets retry_delay"
    )
    webhook_allow_host: tuple[str, ...] = Field(
        default=(),
        description="hosts webhooks may call, comma-separated; *.example.com allows subdomains; empty allows any host",
    )
    scenario_workers: int = Field(default=10, ge=1, le=1000, description="alarms whose scenarios run at once")
    scenario_reload: float = Field(default=10.0, gt=0, description="seconds between two reads of action_scenario")

    @field_validator("webhook_allow_host", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(",") if part.strip())
        return value


@dataclass(frozen=True)
class ActionStores:
    """What action reads and writes: executions and their events, scenarios, alarms, entities."""

    executions: ExecutionStore
    scenarios: DocumentSource
    alarms: AlarmStore
    entities: EntityStore

    @classmethod
    def open(
        cls,
        factory: StoreFactory,
        *,
        store: ExecutionStore | None,
        scenarios: DocumentSource | None,
        alarms: AlarmStore | None,
        entities: EntityStore | None,
    ) -> ActionStores:
        return cls(
            executions=factory.open(store, MongoExecutionStore, MemoryExecutionStore),
            scenarios=factory.documents(scenarios, ACTION_SCENARIOS),
            alarms=factory.alarms(alarms),
            entities=factory.entities(entities),
        )


class ActionEngine(Engine[Event]):
    """Scenarios: ack, ticket, snooze, pbehaviors and webhooks when alarms change."""

    name = "action"
    message_model = Event
    publish_to = ()
    uses = frozenset({"mongo"})
    beat_once = True
    options_model = ActionOptions
    #: Scenarios start on the beat: a second late at most, out of the box.
    default_settings: ClassVar[Mapping[str, Any]] = {"beat_interval": 1.0}
    #: Opened by `setup`, from the stores given to the constructor (see StoreFactory).
    stores: ActionStores
    executor: Executor

    def __init__(
        self,
        settings: Settings,
        *,
        store: ExecutionStore | None = None,
        scenarios: DocumentSource | None = None,
        alarms: AlarmStore | None = None,
        entities: EntityStore | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings)
        self.options = options_of(settings, ActionOptions)
        # A store given here (tests, the embedded chain) is used as it is; setup opens the others.
        self._open_stores = functools.partial(
            ActionStores.open, store=store, scenarios=scenarios, alarms=alarms, entities=entities
        )
        self.http_transport = http_transport
        self.clock = clock
        self.scenarios: list[Scenario] = []
        self.pool = ExecutionPool(self.options.scenario_workers)
        self.holder = holder_id(settings.instance_name)
        self._clients: tuple[httpx.AsyncClient, ...] = ()
        self._beat = 0
        self._loaded_at = float("-inf")
        self._reported: set[tuple[str, str]] = set()

    def __repr__(self) -> str:
        return f"<ActionEngine scenarios={len(self.scenarios)} {self.pool!r} beat={self._beat}>"

    async def setup(self, services: Services) -> None:
        self.stores = self._open_stores(StoreFactory(services))
        await self.stores.executions.setup()
        o = self.options
        clients = (
            httpx.AsyncClient(transport=self.http_transport, follow_redirects=False),
            httpx.AsyncClient(transport=self.http_transport, follow_redirects=False, verify=False),
        )
        self._clients = clients
        webhooks = WebhookSettings(
            o.webhook_timeout, Retry(count=o.webhook_retries, delay=o.webhook_retry_delay), o.webhook_allow_host
        )
        self.executor = Executor(self.stores.executions, self.stores.alarms, clients, webhooks, self.clock)
        await self.reload_scenarios()
        if self.settings.beat_interval > SLOW_BEAT:
            logger.warning(
                "--beat-interval is %.0f s: scenarios run on the beat, so they start up to that late;"
                " leave --beat-interval at its default of 1 s",
                self.settings.beat_interval,
            )
        allowed = ", ".join(o.webhook_allow_host) or "any host"
        logger.info("%d scenarios; webhooks may call %s", len(self.scenarios), allowed)

    async def close(self) -> None:
        await self.pool.aclose()
        try:
            await self.stores.executions.release(self.holder)
        except ServiceUnavailable as exc:
            logger.warning("claims not released (%s); they lapse in %.0f s", exc, CLAIM_SECONDS)
        for client in self._clients:
            await client.aclose()

    async def reload_scenarios(self) -> None:
        """Read `action_scenario` again; a document that is not a valid scenario is reported once and skipped."""
        documents = await self.stores.scenarios.all()
        self.scenarios = valid_documents(Scenario, documents, ACTION_SCENARIOS, logger, self._reported)
        self._loaded_at = self.clock()

    # ---- events ------------------------------------------------------------------------------

    async def handle_batch(self, events: Sequence[Event]) -> list[BatchOutcome]:
        now = self.clock()
        forward = bool(self.settings.publish_queues)  # the end of the chain unless told otherwise
        outcomes: list[BatchOutcome] = [event if forward else DROP for event in events]
        # Most changes trigger no scenario: the alarm (hundreds of steps when it flaps) and its
        # entity are read only for those that may.
        triggered: list[tuple[Event, Alarm, list[str], list[Scenario]]] = []
        for n, event in enumerate(events):
            if not event.current_alarm or not event.alarm_change or not _triggers_scenarios(event):
                continue
            triggers = triggers_of(event.alarm_change)
            candidates = [s for s in self.scenarios if s.enabled and s.triggered_by(triggers)]
            if not candidates:
                continue
            try:
                alarm = Alarm.from_document(event.current_alarm)
            except ValidationError as exc:
                outcomes[n] = BadEvent(f"current_alarm is not an alarm: {problem_of(exc, limit=1)}")
                continue
            triggered.append((event, alarm, triggers, candidates))
        # The entity each event carries (`current_entity`), else the stored one.
        entities = await entities_of(
            self.stores.entities, [(event, alarm.entity_id) for event, alarm, _, _ in triggered]
        )
        executions: list[Execution] = []
        for event, alarm, triggers, candidates in triggered:
            entity = entities.get(alarm.entity_id)
            for scenario in matching(candidates, triggers, alarm, entity, now):
                data = _additional_data(event, scenario, triggers)
                executions.append(new_execution(scenario, alarm, entity, event.alarm_change or {}, data, now))
        await self.stores.executions.add(executions)
        if executions:
            logger.debug("%d scenario runs queued for %d events", len(executions), len(events))
        return outcomes

    # ---- beat ------------------------------------------------------------------------------

    async def beat(self) -> list[Event]:
        """Start the due scenario runs and return the events runs produced (see the module docstring)."""
        now = self.clock()
        self._beat += 1
        # Beats never overlap and the runtime publishes a beat's events (with confirms) before it
        # calls the next one: what earlier beats returned is published.
        await self.stores.executions.forget_events(self.holder, self._beat)
        await self.stores.executions.renew(self.pool.running, self.holder, now + CLAIM_SECONDS)
        if now - self._loaded_at >= self.options.scenario_reload:
            await self.reload_scenarios()
        started = await self._start_due(now)
        await self.pool.wait(started, timeout=min(self.settings.beat_interval / 2, 2.0))
        events = await self.stores.executions.take_events(
            self.holder, self._beat, now, now - max(STALE_SECONDS, 10 * self.settings.beat_interval), EVENTS_PER_BEAT
        )
        if events:
            logger.info("beat: %d action events sent to the head of the chain", len(events))
        return events

    async def _start_due(self, now: float) -> list[asyncio.Task[None]]:
        if not self.pool.free:
            return []
        claimed = await self.stores.executions.claim_due(
            self.holder, now, now + CLAIM_SECONDS, self.pool.free, self.pool.busy_alarms
        )
        by_alarm: dict[str, list[Execution]] = {}
        for execution in claimed:
            by_alarm.setdefault(execution.alarm_id, []).append(execution)
        scenarios = {s.id: s for s in self.scenarios}
        executor = self.executor

        async def run(execution: Execution) -> None:
            await executor.run(execution, scenarios.get(execution.scenario))

        return [self.pool.start(alarm_id, group, run) for alarm_id, group in by_alarm.items()]


def _triggers_scenarios(event: Event) -> bool:
    """False for an event an action sent, unless that action said `emit_trigger`."""
    marker = (event.model_extra or {}).get(EXECUTION_KEY)
    return not isinstance(marker, dict) or bool(marker.get("emit_trigger"))


def _additional_data(event: Event, scenario: Scenario, triggers: Sequence[str]) -> dict[str, str]:
    """`.AdditionalData` of the scenario's templates: the triggering event and trigger."""
    change = event.alarm_change or {}
    return {
        "AlarmChangeType": str(change.get("Type") or ""),
        "Trigger": next((t for t in triggers if t in scenario.triggers), ""),
        "Author": event.author or "",
        "User": event.user_id or "",
        "Initiator": event.initiator,
        "Output": event.output or "",
    }
