"""One offered rate: the stream paced, the backlog sampled, latency and cost measured."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bench.broker import BenchBroker
from bench.events import stamp
from bench.feeder import Feeder
from bench.sustained.chain import Chain, Out, cpu_of
from bench.sustained.figures import kept_up, percentile, routing_key, second_half, slope
from bench.sustained.settings import DRAIN_POLL, DRAIN_WAIT, SAMPLE_EVERY, TICK


@dataclass(frozen=True)
class RateResult:
    rate: float
    seconds: float
    sent: int
    offered: float
    delivered: float
    backlog_end: int
    growth: float
    kept_up: bool
    p50_ms: float | None
    p99_ms: float | None
    latencies: int
    #: Seconds the backlog took to drain after the window; None if it did not within DRAIN_WAIT.
    drained_s: float | None
    cpu: Mapping[str, float | None]
    db_rss_mb: float | None
    peak_rss_mb: Mapping[str, float]


async def offer(
    broker: BenchBroker, exchange: str, feeder: Feeder, rate: float, seconds: float, abort: Callable[[], bool]
) -> int:
    """Publish `rate`·`seconds` events over `seconds`, those due in each tick together; returns the count.

    Publishes are persistent and confirmed, as a connector's. Event k is due at k/rate from the
    start; a tick that ran late sends what fell due meanwhile, so the rate holds over the window
    unless the broker itself holds the publisher back (the offered rate then says so).
    """
    loop = asyncio.get_running_loop()
    total = round(rate * seconds)
    start, sent = loop.time(), 0
    while sent < total and not abort():
        elapsed = loop.time() - start
        due = min(total, math.floor(elapsed * rate) + 1)
        if due > sent:
            now = time.time()
            events = [feeder.event() for _ in range(due - sent)]
            await broker.publish(exchange, [(routing_key(e), stamp(e, now)) for e in events])
            sent = due
        next_tick = start + (math.floor((loop.time() - start) / TICK) + 1) * TICK
        await asyncio.sleep(max(0.0, next_tick - loop.time()))
    await asyncio.sleep(max(0.0, start + seconds - loop.time()))
    return sent


async def sample_backlog(chain: Chain, start: float, done: asyncio.Event) -> list[tuple[float, float]]:
    """(seconds since `start`, backlog) every SAMPLE_EVERY s until `done`; checks the processes too."""
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, float]] = []
    k = 0
    while not done.is_set():
        chain.check()
        samples.append((loop.time() - start, await chain.backlog()))
        k += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(done.wait(), max(0.0, start + k * SAMPLE_EVERY - loop.time()))
    return samples


async def drain(chain: Chain, limit: float) -> float | None:
    """Seconds until the backlog is zero twice in a row (a beat may add events between two polls), or None."""
    started = time.monotonic()
    zeros = 0
    while time.monotonic() - started < limit:
        chain.check()
        zeros = zeros + 1 if await chain.backlog() == 0 else 0
        if zeros == 2:
            return time.monotonic() - started
        await asyncio.sleep(DRAIN_POLL)
    return None


async def run_rate(chain: Chain, out: Out, feeder: Feeder, rate: float, seconds: float) -> RateResult:
    """One window at `rate` on the running chain, then the drain that lets latecomers arrive."""
    loop = asyncio.get_running_loop()
    out.reset()
    cpu_before = chain.cpu_sample()
    started, wall_started = loop.time(), time.time()
    done = asyncio.Event()
    sampler = asyncio.create_task(sample_backlog(chain, started, done))
    try:
        sent = await offer(chain.broker, chain.names.exchange, feeder, rate, seconds, sampler.done)
    except BaseException:
        sampler.cancel()
        raise
    # The window ends with the pacing, not with the sampler's last scrape.
    elapsed, wall_ended = loop.time() - started, time.time()
    cpu = cpu_of(cpu_before, chain.cpu_sample(), elapsed)
    done.set()
    samples = await sampler  # raises what stopped it: an engine that exited, a lost broker
    backlog_end = await chain.backlog()
    samples.append((elapsed, backlog_end))
    db_rss = chain.db_rss_mb()
    offered = sent / elapsed
    delivered = sum(1 for _, at in out.arrivals if wall_started <= at <= wall_ended) / elapsed
    growth = slope(second_half(samples, elapsed))

    drained = await drain(chain, DRAIN_WAIT)
    # Latency of the events sent in this window, wherever they arrived: an event still queued at
    # the window's end is the one whose latency matters most when the chain falls behind.
    latencies = [(at - sent_at) * 1000 for sent_at, at in out.arrivals if wall_started <= sent_at <= wall_ended]
    return RateResult(
        rate=rate,
        seconds=elapsed,
        sent=sent,
        offered=offered,
        delivered=delivered,
        backlog_end=backlog_end,
        growth=growth,
        kept_up=kept_up(backlog_end, growth, offered),
        p50_ms=percentile(latencies, 50),
        p99_ms=percentile(latencies, 99),
        latencies=len(latencies),
        drained_s=drained,
        cpu=cpu,
        db_rss_mb=db_rss,
        peak_rss_mb=chain.peak_rss(),
    )
