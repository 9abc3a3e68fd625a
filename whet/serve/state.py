"""What one running server holds, reached by routes through ``app.state.whet``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from whet.serve.auth import Keys
from whet.serve.batch_queue import BatchObserver, BatchQueue
from whet.serve.limits import RateLimiter
from whet.serve.prometheus import Metrics
from whet.serve.loaded_models import ModelRegistry
from whet.serve.settings import ServeConfig


@dataclass
class ServerState:
    config: ServeConfig
    registry: ModelRegistry
    keys: Keys
    metrics: Metrics
    limiter: RateLimiter | None
    lanes: dict[str, BatchQueue] = field(default_factory=dict)
    stream_slots: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def lane(self, name: str) -> BatchQueue:
        """The prediction batch queue of a model or shared base, started on first use (on the event loop);
        its items are parsed examples and each group is one ``ModelRegistry.predict`` call."""
        queue = self.lanes.get(name)
        if queue is None:
            batching = self.config.batching
            queue = self._start_lane(name, self.registry.predict, batching.max_batch_size)
        return queue

    def generation_lane(self, name: str) -> BatchQueue:
        """The generation batch queue of a causal LM or shared base; its group keys are
        ``(model, chat, settings)`` and each group is one ``ModelRegistry.complete`` call."""
        lane = f"generate:{name}"
        queue = self.lanes.get(lane)
        if queue is None:
            size = self.config.batching.max_generate_batch

            def run(group: tuple[str, bool, Any], prompts: list[Any]) -> list[Any]:
                model, chat, settings = group
                return self.registry.complete(model, prompts, settings.value, chat, size)

            queue = self._start_lane(lane, run, size)
        return queue

    def stream_slot(self, name: str) -> asyncio.Semaphore:
        """Limits the streamed generations of a model or shared base running at once."""
        slot = self.stream_slots.get(name)
        if slot is None:
            slot = self.stream_slots[name] = asyncio.Semaphore(self.config.batching.max_streams)
        return slot

    def _start_lane(self, lane: str, run: Any, max_batch_size: int) -> BatchQueue:
        batching = self.config.batching
        observer = BatchObserver(queued=self._queued, ran=self._ran)
        queue = BatchQueue(lane, run, max_batch_size=max_batch_size, max_wait_ms=batching.max_wait_ms,
                           enabled=batching.enabled, observer=observer)
        self.lanes[lane] = queue
        return queue

    def _queued(self, lane: str, depth: int) -> None:
        self.metrics.queue_depth.labels(lane).set(depth)

    def _ran(self, lane: str, texts: int, seconds: float) -> None:
        self.metrics.batch_size.labels(lane).observe(texts)
        self.metrics.batch_seconds.labels(lane).observe(seconds)

    def refresh_model_gauge(self) -> None:
        self.metrics.models_ready.set(sum(m.status == "ready" for m in self.registry.models.values()))
