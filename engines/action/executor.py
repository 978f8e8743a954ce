"""Running scenario executions: their actions in order, in background tasks the engine owns.

An execution runs its actions from `step` on. An action whose patterns do not match the alarm
is skipped, or ends the run when it says `drop_scenario_if_not_matched`. Alarm actions put their
event in the outbox; a pbehavior action inserts its pbehavior; a webhook action calls out
(with retries) and, with `declare_ticket`, puts an assocticket event with the ticket it read in
the outbox. After each action the outbox write comes first, then the step is recorded, so a
process that dies mid-run repeats at most one action when the run is taken up again. An action
that fails (a template, the webhook, the ticket) ends the run with one WARNING line, as in
Canopsis. A delayed run re-reads the open alarm before its first action: if the alarm was
resolved meanwhile, or is now in a pbehavior the scenario is disabled during, it is dropped.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from engines.action.effects import alarm_action_event, pbehavior_document
from engines.action.executions import Execution
from engines.action.matching import canonical_type, is_runnable
from engines.action.scenarios import Action, Scenario
from engines.action.store import ExecutionStore
from engines.action.view import template_data
from engines.action.webhook import Retry, TicketError, WebhookError, call, ticket_from_response
from engines.model.alarm import Alarm
from engines.model.entity import Entity
from engines.model.event import Event
from engines.model.template import TemplateError
from engines.store.alarms import AlarmStore
from framework import ServiceUnavailable

__all__ = ["ActionFailed", "ExecutionPool", "Executor", "WebhookSettings"]

logger = logging.getLogger(__name__)


class ActionFailed(Exception):
    """An action could not be performed; the rest of its scenario is dropped."""


@dataclass(frozen=True)
class WebhookSettings:
    """The engine's webhook options: defaults for requests that do not set them, and the allow-list."""

    timeout: float = 10.0
    retry: Retry = field(default_factory=Retry)
    allow_hosts: tuple[str, ...] = ()


@dataclass
class _Answers:
    """What the webhooks of one execution answered, as later templates read it."""

    response: dict[str, Any] = field(default_factory=dict)
    response_map: dict[str, Any] = field(default_factory=dict)
    header: dict[str, str] = field(default_factory=dict)
    count: int = 0
    calls: int = 0
    last: Any = None

    @classmethod
    def load(cls, text: str) -> _Answers:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        if not self.calls:
            return ""
        return json.dumps(
            {
                "response": self.response,
                "response_map": self.response_map,
                "header": self.header,
                "count": self.count,
                "calls": self.calls,
                "last": self.last,
            }
        )

    def record(self, body: Any, headers: httpx.Headers) -> None:
        """Canopsis merges object answers into Response and keys them "<n>.<key>" in ResponseMap."""
        self.header.update({name: value for name, value in headers.items()})
        self.calls += 1
        self.last = body
        if isinstance(body, dict):
            for key, value in body.items():
                self.response[key] = value
                self.response_map[f"{self.count}.{key}"] = value
            self.count += 1


class Executor:
    """Runs one execution at a time (see the module docstring); stateless between runs."""

    def __init__(
        self,
        store: ExecutionStore,
        alarms: AlarmStore,
        clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
        webhooks: WebhookSettings,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.alarms = alarms
        self.client, self.unverified_client = clients
        self.webhooks = webhooks
        self.clock = clock

    async def run(self, execution: Execution, scenario: Scenario | None) -> None:
        """Run `execution` to its end and delete it. Raises ServiceUnavailable (the claim then
        lapses and the run is taken up again later); other errors are bugs."""
        label = f"scenario {execution.scenario_name or execution.scenario!r} on alarm {execution.alarm_id}"
        try:
            await self._run(execution, scenario, label)
        except ActionFailed as exc:
            logger.warning("%s stopped: %s", label, exc)
        except ServiceUnavailable:
            raise
        except Exception:  # a bug: reported once, and the run is dropped rather than retried for ever
            logger.exception("%s failed; the run is dropped", label)
        await self.store.finish(execution.id)

    async def _run(self, execution: Execution, scenario: Scenario | None, label: str) -> None:
        if scenario is None or not scenario.enabled:
            logger.info("%s dropped: the scenario was deleted or disabled", label)
            return
        alarm = Alarm.from_document(execution.alarm)
        entity = Entity.model_validate(execution.entity) if execution.entity else None
        if execution.delayed and execution.step == 0:
            current = (await self.alarms.find_open([execution.entity_id])).get(execution.entity_id)
            if current is None or current.id != execution.alarm_id:
                logger.info("%s dropped: the alarm was resolved before the delay ended", label)
                return
            if canonical_type(current) in scenario.disable_during_periods:
                logger.info("%s dropped: the alarm is now in a %s period", label, canonical_type(current))
                return
            alarm = current
        answers = _Answers.load(execution.webhook)
        for step in range(execution.step, len(scenario.actions)):
            action = scenario.actions[step]
            if not is_runnable(action, alarm, entity, self.clock()):
                if action.drop_scenario_if_not_matched:
                    logger.debug("%s: action %d does not match; scenario dropped", label, step + 1)
                    return
                continue
            try:
                events = await self._perform(execution, scenario, step, action, alarm, entity, answers)
            except (TemplateError, WebhookError, TicketError, ValueError) as exc:
                raise ActionFailed(f"action {step + 1} ({action.type}): {exc}") from None
            await self.store.queue_events(execution.id, step, events)
            await self.store.advance(execution.id, step + 1, answers.dump())
        logger.debug("%s done", label)

    async def _perform(
        self,
        execution: Execution,
        scenario: Scenario,
        step: int,
        action: Action,
        alarm: Alarm,
        entity: Entity | None,
        answers: _Answers,
    ) -> list[Event]:
        now = self.clock()
        marker = {"scenario": scenario.id, "execution": execution.id, "step": step, "emit_trigger": action.emit_trigger}
        common: dict[str, Any] = {"scenario": scenario, "data": execution.data}
        if action.type == "pbehavior":
            document = pbehavior_document(action, alarm, entity, now, pbehavior_id=f"{execution.id}-{step}", **common)
            await self.store.save_pbehavior(document)
            return []
        declare = action.parameters.declare_ticket
        if action.type == "webhook":
            request = action.webhook_request()
            data = template_data(
                alarm,
                entity,
                additional=execution.data,
                response=answers.response,
                response_map=answers.response_map,
                header=answers.header,
            )
            client = self.unverified_client if request.skip_verify else self.client
            response = await call(
                client,
                request,
                self.webhooks.allow_hosts,
                data=data,
                default_timeout=self.webhooks.timeout,
                default_retry=self.webhooks.retry,
            )
            body = _json_body(response)
            answers.record(body, response.headers)
            if not declare:
                return []
            declared = ticket_from_response(body, declare)
            if not declared:
                return []
            assoc = action.model_copy(update={"type": "assocticket"})
            return [alarm_action_event(assoc, alarm, entity, now, ticket=declared, execution=marker, **common)]
        # An assocticket with declare_ticket after a webhook takes its ticket from that answer.
        ticket = ticket_from_response(answers.last, declare) if declare and answers.calls else None
        return [alarm_action_event(action, alarm, entity, now, ticket=ticket, execution=marker, **common)]


def _json_body(response: httpx.Response) -> Any:
    """The answer as JSON; None when it is empty or not JSON (Canopsis reads only JSON answers)."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return None


class ExecutionPool:
    """The background runs of one process: one task per alarm (its executions in order), at most
    `size` at once; `aclose` cancels and awaits them all."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._ids: dict[str, list[str]] = {}

    def __repr__(self) -> str:
        return f"<ExecutionPool running={len(self._tasks)}/{self.size}>"

    @property
    def free(self) -> int:
        return max(0, self.size - len(self._tasks))

    @property
    def busy_alarms(self) -> Collection[str]:
        return set(self._tasks)

    @property
    def running(self) -> list[str]:
        return [execution_id for ids in self._ids.values() for execution_id in ids]

    def start(
        self, alarm_id: str, executions: Sequence[Execution], run: Callable[[Execution], Awaitable[None]]
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._run_all(executions, run), name=f"action:{alarm_id}")
        self._tasks[alarm_id] = task
        self._ids[alarm_id] = [e.id for e in executions]

        def forget(_: asyncio.Task[None]) -> None:
            self._tasks.pop(alarm_id, None)
            self._ids.pop(alarm_id, None)

        task.add_done_callback(forget)
        return task

    @staticmethod
    async def _run_all(executions: Sequence[Execution], run: Callable[[Execution], Awaitable[None]]) -> None:
        for execution in executions:
            try:
                await run(execution)
            except ServiceUnavailable as exc:
                logger.warning(
                    "scenario runs on alarm %s paused (%s); taken up again once their claims lapse",
                    execution.alarm_id,
                    exc,
                )
                return

    async def wait(self, tasks: Collection[asyncio.Task[None]], timeout: float) -> None:
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def aclose(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
