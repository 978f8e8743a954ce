"""The sustained workload: che → axe → action on real services, fed at fixed rates, one after the other.

    python -m bench --workload sustained [--rates 250,500,1000,2000] [--seconds 60]
                                         [--preload-alarms N --preload-entities M] [--quick]

Not a throughput race against a baseline: the question is which offered rate the chain sustains,
with what latency and at what CPU and memory cost for the engines, the database and the broker.
A random-feeder stream (bench/feeder.py) goes to the run's events exchange in ticks of TICK s,
each event stamped with `sent_at` as it leaves; a consumer in the bench reads the last queue. Each
rate runs on the same chain, started once, and starts with an empty backlog (the previous rate's
is drained first), so one rate's figures never carry another's queue.

The backlog is what waits in the three engines' queues: ready messages (a passive declare) plus
those delivered and not acked, which AMQP does not report and each engine does (`cps_in_flight`
on `--metrics-port`). CPU comes from /proc (utime+stime) at both ends of each window.

`--preload-entities M --preload-alarms N` first inserts M entities and N open alarms on them that
the stream never touches, to see whether the engines' memory follows what the database holds.
"""

from bench.sustained.run import run
from bench.sustained.settings import CSV, QUICK_RATES, QUICK_SECONDS, RATES, SECONDS, Options

__all__ = ["CSV", "QUICK_RATES", "QUICK_SECONDS", "RATES", "SECONDS", "Options", "run"]
