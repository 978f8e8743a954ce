"""The sustained run: start the chain once, offer each rate in turn, print and record."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import httpx

from bench.broker import BenchBroker
from bench.che_axe import fresh_database
from bench.feeder import Feeder
from bench.measure import Process, stop
from bench.report import commit
from bench.sustained.chain import Chain, Engine, Out, _engine_argv, _free_port
from bench.sustained.figures import Database
from bench.sustained.output import append_csv, line, table
from bench.sustained.preload import preload
from bench.sustained.rates import RateResult, run_rate
from bench.sustained.settings import ENGINES, READY_WAIT, Names, Options


async def run(options: Options) -> list[RateResult]:
    """Start the chain on fresh queues and a fresh database, run every rate, clean up whatever happens."""
    run_id = uuid.uuid4().hex[:8]
    names = Names.of(run_id)
    rates = ", ".join(f"{r:g}" for r in options.rates)
    print(
        f"sustained: run {run_id}, rates {rates} events/s, {options.seconds:g} s each; commit {commit()};"
        f" preload {options.preload_alarms:,} open alarms, {options.preload_entities:,} entities",
        flush=True,
    )
    results: list[RateResult] = []
    async with (
        BenchBroker(options.amqp_url) as broker,
        fresh_database(options.mongo_url)(f"{run_id}.sustained") as fixture,
        httpx.AsyncClient(timeout=10) as http,
    ):
        engines: dict[str, Engine] = {}
        keep_logs = True
        try:
            await broker.fresh_queues(*names.queues, names.out)
            await broker.topic_exchange(names.exchange, names.queues[0])
            await preload(fixture.db, options.preload_alarms, options.preload_entities)

            env = {**os.environ, **fixture.env, "CPS_AMQP_URL": options.amqp_url}
            hops = zip(ENGINES, names.queues, (*names.queues[1:], names.out))
            for engine, consume, publish in hops:
                port = _free_port()
                argv = _engine_argv(engine, consume, publish, names.exchange, port)
                process = Process.start(engine, argv, env, f"{run_id}.sustained", own_session=True)
                engines[engine] = Engine(process, port)
            chain = Chain(broker, names, engines, http, Database.local(options.mongo_url))
            await chain.until_ready(READY_WAIT + (options.preload_alarms + options.preload_entities) / 1000)

            out = Out()
            await broker.consume(names.out, out.on_message)
            feeder = Feeder()
            for rate in options.rates:
                result = await run_rate(chain, out, feeder, rate, options.seconds)
                print(line(result), flush=True)
                results.append(result)
            if out.others:
                print(f"({out.others:,} events made by the engines' beats also reached the end of the chain)")
            print()
            print(table(results, options, run_id))
            print(flush=True)
            if options.csv:
                append_csv(results, options, run_id)
            keep_logs = False
        except asyncio.CancelledError:  # Ctrl-C: stopped on purpose, nothing to look into
            keep_logs = False
            raise
        finally:
            for e in engines.values():
                stop(e.process.popen, signal.SIGTERM)
                e.process.log.close()
                if not keep_logs:
                    Path(e.process.log.name).unlink()  # kept only when the run failed
            await broker.delete_queues(*names.all_queues)
            await broker.delete_exchanges(names.exchange)
    return results
