"""A process told apart from a later one that reuses its pid: the pid with the process's start time."""

from __future__ import annotations

import signal
from dataclasses import dataclass

import psutil

_SAME_START_S = 2.0
"""psutil adds the boot time to the kernel's start ticks, and the boot time it reads moves when the wall clock is
stepped (NTP after boot): allow that. A reused pid starting within 2 s of the process it replaces is not a case."""


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """Which process a job ran in; it is alive, and may be signalled, only while that very process runs.

    Example:
        >>> import os
        >>> me = ProcessIdentity.of(os.getpid())
        >>> me.alive(), ProcessIdentity(me.pid, me.started_at - 60).alive()
        (True, False)
    """

    pid: int
    started_at: float
    """Seconds since the epoch, as psutil reports the process's creation."""

    @classmethod
    def of(cls, pid: int) -> ProcessIdentity:
        """The process running now with `pid`; raises psutil.NoSuchProcess if there is none."""
        return cls(pid, psutil.Process(pid).create_time())

    def alive(self) -> bool:
        return self._process() is not None

    def terminate(self) -> bool:
        """Send SIGTERM if the process still runs; False (and nothing sent) if it has gone, pid reused or not."""
        process = self._process()
        if process is None:
            return False
        try:
            process.send_signal(signal.SIGTERM)  # psutil checks the pid still names this process just before
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return False
        return True

    def _process(self) -> psutil.Process | None:
        try:
            process = psutil.Process(self.pid)
            same = abs(process.create_time() - self.started_at) < _SAME_START_S
            running = process.status() != psutil.STATUS_ZOMBIE  # exited, not yet reaped by its parent
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return process if same and running else None
