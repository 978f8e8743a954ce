"""Run an engine with every MongoDB command timed: how much of its wall time is database round trips.

    python -m bench.dbtime OUT engines.che --consume-queue … (the engine's own flags)

A pymongo command listener sums each command's round trip by name; the summary goes to OUT on
SIGUSR1 (the bench sends it when the throughput phase ends) or at exit. The engine runs one
batch at a time, so the summed time is time it spent waiting on the database.
"""

from __future__ import annotations

import atexit
import collections
import runpy
import signal
import sys
import time
from pathlib import Path
from types import FrameType

from pymongo import monitoring


class CommandTimes(monitoring.CommandListener):
    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.micros: collections.Counter[str] = collections.Counter()
        self.first: float | None = None

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.first is None:
            self.first = time.monotonic()

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self.calls[event.command_name] += 1
        self.micros[event.command_name] += event.duration_micros

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.calls[event.command_name] += 1  # time spent failing is time spent too
        self.micros[event.command_name] += event.duration_micros

    def summary(self) -> str:
        wall = time.monotonic() - (self.first or time.monotonic())
        spent = sum(self.micros.values()) / 1e6
        lines = [
            f"MongoDB round trips: {spent:.1f} s of {wall:.1f} s since the first command"
            f" ({spent / max(wall, 1e-9):.0%})"
        ]
        for name, micros in self.micros.most_common():
            calls = self.calls[name]
            lines.append(f"  {name:<16} {calls:>6} calls {micros / 1e6:8.1f} s  {micros / calls / 1000:8.1f} ms each")
        return "\n".join(lines)


def main() -> None:
    out, module, *argv = sys.argv[1:]
    times = CommandTimes()
    monitoring.register(times)
    written = False

    def write(signum: int | None = None, frame: FrameType | None = None) -> None:
        nonlocal written
        if signum is not None or not written:
            Path(out).write_text(times.summary() + "\n")
            written = True

    signal.signal(signal.SIGUSR1, write)
    atexit.register(write)
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
