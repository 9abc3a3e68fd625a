"""Kinds of model directories that applications serve beside the task models (``whet serve``
serves recommenders this way).

whet.serve lies below the applications and imports none of them: the command line hands their
kinds in. A kind's directories are told apart by a file only they hold; they load like task
models (in a worker thread once the server is up, a failure kept as the reason ``/readyz``
gives), ``/v1/models`` lists them and ``whet_models_ready`` counts them, and the kind's own
router answers their requests, with the same keys, limits, access log and metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter


def _nothing_to_check(path: Path) -> None:
    return None


def _nothing_to_describe(loaded: Any) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class ModelKind:
    name: str  # "recommender": what /v1/models calls these models
    marker: str  # the file that only this kind's model directories hold
    load: Callable[[Path], Any]  # blocking: runs in a worker thread
    router: APIRouter  # included when a model of this kind is served
    endpoint: str  # where its requests go, for the answer to one sent elsewhere
    check: Callable[[Path], None] = _nothing_to_check  # before the server starts: raise ModelError naming the fix
    describe: Callable[[Any], dict[str, Any]] = _nothing_to_describe  # what /v1/models adds for a loaded one

    def holds(self, path: Path) -> bool:
        return (Path(path) / self.marker).is_file()


def kind_of(kinds: Iterable[ModelKind], path: Path) -> ModelKind | None:
    """The kind whose model directory ``path`` is; None for a task model (or no model at all)."""
    return next((kind for kind in kinds if kind.holds(path)), None)
