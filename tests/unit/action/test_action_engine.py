"""ActionEngine on in-memory stores: events queue scenario runs, the beat runs them and returns their events."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from action_factories import NOW, ack_action, any_alarm, change, entity, forwarded

from engines.action.effects import EXECUTION_KEY
from engines.action.engine import ActionEngine, ActionOptions
from engines.action.store import MemoryExecutionStore
from engines.model import Event
from engines.store.alarms import MemoryAlarmStore
from engines.store.documents import MemoryDocuments
from framework import DROP, BadEvent, Settings
from framework.services.connect import Services

PASSWORD = "hunter2-very-secret"


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """One engine (or several, sharing stores as processes share MongoDB) and its stores."""

    def __init__(
        self,
        scenarios: list[dict[str, Any]],
        handler: Callable[[httpx.Request], httpx.Response] | None = None,
        **options: Any,
    ) -> None:
        self.store = MemoryExecutionStore()
        self.alarms = MemoryAlarmStore()
        self.source = MemoryDocuments(scenarios)
        self.clock = Clock()
        self.handler = handler or (lambda request: httpx.Response(200, json={}))
        self.options = ActionOptions(**options)
        self.engines: list[ActionEngine] = []

    async def engine(self, instance: str = "") -> ActionEngine:
        settings = Settings(name="action", instance=instance, beat_interval=1, options=self.options)
        engine = ActionEngine(
            settings,
            store=self.store,
            scenarios=self.source,
            alarms=self.alarms,
            http_transport=httpx.MockTransport(self.handler),
            clock=self.clock,
        )
        await engine.setup(Services())
        self.engines.append(engine)
        return engine

    async def close(self) -> None:
        for engine in self.engines:
            await engine.close()


@pytest.fixture
async def harness_factory() -> Any:
    made: list[Harness] = []

    def make(scenarios: list[dict[str, Any]], handler: Any = None, **options: Any) -> Harness:
        made.append(Harness(scenarios, handler, **options))
        return made[-1]

    yield make
    for harness in made:
        await harness.close()


def scenario_doc(actions: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return {"_id": "s1", "name": "auto", "triggers": ["create"], "actions": actions or [ack_action()], **fields}


async def created_event(h: Harness) -> Event:
    """A check that created an alarm, as axe forwards it (the alarm is stored, as axe stores it)."""
    result = change()
    assert result.alarm is not None
    await h.alarms.save_all([result.alarm])
    return forwarded(entity(), result, state=2, output="disk 95%")


async def test_a_triggered_scenario_runs_on_the_beat_and_its_event_goes_out(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc()])
    engine = await h.engine()
    assert await engine.handle_batch([await created_event(h)]) == [DROP]
    assert len(h.store.executions) == 1
    (ack,) = await engine.beat()
    assert ack.event_type == "ack" and ack.entity_id == "disk/web01" and ack.initiator == "system"
    assert ack.output == "Scenario: auto. Comment: auto."
    marker = (ack.model_extra or {})[EXECUTION_KEY]
    assert marker["scenario"] == "s1" and marker["emit_trigger"] is False
    assert h.store.executions == {} and len(h.store.outbox) == 1
    assert await engine.beat() == [] and h.store.outbox == {}, "published by the runtime: forgotten"


async def test_events_without_alarm_or_change_trigger_nothing(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc()])
    engine = await h.engine()
    event = await created_event(h)
    bare = [event.model_copy(update={"current_alarm": None}), event.model_copy(update={"alarm_change": None})]
    assert await engine.handle_batch(bare) == [DROP, DROP]
    assert h.store.executions == {}


async def test_events_are_forwarded_when_a_publish_queue_is_set(harness_factory: Any) -> None:
    h = harness_factory([])
    engine = await h.engine()
    engine.settings = Settings(name="action", publish_queues=("Engine_next",), beat_interval=1, options=h.options)
    event = await created_event(h)
    assert await engine.handle_batch([event]) == [event]


async def test_a_malformed_current_alarm_is_dead_lettered(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc()])
    engine = await h.engine()
    event = (await created_event(h)).model_copy(update={"current_alarm": {"_id": "x"}})
    (outcome,) = await engine.handle_batch([event])
    assert isinstance(outcome, BadEvent) and outcome.reason.startswith("current_alarm is not an alarm")


async def test_a_redelivered_event_does_not_run_the_scenario_twice(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc()])
    engine = await h.engine()
    event = await created_event(h)
    await engine.handle_batch([event])
    await engine.handle_batch([event])
    assert len(h.store.executions) == 1
    assert len(await engine.beat()) == 1


async def test_action_events_trigger_scenarios_only_with_emit_trigger(harness_factory: Any) -> None:
    on_ack = scenario_doc(
        _id="on-ack", triggers=["ack"], actions=[ack_action(type="assocticket", parameters={"ticket": "T"})]
    )
    h = harness_factory([scenario_doc(), on_ack])
    engine = await h.engine()
    created = change()
    acked = change(alarm=created.alarm, event_type="ack", initiator="system", author="system")
    back = forwarded(entity(), acked, "ack")
    quiet = back.model_copy(update={EXECUTION_KEY: {"scenario": "s1", "emit_trigger": False}})
    loud = back.model_copy(update={EXECUTION_KEY: {"scenario": "s1", "emit_trigger": True}})
    await engine.handle_batch([quiet])
    assert h.store.executions == {}
    await engine.handle_batch([loud])
    assert [e["scenario"] for e in h.store.executions.values()] == ["on-ack"]


async def test_scenarios_of_one_alarm_run_by_priority(harness_factory: Any) -> None:
    docs = [
        scenario_doc(_id="late", priority=5, actions=[ack_action(type="cancel")]),
        scenario_doc(_id="first", priority=1, actions=[ack_action(type="changestate", parameters={"state": 3})]),
    ]
    h = harness_factory(docs)
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    assert [e.event_type for e in await engine.beat()] == ["changestate", "cancel"]


async def test_a_delayed_scenario_waits_and_survives_a_restart(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc(delay={"value": 10, "unit": "m"})])
    first = await h.engine("action-1")
    await first.handle_batch([await created_event(h)])
    assert await first.beat() == []
    await first.close()  # the process stops: the execution stays in the store
    h.clock.now = NOW + 601
    second = await h.engine("action-2")
    (ack,) = await second.beat()
    assert ack.event_type == "ack" and h.store.executions == {}


async def test_a_delayed_scenario_is_dropped_when_the_alarm_was_resolved(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc(delay={"value": 1, "unit": "m"})])
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    h.alarms.alarms.clear()  # resolved and gone from the open alarms
    h.clock.now = NOW + 61
    assert await engine.beat() == [] and h.store.executions == {}


async def test_a_delayed_scenario_is_dropped_when_the_alarm_entered_a_disabled_period(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc(delay={"value": 1, "unit": "m"}, disable_during_periods=["maintenance"])])
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    (stored,) = h.alarms.alarms.values()
    stored["v"]["pbehavior_info"] = {"id": "p1", "canonical_type": "maintenance"}
    h.clock.now = NOW + 61
    assert await engine.beat() == [] and h.store.executions == {}


def webhook_action(**parameters: Any) -> dict[str, Any]:
    request = {
        "method": "POST",
        "url": "https://itsm.example/api/tickets",
        "auth": {"username": "canopsis", "password": PASSWORD},
        "headers": {"Content-Type": "application/json"},
        "payload": '{"title": "{{ .Alarm.Value.Component }} {{ .Alarm.Value.Resource }}"}',
    }
    return {"type": "webhook", "alarm_pattern": any_alarm(), "parameters": {"request": request, **parameters}}


async def test_a_webhook_declaring_a_ticket_sends_an_assocticket(harness_factory: Any) -> None:
    seen: list[httpx.Request] = []

    def itsm(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"result": {"number": "INC42", "url": "https://itsm.example/INC42"}})

    action = webhook_action(
        declare_ticket={"ticket_id": "result.number", "ticket_url": "result.url"}, ticket_system_name="itsm"
    )
    h = harness_factory([scenario_doc([action, ack_action()])], itsm)
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    ticket, ack = await engine.beat()
    assert json.loads(seen[0].content) == {"title": "web01 disk"}
    assert (ticket.event_type, ticket.ticket, ticket.ticket_url, ticket.ticket_system_name) == (
        "assocticket",
        "INC42",
        "https://itsm.example/INC42",
        "itsm",
    )
    assert ticket.ticket_rule_id == "s1" and ack.event_type == "ack"


async def test_an_assocticket_after_a_webhook_takes_the_ticket_from_its_answer(harness_factory: Any) -> None:
    def itsm(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"id": 1234})

    assoc = ack_action(type="assocticket", parameters={"declare_ticket": {"ticket_id": "id"}})
    h = harness_factory([scenario_doc([webhook_action(), assoc])], itsm)
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    (ticket,) = await engine.beat()
    assert ticket.event_type == "assocticket" and ticket.ticket == "1234"


async def test_a_failing_webhook_stops_the_scenario_and_logs_no_secret(
    harness_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    h = harness_factory(
        [scenario_doc([webhook_action(), ack_action()])],
        lambda r: httpx.Response(503),
        webhook_retries=1,
        webhook_retry_delay=0,
    )
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    assert await engine.beat() == [] and h.store.executions == {}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert (
        "action 1 (webhook): POST https://itsm.example/api/tickets: 503 Service Unavailable after 2 attempts" in logged
    )
    assert PASSWORD not in logged


async def test_a_webhook_to_a_host_outside_the_allow_list_is_refused(harness_factory: Any) -> None:
    calls: list[httpx.Request] = []
    h = harness_factory(
        [scenario_doc([webhook_action(), ack_action()])],
        lambda r: calls.append(r) or httpx.Response(200),
        webhook_allow_host="hooks.internal,*.corp",
    )
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    assert await engine.beat() == [] and calls == []


async def test_a_pbehavior_action_inserts_a_pbehavior(harness_factory: Any) -> None:
    action = {
        "type": "pbehavior",
        "alarm_pattern": any_alarm(),
        "parameters": {
            "name": "auto maintenance",
            "type": "maint",
            "reason": "r",
            "start_on_trigger": True,
            "duration": {"value": 1, "unit": "h"},
        },
    }
    h = harness_factory([scenario_doc([action])])
    engine = await h.engine()
    await engine.handle_batch([await created_event(h)])
    assert await engine.beat() == []
    (pbehavior,) = h.store.pbehaviors.values()
    assert (pbehavior["name"], pbehavior["tstart"], pbehavior["tstop"]) == ("auto maintenance", NOW, NOW + 3600)


async def test_an_invalid_scenario_is_skipped_and_reported_once(
    harness_factory: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = {"_id": "broken", "triggers": ["create"], "actions": [{"type": "ack"}]}
    h = harness_factory([broken, scenario_doc()])
    engine = await h.engine()
    await engine.reload_scenarios()
    assert [s.id for s in engine.scenarios] == ["s1"]
    warnings = [r.getMessage() for r in caplog.records if "broken" in r.getMessage()]
    assert warnings == [
        "action_scenario 'broken' skipped: actions.0: the action has neither alarm_pattern nor entity_pattern"
    ]


async def test_events_taken_by_a_process_that_died_are_sent_again_later(harness_factory: Any) -> None:
    h = harness_factory([scenario_doc()])
    dead = await h.engine("action-1")
    await dead.handle_batch([await created_event(h)])
    assert len(await dead.beat()) == 1  # returned, but the process died before its next beat
    other = await h.engine("action-2")
    assert await other.beat() == [], "too early to assume they were lost"
    h.clock.now = NOW + 61
    (again,) = await other.beat()
    assert again.event_type == "ack"


def test_allow_host_option_reads_a_comma_separated_list() -> None:
    assert ActionOptions(webhook_allow_host="a.example, *.b.example,").webhook_allow_host == (
        "a.example",
        "*.b.example",
    )
    assert ActionOptions.model_validate({"webhook_allow_host": ["x"]}).webhook_allow_host == ("x",)


def test_out_of_the_box_scenarios_start_within_a_second_and_a_flag_still_decides() -> None:
    from engines.action.engine import ActionEngine
    from framework.config.flags import parse_settings

    assert parse_settings(ActionEngine, []).beat_interval == 1.0
    assert parse_settings(ActionEngine, ["--beat-interval", "3"]).beat_interval == 3.0
