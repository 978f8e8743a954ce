"""The systemd tier: the project installed by deploy/systemd/install into a Debian container that
boots a real systemd (systemd-nspawn), its units driven with systemctl.

The Debian root is built once with debootstrap and cached under
/var/tmp/canopsis-engines/nspawn-root (rebuilt when missing or built by another recipe); it is
booted with `--volatile=overlay`, so every session starts from the pristine root and nothing a
session does stays. The project is copied to a staging directory bound at
/usr/src/canopsis-engines and installed inside by the install script, from a wheelhouse built on
the host (cached under /var/tmp/canopsis-engines/wheels). The container shares the host's
network: engines inside reach RabbitMQ and the MongoDB-compatible server on 127.0.0.1.
Needs root, as the other tiers' services do; fails (never skips) when something is missing.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATE_DIR = Path(os.environ.get("CPS_STATE_DIR", "/var/tmp/canopsis-engines"))
NSPAWN_ROOT = STATE_DIR / "nspawn-root"
WHEELS = STATE_DIR / "wheels"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-venv"
#: Written into the root once built; a root built by another recipe is rebuilt.
RECIPE = f"debootstrap --variant=minbase --include={PACKAGES} {SUITE}"
RECIPE_FILE = ".cps-root-recipe"
SOURCE_IN_CONTAINER = "/usr/src/canopsis-engines"
WHEELS_IN_CONTAINER = "/var/cache/cps-wheels"
CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
UNIT_DIR = "/etc/systemd/system"
BOOT_TIMEOUT = 60.0


def _run(cmd: list[str], timeout: float, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)  # type: ignore[call-overload]


def _must(cmd: list[str], timeout: float, what: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    done = _run(cmd, timeout, **kwargs)
    if done.returncode != 0:
        pytest.fail(
            f"{what}: `{shlex.join(cmd)}` exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


def _ensure_tools() -> None:
    if shutil.which("systemd-nspawn") and shutil.which("debootstrap"):
        return
    _must(
        ["apt-get", "install", "-y", "systemd-container", "debootstrap"],
        600,
        "installing systemd-nspawn and debootstrap",
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )


def _ensure_root() -> Path:
    """The cached Debian root, built under a lock (two sessions never build it at once)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / "nspawn-root.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        marker = NSPAWN_ROOT / RECIPE_FILE
        if marker.is_file() and marker.read_text().strip() == RECIPE:
            return NSPAWN_ROOT
        building = STATE_DIR / "nspawn-root.tmp"
        shutil.rmtree(building, ignore_errors=True)
        started = time.monotonic()
        _must(
            ["debootstrap", "--variant=minbase", f"--include={PACKAGES}", SUITE, str(building), MIRROR],
            1200,
            "building the container root",
        )
        (building / RECIPE_FILE).write_text(RECIPE + "\n")
        shutil.rmtree(NSPAWN_ROOT, ignore_errors=True)
        building.rename(NSPAWN_ROOT)
        print(f"container root built in {time.monotonic() - started:.0f} s: {NSPAWN_ROOT}", file=sys.stderr)
        return NSPAWN_ROOT


def _stage_source(target: Path) -> Path:
    """The project as pip would see it, without the work tree's venv, caches and VCS data."""
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", ".mypy_cache", ".pytest_cache")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, target / name)
    for name in ("framework", "engines", "deploy"):
        shutil.copytree(ROOT / name, target / name, ignore=ignore)
    return target


def _ensure_wheels(source: Path) -> Path:
    """Wheels of the project's dependencies (and its build backend) for an offline install inside."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    base = [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w", str(WHEELS)]
    wanted = [str(source), "setuptools>=68", "wheel"]
    with open(STATE_DIR / "wheels.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _run([*base, "--no-index", "--find-links", str(WHEELS), *wanted], 600, cwd=source).returncode != 0:
            _must([*base, *wanted], 900, "building the wheelhouse", cwd=source)
    return WHEELS


@dataclass
class Container:
    """A booted container; commands enter all its namespaces with a clean environment."""

    name: str
    process: subprocess.Popen[bytes]
    leader: int
    log: Path

    def run(
        self,
        *cmd: str,
        check: bool = True,
        timeout: float = 60,
        env: dict[str, str] | None = None,
        stdin: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        variables = [f"{k}={v}" for k, v in {"PATH": CONTAINER_PATH, "LANG": "C.UTF-8", **(env or {})}.items()]
        argv = ["nsenter", "-t", str(self.leader), "-a", "env", "-i", *variables, *cmd]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, input=stdin)
        if check and done.returncode != 0:
            raise AssertionError(f"`{shlex.join(cmd)}` exited {done.returncode}\n{done.stdout}\n{done.stderr}")
        return done

    def systemctl(self, *args: str, check: bool = True, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return self.run("systemctl", *args, check=check, timeout=timeout)

    def show(self, unit: str, *properties: str) -> dict[str, str]:
        out = self.systemctl("show", unit, *(f"--property={p}" for p in properties)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def write(self, path: str, text: str) -> None:
        self.run("sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "write", path, stdin=text)

    def remove(self, *paths: str) -> None:
        self.run("rm", "-rf", *paths)

    def journal(self, unit: str, since: str | None = None) -> str:
        args = ["journalctl", "--no-pager", "-o", "short-precise", "-u", unit]
        if since:
            args += ["--since", since]
        return self.run(*args).stdout

    def cmdline(self, pid: str) -> list[str]:
        raw = self.run("cat", f"/proc/{pid}/cmdline").stdout
        return [part for part in raw.split("\0") if part]

    def wait_for(self, check: Callable[[], bool], timeout: float, what: str, describe: Callable[[], str] = str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not after {timeout:.0f} s\n{describe()}")
            time.sleep(0.2)


def _leader(process: subprocess.Popen[bytes]) -> int | None:
    """PID of the container's init: the child of systemd-nspawn once it is systemd (before that the
    child is nspawn's own, still in the host's namespaces)."""
    try:
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        if len(children) != 1 or Path(f"/proc/{children[0]}/comm").read_text().strip() != "systemd":
            return None
    except OSError:
        return None
    return int(children[0])


@pytest.fixture(scope="session")
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    """The cached root booted (volatile), the project installed by deploy/systemd/install."""
    if os.geteuid() != 0:
        pytest.fail("the systemd tier needs root (systemd-nspawn, debootstrap)")
    timings: dict[str, float] = {}
    started = time.monotonic()
    _ensure_tools()
    root = _ensure_root()
    timings["root"] = time.monotonic() - started
    source = _stage_source(tmp_path_factory.mktemp("source"))
    wheels = _ensure_wheels(source)
    timings["wheels"] = time.monotonic() - started - timings["root"]
    started = time.monotonic()
    name = f"cps-test-{os.getpid()}"
    log = tmp_path_factory.mktemp("nspawn") / "console.log"
    with open(log, "wb") as console:
        process = subprocess.Popen(
            [
                "systemd-nspawn",
                "-D",
                str(root),
                "--boot",
                "--register=no",
                "--keep-unit",
                "--console=pipe",
                "-M",
                name,
                "--volatile=overlay",
                f"--bind={source}:{SOURCE_IN_CONTAINER}",
                f"--bind-ro={wheels}:{WHEELS_IN_CONTAINER}",
            ],
            stdin=subprocess.DEVNULL,
            stdout=console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT
        leader = None
        while leader is None:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"systemd-nspawn did not start a container:\n{log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.1)
            leader = _leader(process)
        box = Container(name, process, leader, log)
        # The manager's bus appears a moment after it starts; until then systemctl answers
        # nothing or "offline" (as if systemd were not PID 1 yet).
        while True:
            probe = box.run("systemctl", "is-system-running", "--wait", check=False, timeout=BOOT_TIMEOUT)
            state = probe.stdout.strip()
            if state not in ("", "offline") or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        timings["boot"] = time.monotonic() - started
        if state not in ("running", "degraded"):
            pytest.fail(
                f"container systemd is {state!r} ({probe.stderr.strip()}):\n{log.read_text(errors='replace')[-3000:]}"
            )
        box.run(
            f"{SOURCE_IN_CONTAINER}/deploy/systemd/install",
            SOURCE_IN_CONTAINER,
            timeout=600,
            env={"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": WHEELS_IN_CONTAINER, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        )
        timings["install"] = time.monotonic() - started - timings["boot"]
        print("systemd tier set-up: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), file=sys.stderr)
        yield box
    finally:
        if process.poll() is None:
            leader = _leader(process)
            if leader is not None:
                subprocess.run(
                    ["nsenter", "-t", str(leader), "-a", "systemctl", "poweroff"],
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()  # our own systemd-nspawn, by its pid
                process.wait(timeout=30)
