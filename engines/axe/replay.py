"""Redelivered events that an alarm already reflects are recognised and not applied twice.

When an axe instance dies after writing a batch but before acking it, the broker hands the batch
to the next instance (flagged redelivered); when a write of a batch fails halfway (the database
went away, one event of the batch is refused), the runtime runs its events again (flagged the
same way). Applying them again would repeat their steps. So each alarm keeps the message ids of
the last events applied to it, written with it; a redelivered event whose id is there is
forwarded as it stands, without changing the alarm. First deliveries are always applied: ids
come from the publisher, and a connector may reuse them.
"""

from __future__ import annotations

from typing import Final

from engines.model.alarm import Alarm, AlarmChange
from engines.model.event import Event

__all__ = ["APPLIED_KEPT", "already_applied", "record_applied", "replayed"]

#: Ids kept per alarm: more than the events of one entity an instance can hold unacked in
#: practice (its pipeline is 4 batches); an older redelivery than that is applied again.
APPLIED_KEPT: Final = 64


def already_applied(alarm: Alarm | None, event: Event) -> bool:
    """`event` is a redelivery of one whose effect `alarm` already holds."""
    message_id = event.amqp_message_id
    return bool(event.amqp_redelivered and message_id and alarm is not None and message_id in (alarm.applied or ()))


def record_applied(alarm: Alarm, event: Event) -> Alarm:
    """`alarm` remembering that `event` was applied to it (unchanged if the event has no id)."""
    message_id = event.amqp_message_id
    if not message_id:
        return alarm
    kept = [*(alarm.applied or ())[-(APPLIED_KEPT - 1) :], message_id]
    return alarm.model_copy(update={"applied": kept})


def replayed(alarm: Alarm) -> AlarmChange:
    """What a recognised redelivery does: nothing to write, the event forwarded with the alarm."""
    state, status = alarm.value.state, alarm.value.status
    return AlarmChange(
        alarm,
        previous_state=alarm.state,
        previous_status=alarm.status,
        previous_state_change=state.timestamp,
        previous_status_change=status.timestamp,
        forward=True,
    )
