"""Where an engine's time goes, from the py-spy stacks `python -m bench --profile DIR` records.

    python -m bench.hotspots DIR/<tag>.che.txt [more files…] [--top 15]

Each sample is put in one bucket, by the innermost frame that belongs to a known part (so bson
encoding called by pymongo counts as pymongo, json parsing called by pydantic as pydantic); a
sample with an import in its stack is startup; one whose innermost frame is the event loop's
`select` is the process waiting on I/O (the database or the broker), recorded because the
profiler runs with `--idle`. Other threads' samples (idle pool workers) are left out:
percentages are of the event loop thread's wall time. `bench.dbtime` tells how much of that
wait is MongoDB.
"""

from __future__ import annotations

import argparse
import collections
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Final

#: (bucket, pattern on a frame's file path), first match wins for a frame.
PARTS: Final = (
    ("waiting on I/O (event loop idle)", re.compile(r"(^|/)selectors\.py")),
    ("pydantic", re.compile(r"(^|/)pydantic(_core)?/")),
    ("pymongo/bson (client side of the round trips)", re.compile(r"(^|/)(pymongo|bson)/")),
    ("AMQP (aio-pika, aiormq, pamqp)", re.compile(r"(^|/)(aio_pika|aiormq|pamqp)/")),
    ("our domain code (engines/)", re.compile(r"(^|/)engines/")),
    ("our framework (framework/)", re.compile(r"(^|/)framework/")),
    ("asyncio runtime", re.compile(r"(^|/)asyncio/")),
)
#: Any sample with an import in its stack: the process starting, not handling events.
STARTUP: Final = "startup (imports)"
OTHER: Final = "other (stdlib: json, uuid, copy…)"
_FRAME: Final = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*):\d+\)$")


def samples(paths: Iterable[Path]) -> list[tuple[list[tuple[str, str]], int]]:
    """(frames root→leaf as (function, file), count) from py-spy's raw (collapsed) format."""
    out = []
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack:
                continue
            frames = []
            for frame in stack.split(";"):
                m = _FRAME.match(frame)
                frames.append((m["func"], m["file"]) if m else (frame, ""))
            out.append((frames, int(count)))
    return out


def bucket(frames: list[tuple[str, str]]) -> str:
    if any("importlib._bootstrap" in file for _, file in frames):
        return STARTUP
    for _, file in reversed(frames):
        for name, pattern in PARTS:
            if pattern.search(file):
                return name
    return OTHER


def _other_thread(frames: list[tuple[str, str]]) -> bool:
    """Samples of threads other than the event loop's (idle pool workers with `--idle`): left out."""
    return bool(frames) and frames[0][0].endswith("_bootstrap") and frames[0][1].endswith("threading.py")


def _short(func: str, file: str) -> str:
    tail = re.sub(r"^.*/(site-packages|lib/python3\.\d+)/", "", file)
    tail = re.sub(r"^.*/work/[^/]+/", "", tail)
    return f"{func} ({tail})"


def report(paths: list[Path], top: int) -> str:
    data = samples(paths)
    if not data:
        return f"{', '.join(map(str, paths))}: no samples"
    buckets: collections.Counter[str] = collections.Counter()
    leaf: collections.Counter[str] = collections.Counter()
    ours: collections.Counter[str] = collections.Counter()
    data = [(frames, count) for frames, count in data if not _other_thread(frames)]
    total = sum(c for _, c in data)
    for frames, count in data:
        b = bucket(frames)
        buckets[b] += count
        if b.startswith("waiting"):
            continue
        leaf[_short(*frames[-1])] += count
        for func, file in {f for f in frames if re.search(r"(^|/)(engines|framework)/", f[1])}:
            ours[_short(func, file)] += count
    busy = total - sum(c for b, c in buckets.items() if b.startswith("waiting"))
    lines = [
        f"{', '.join(p.name for p in paths)}: {total} samples, {busy / total:.0%} on CPU",
        "by part (% of wall time, % of CPU time):",
    ]
    lines += [
        f"  {c / total:6.1%} {'' if b.startswith('waiting') else f'{c / busy:6.1%}':>7}  {b}"
        for b, c in buckets.most_common()
    ]
    lines.append(f"top functions by own time (% of CPU samples, {busy}):")
    lines += [f"  {c / busy:6.1%}  {f}" for f, c in leaf.most_common(top)]
    lines.append("our functions by inclusive time (% of CPU samples):")
    lines += [f"  {c / busy:6.1%}  {f}" for f, c in ours.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.hotspots", description=__doc__.splitlines()[0])
    p.add_argument("files", nargs="+", type=Path, help="py-spy raw output; several files are summed")
    p.add_argument("--top", type=int, default=15)
    args = p.parse_args()
    print(report(args.files, args.top))


if __name__ == "__main__":
    main()
