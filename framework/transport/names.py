"""AMQP names of the Canopsis contract, in one place (DESIGN §4)."""

from typing import Final

#: Connectors publish here; the first engine of a chain binds its queue to it.
EVENTS_EXCHANGE: Final = "canopsis.events"

#: Binding key that takes every event: the routing key carries no meaning at Canopsis HEAD.
ALL_EVENTS: Final = "#"

CONTENT_TYPE: Final = "application/json"

#: Headers of a dead-lettered message: why it was refused, and where it came from.
DEAD_REASON_HEADER: Final = "x-cps-reason"
DEAD_ENGINE_HEADER: Final = "x-cps-engine"
DEAD_QUEUE_HEADER: Final = "x-cps-queue"


def engine_queue(name: str) -> str:
    """The queue an engine consumes: Canopsis names it `Engine_<name>`."""
    return f"Engine_{name}"


def dead_letter_queue(consume_queue: str) -> str:
    """One dead-letter queue per consumed queue, so a bad event is traced to its engine."""
    return f"{consume_queue}.dead"


def partition_exchange(consume_queue: str) -> str:
    """The consistent-hash exchange in front of a partitioned queue; publishers route to it by entity."""
    return f"{consume_queue}.partitions"


def partition_queue(consume_queue: str, index: int) -> str:
    """Partition `index` of a partitioned queue: one active consumer at a time (single-active-consumer)."""
    return f"{consume_queue}.p{index}"


def partition_queues(consume_queue: str, partitions: int) -> tuple[str, ...]:
    """Every partition queue of a queue consumed with `--partitions`, in order."""
    return tuple(partition_queue(consume_queue, i) for i in range(partitions))
