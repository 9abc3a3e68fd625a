"""What one running server holds, reached by routes through ``app.state.whet``."""

from __future__ import annotations

from dataclasses import dataclass, field

from whet.serve.auth import Keys
from whet.serve.batching import BatchObserver, BatchQueue
from whet.serve.limits import RateLimiter
from whet.serve.metrics import Metrics
from whet.serve.models import ModelRegistry
from whet.serve.settings import ServeConfig


@dataclass
class ServerState:
    config: ServeConfig
    registry: ModelRegistry
    keys: Keys
    metrics: Metrics
    limiter: RateLimiter | None
    lanes: dict[str, BatchQueue] = field(default_factory=dict)

    def lane(self, name: str) -> BatchQueue:
        """The batch queue of a model or shared base, started on first use (on the event loop)."""
        queue = self.lanes.get(name)
        if queue is None:
            batching = self.config.batching
            observer = BatchObserver(queued=self._queued, ran=self._ran)
            queue = BatchQueue(name, self.registry.predict, max_batch_size=batching.max_batch_size,
                               max_wait_ms=batching.max_wait_ms, enabled=batching.enabled, observer=observer)
            self.lanes[name] = queue
        return queue

    def _queued(self, lane: str, depth: int) -> None:
        self.metrics.queue_depth.labels(lane).set(depth)

    def _ran(self, lane: str, texts: int, seconds: float) -> None:
        self.metrics.batch_size.labels(lane).observe(texts)
        self.metrics.batch_seconds.labels(lane).observe(seconds)

    def refresh_model_gauge(self) -> None:
        self.metrics.models_ready.set(sum(m.status == "ready" for m in self.registry.models.values()))
