"""Streamed generation for the event loop: a blocking piece iterator run in a thread of its
own, its pieces handed over through an asyncio queue.

The thread, not the event loop, owns the iterator from start to close: a client that goes
away only sets a flag, and the thread closes the iterator after its next piece (which stops
the generation within a token). ``done`` runs once the thread has finished, so a slot held
for the stream is given back only when its generation has really stopped.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Event:
    kind: str  # "piece" (value: text), "error" (value: the exception) or "end"
    value: Any = None


@dataclass
class ThreadedStream:
    events: asyncio.Queue
    stopping: threading.Event = field(default_factory=threading.Event)

    async def next(self) -> Event:
        return await self.events.get()

    def stop(self) -> None:
        """Ask the thread to close the iterator; safe to call from the event loop at any time."""
        self.stopping.set()


def start_stream(make_iterator: Callable[[], Iterator[str]], done: Callable[[], None]) -> ThreadedStream:
    """Run ``make_iterator()`` in a new thread; its pieces, then an error or the end, arrive as events."""
    loop = asyncio.get_running_loop()
    stream = ThreadedStream(asyncio.Queue())

    def hand_over(event: Event) -> None:
        try:
            loop.call_soon_threadsafe(stream.events.put_nowait, event)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            pass

    def pump() -> None:
        iterator = None
        try:
            iterator = make_iterator()
            for piece in iterator:
                if stream.stopping.is_set():
                    break
                hand_over(Event("piece", piece))
            hand_over(Event("end"))
        except BaseException as err:  # for the reader to answer; this thread has nobody to tell
            hand_over(Event("error", err))
        finally:
            if iterator is not None and hasattr(iterator, "close"):
                iterator.close()
            try:
                loop.call_soon_threadsafe(done)
            except RuntimeError:
                pass

    threading.Thread(target=pump, name="whet-stream", daemon=True).start()
    return stream
