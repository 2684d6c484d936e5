"""What surrounds a run: the stop flag (and the signal handlers the CLI installs).

Progress reporting lives in `progress.py`."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

log = logging.getLogger("specter2")


class StopFlag:
    """Set by SIGTERM/SIGINT/SIGUSR1 (or a caller); checked between batches."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None

    def __call__(self) -> bool:
        return self.event.is_set()

    def set(self, name: str = "stop") -> None:
        self.signal_name = name
        self.event.set()


class SignalHandlers:
    """Turn SIGTERM, SIGINT and SIGUSR1 into a StopFlag while a run is active (main thread only).

    Installed by the CLI around a run; the library never installs handlers itself.
    """

    SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1")

    def __init__(self, flag: StopFlag) -> None:
        self.flag = flag
        self.old: dict[int, Any] = {}

    def __enter__(self) -> SignalHandlers:
        if threading.current_thread() is not threading.main_thread():
            return self
        for name in self.SIGNALS:
            sig = getattr(signal, name, None)
            if sig is not None:
                self.old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.flag():
            # Schedulers often deliver the same request twice (scancel signals every
            # process of the job; a batch script forwards it again): only a second
            # Ctrl-C means "stop now, do not commit".
            if signum == signal.SIGINT and self.flag.signal_name == "SIGINT":
                raise KeyboardInterrupt
            log.info("%s received again: still finishing the shard in progress", name)
            return
        log.warning("%s received: finishing the shard in progress, then exiting", name)
        self.flag.set(name)

    def keep(self) -> None:
        """The work is done: on leaving, ignore SIGTERM/SIGUSR1 instead of restoring the
        defaults, so a stop request in the last moment cannot turn exit 0 into a kill."""
        self.kept = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self.old.items():
            if getattr(self, "kept", False) and sig != signal.SIGINT:
                old = signal.SIG_IGN
            signal.signal(sig, old)
