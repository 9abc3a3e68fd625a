"""Stopping a run cleanly: ``STOP`` asks the loop to finish its step, save and stop; Ctrl-C sets it."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any, Callable

log = logging.getLogger("whet")

# Set by Ctrl-C (or by a caller, e.g. from ``on_step``): the loop finishes its current step, saves, and stops.
STOP = threading.Event()


def install_ctrl_c() -> Callable[[], None]:
    """First Ctrl-C asks for a clean stop; a second one stops at once. Returns what restores the
    previous handler."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if STOP.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        STOP.set()
        log.warning("stopping after this step and saving a checkpoint (Ctrl-C again to stop at once)")

    signal.signal(signal.SIGINT, handler)
    return lambda: signal.signal(signal.SIGINT, previous)
