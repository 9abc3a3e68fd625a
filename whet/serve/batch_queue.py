"""Dynamic batching: concurrent requests for one model (or one shared base) become one call.

Each ``BatchQueue`` has one worker coroutine and one worker thread. A request that finds the
worker idle, with no batch answered in the last ``max_wait_ms``, starts a batch at once with
whatever else is queued by then: without load there is nobody to wait for. Requests that arrive
while a batch runs accumulate for the next batch (up to ``max_batch_size`` items). Under load,
when the worker has just answered a batch, the next batch waits for the callers it answered:
clients that send their next request as soon as they have an answer come back within a few
milliseconds, and without the wait they would split into two alternating half-size batches
(each running while the other half's requests are answered and sent again), where one batch of
all of them costs less per text. The next batch starts once it holds as many items as the
answered batch plus those queued when it ended (at most ``max_batch_size``), or ``max_wait_ms``
after the worker became free, whichever comes first; a lone client's next request completes its
batch of one and starts at once. The batch runs in the worker thread, so the event loop keeps
answering other requests meanwhile. Within a batch, requests are grouped by their group key: the
model name for predictions (each adapter of a shared base is switched to once per group), the
model and decoding settings for generation. The items are what the route made of a request's
inputs: parsed examples for predictions, prompts for generation.
"""

from __future__ import annotations

import asyncio
import collections
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from whet.errors import WhetError

# (group key, items) -> one result per item; blocking, called in the worker thread.
RunBatch = Callable[[Any, list[Any]], list[Any]]


@dataclass
class Job:
    model: Any  # the group key: a model name, or anything hashable that runs in one call
    items: list[Any]  # one per input text: its parsed example, or its prompt
    future: asyncio.Future


@dataclass
class BatchObserver:
    """Hooks for metrics; the defaults do nothing."""

    queued: Callable[[str, int], None] = lambda lane, depth: None
    ran: Callable[[str, int, float], None] = lambda lane, texts, seconds: None


class BatchQueue:
    def __init__(self, lane: str, run: RunBatch, *, max_batch_size: int, max_wait_ms: float, enabled: bool = True,
                 observer: BatchObserver | None = None) -> None:
        self.lane = lane
        self.run = run
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self.enabled = enabled
        self.observer = observer or BatchObserver()
        self.waiting: collections.deque[Job] = collections.deque()
        self.arrived = asyncio.Event()
        # Under load: when the worker last became free, and how many items it expects back by then.
        self.freed_at = 0.0
        self.expected = 0
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"whet-batch-{lane}")
        self.worker = asyncio.get_running_loop().create_task(self._work(), name=f"batch-queue-{lane}")

    async def submit(self, model: Any, items: list[Any]) -> list[Any]:
        """Results for ``items``; cancelling the caller drops the request if it has not run yet."""
        job = Job(model, items, asyncio.get_running_loop().create_future())
        self.waiting.append(job)
        self.observer.queued(self.lane, len(self.waiting))
        self.arrived.set()
        return await job.future

    async def close(self) -> None:
        self.worker.cancel()
        try:
            await self.worker
        except asyncio.CancelledError:
            pass
        self.executor.shutdown(wait=True)

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            self.observer.queued(self.lane, len(self.waiting))
            if not batch:
                continue
            started = time.perf_counter()
            outcomes = await loop.run_in_executor(self.executor, self._run_groups, batch)
            # Set before any caller hears back: the callers answered now, and those queued meanwhile,
            # are what the next batch waits for.
            self.freed_at = time.perf_counter()
            answered = sum(len(job.items) for job in batch)
            self.expected = answered + sum(len(job.items) for job in self.waiting)
            self.observer.ran(self.lane, answered, self.freed_at - started)
            for job, outcome in zip(batch, outcomes):
                if job.future.done():  # timed out or cancelled meanwhile
                    continue
                if isinstance(outcome, BaseException):
                    job.future.set_exception(outcome)
                else:
                    job.future.set_result(outcome)

    async def _next_batch(self) -> list[Job]:
        while not self.waiting:
            self.arrived.clear()
            await self.arrived.wait()
        batch = [self.waiting.popleft()]
        size = len(batch[0].items)
        # Only the callers of the batch just answered are waited for: holding a request for company
        # that is not coming cost a lone client the whole window on every request.
        deadline = self.freed_at + self.max_wait
        expected = min(self.expected, self.max_batch_size)
        while self.enabled and size < self.max_batch_size:
            if not self.waiting:
                remaining = deadline - time.perf_counter()
                if size >= expected or remaining <= 0:
                    break
                self.arrived.clear()
                try:
                    await asyncio.wait_for(self.arrived.wait(), remaining)
                except asyncio.TimeoutError:
                    break
                continue
            if size + len(self.waiting[0].items) > self.max_batch_size:
                break  # it starts the next batch
            job = self.waiting.popleft()
            batch.append(job)
            size += len(job.items)
        # Requests whose caller gave up (timeout, disconnect) are not run at all.
        return [job for job in batch if not job.future.done()]

    def _run_groups(self, batch: list[Job]) -> list[Any]:
        """In the worker thread: one model call per model in the batch; results or errors per job."""
        outcomes: list[Any] = [None] * len(batch)
        groups: dict[Any, list[int]] = {}
        for index, job in enumerate(batch):
            groups.setdefault(job.model, []).append(index)
        for model, indices in groups.items():
            try:
                results = self.run(model, [item for i in indices for item in batch[i].items])
            except WhetError as err:
                if len(indices) == 1:
                    outcomes[indices[0]] = err
                    continue
                # One request's input is bad: run the group's requests one by one so only it fails.
                for i in indices:
                    outcomes[i] = self._run_one(batch[i])
                continue
            except Exception as err:  # a bug: every request of the group gets the error
                for i in indices:
                    outcomes[i] = err
                continue
            start = 0
            for i in indices:
                outcomes[i] = results[start:start + len(batch[i].items)]
                start += len(batch[i].items)
        return outcomes

    def _run_one(self, job: Job) -> Any:
        try:
            return self.run(job.model, job.items)
        except Exception as err:
            return err
