"""systemd's notification protocol (sd_notify) without libsystemd: one AF_UNIX datagram per message.

`Notifier.from_environ()` reads $NOTIFY_SOCKET (a path, or '@name' for the abstract namespace)
and $WATCHDOG_USEC (plus $WATCHDOG_PID, which must be ours when set); without NOTIFY_SOCKET
every `send` does nothing, so engines run the same under systemd, in a shell or in tests.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

__all__ = ["Notifier"]

logger = logging.getLogger(__name__)


class Notifier:
    """Sends `KEY=value` lines to the service manager; never raises (a lost status is not fatal)."""

    def __init__(self, address: str | None, watchdog_usec: int = 0) -> None:
        self.address = address
        #: Seconds systemd waits for WATCHDOG=1 (WatchdogSec=); 0 when there is no watchdog.
        self.watchdog_timeout = watchdog_usec / 1_000_000 if address else 0.0
        self.sent = 0
        self._failing = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        address = env.get("NOTIFY_SOCKET") or None
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        ours = not pid or (pid.isdigit() and int(pid) == os.getpid())
        return cls(address, int(usec) if usec.isdigit() and ours else 0)

    def __repr__(self) -> str:
        return f"<Notifier socket={self.address!r} watchdog={self.watchdog_timeout:g}s sent={self.sent}>"

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> bool:
        """Send `lines` as one datagram (e.g. "READY=1", "STATUS=…"); False when not delivered."""
        if self.address is None:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.setblocking(False)
                sock.sendto("\n".join(lines).encode(), target)
        except OSError as exc:
            if not self._failing:
                logger.warning("systemd notification to %s failed: %s", self.address, exc)
            self._failing = True
            return False
        self._failing = False
        self.sent += 1
        return True
