"""The baseline of DESIGN §8: the naive aio-pika relay, run as its own process.

    python -m bench.baseline_relay --consume-queue IN --publish-queue OUT --prefetch 300

Per message, as the aio-pika documentation shows it: publish the body persistently on a channel
with publisher confirms, await the confirm, then ack the input. At-least-once, nothing batched.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from typing import Final

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

DEFAULT_URL: Final = "amqp://guest:guest@127.0.0.1:5672/%2F"


async def relay(url: str, consume_queue: str, publish_queue: str, prefetch: int) -> None:
    """Relay until SIGTERM or SIGINT, then close the connection."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    connection = await aio_pika.connect(url)
    async with connection:
        consume_channel = await connection.channel(publisher_confirms=False)
        await consume_channel.set_qos(prefetch_count=prefetch)
        publish_channel = await connection.channel(publisher_confirms=True)
        queue = await consume_channel.declare_queue(consume_queue, durable=True)
        await publish_channel.declare_queue(publish_queue, durable=True)
        exchange = publish_channel.default_exchange

        async def on_message(message: AbstractIncomingMessage) -> None:
            out = aio_pika.Message(
                message.body, content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT
            )
            await exchange.publish(out, routing_key=publish_queue)
            await message.ack()

        await queue.consume(on_message)
        await stop.wait()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.baseline_relay", description=__doc__.splitlines()[0])
    p.add_argument("--consume-queue", required=True)
    p.add_argument("--publish-queue", required=True)
    p.add_argument("--prefetch", type=int, default=300)
    p.add_argument("--amqp-url", default=DEFAULT_URL)
    args = p.parse_args()
    asyncio.run(relay(args.amqp_url, args.consume_queue, args.publish_queue, args.prefetch))


if __name__ == "__main__":
    main()
