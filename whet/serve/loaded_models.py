"""The models a server holds: loading (each failure kept as a reason), adapters on shared
bases, and the one synchronous ``predict`` that batch workers call.

Loading and prediction run in worker threads; the event loop only reads the registry.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whet.errors import ModelError, WhetError
from whet.models.saved_model import ModelInfo, read_info
from whet.serve.model_kinds import ModelKind, kind_of
from whet.serve.shared_bases import check_name

log = logging.getLogger("whet.serve")


class ModelUnavailable(WhetError):
    """The model is unknown, still loading, failed to load or was unloaded."""


@dataclass
class SharedBase:
    """One base model holding several LoRA adapters; ``lock`` covers switching and changes."""

    key: tuple[str, str]  # (task, base model)
    model: Any  # a PeftModel
    adapters: dict[str, str] = field(default_factory=dict)  # served name -> peft adapter name
    active: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    counter: int = 0

    def new_adapter_key(self) -> str:
        # peft adapter names become module keys, which may not contain '.'; served names may.
        self.counter += 1
        return f"adapter{self.counter}"


@dataclass
class ServedModel:
    name: str
    path: Path
    status: str = "loading"  # loading | ready | failed
    error: str | None = None
    info: ModelInfo | None = None
    predictor: Any = None
    generator: tuple[Any, Any] | None = None  # causal LMs: (model, tokenizer) for whet.generate
    base: SharedBase | None = None
    lane: str = ""  # the batch queue its requests go to: its own, or its shared base's
    kind: ModelKind | None = None  # an application's model (a recommender); None for a task model
    loaded: Any = None  # what the kind's loader returned

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {"name": self.name, "status": self.status, "error": self.error}
        if self.kind is not None:
            return {**described, "kind": self.kind.name,
                    **(self.kind.describe(self.loaded) if self.loaded is not None else {})}
        if self.info is not None:
            data = self.info.data
            described.update(task=self.info.task, labels=self.info.labels, multi_label=bool(data.get("multi_label")),
                             text_pair=bool(data.get("text_pair_column")), method=self.info.method,
                             base_model=self.info.base_model, whet_version=self.info.whet_version,
                             metrics=self.info.metrics, adapter=self.info.adapter)
            described["shared_base"] = self.lane if self.info.adapter and self.lane else None
        if self.predictor is not None or self.generator is not None:  # generation runs in float32
            described["precision"] = self.predictor.precision if self.predictor is not None else "fp32"
        detector = self.predictor.detector if self.predictor is not None else None
        if detector is not None:
            described["out_of_scope"] = {"scorer": detector.scorer, "threshold": detector.threshold,
                                         "none_label": detector.none_label}
        return described


class ModelRegistry:
    """Served models by name. ``load`` and ``predict`` block: call them from worker threads."""

    def __init__(self, predict_batch_size: int, precision: str = "auto", kinds: tuple[ModelKind, ...] = ()) -> None:
        self.models: dict[str, ServedModel] = {}
        self.kinds = kinds
        self.bases: dict[tuple[str, str], SharedBase] = {}
        self.startup: list[str] = []
        self.predict_batch_size = predict_batch_size
        self.precision = precision  # of the predicting models; generation runs in float32
        self._loading = threading.Lock()  # one load at a time: loads share bases

    def add(self, name: str, path: Path, *, at_startup: bool = False) -> ServedModel:
        check_name(name)
        if name in self.models:
            raise ModelError(f"a model named {name!r} is already served; choose another name")
        served = ServedModel(name=name, path=Path(path), kind=kind_of(self.kinds, Path(path)))
        self.models[name] = served
        if at_startup:
            self.startup.append(name)
        return served

    def load(self, name: str) -> ServedModel:
        """Load a model added with ``add``; a failure is kept as the model's status and error."""
        served = self.models[name]
        try:
            with self._loading:
                if served.kind is not None:
                    served.loaded = served.kind.load(served.path)
                else:
                    served.info = read_info(served.path)
                    if served.info.adapter:
                        self._load_adapter(served)
                    else:
                        self._load_full(served)
            served.status = "ready"
            log.info("model %s ready (%s, %s)", name, served.kind.name if served.kind else served.info.task, served.path)
        except Exception as err:  # any failure, even a bug, must leave the server up
            served.status, served.error = "failed", _one_line(err)
            log.error("model %s failed to load: %s", name, served.error)
        return served

    def _load_full(self, served: ServedModel) -> None:
        from whet.predict import Predictor
        from whet.tasks import TASKS

        if TASKS.get(served.info.task).generates:
            from whet.generate import load_generator

            served.generator = load_generator(served.path)
        else:
            served.predictor = Predictor.from_directory(served.path, precision=self.precision)
        served.lane = served.name

    def _load_adapter(self, served: ServedModel) -> None:
        import transformers

        from whet.predict import Predictor
        from whet.models.pretrained import load_model, load_tokenizer, quiet_transformers
        from whet.serve.shared_bases import load_adapter, wrap_base
        from whet.tasks import TASKS

        info = served.info
        task = TASKS.get(info.task)
        key = (info.task, info.base_model)
        base = self.bases.get(key)
        if base is None:
            # The base config saved beside the adapter carries this adapter's head size.
            config = transformers.AutoConfig.from_pretrained(str(served.path))
            weights = load_model(getattr(transformers, task.auto_class), info.base_model, config=config)
            base = SharedBase(key=key, model=None)
            adapter_key = base.new_adapter_key()
            with quiet_transformers():
                base.model = wrap_base(weights, adapter_key, served.path)
            base.active = adapter_key
            self.bases[key] = base
        else:
            adapter_key = base.new_adapter_key()
            with base.lock, quiet_transformers():
                load_adapter(base.model, adapter_key, served.path)
        base.adapters[served.name] = adapter_key
        served.base = base
        served.lane = f"{info.task}:{info.base_model}"
        tokenizer = load_tokenizer(str(served.path))
        if task.generates:
            from whet.models.decoding import ensure_pad_token

            ensure_pad_token(tokenizer)
            served.generator = (base.model, tokenizer)
        else:
            from whet.models.out_of_scope import load_detector

            served.predictor = Predictor(base.model, tokenizer, info, precision=self.precision,
                                         detector=load_detector(Path(served.path)))

    def remove(self, name: str) -> None:
        """Unload an adapter; its base goes too once no adapter uses it."""
        served = self.get(name, ready=False)
        if served.base is None:
            raise ModelError(f"{name!r} is not a LoRA adapter; only adapters can be unloaded at run time")
        base = served.base
        with self._loading, base.lock:
            adapter_key = base.adapters.pop(name)
            if base.adapters:
                base.model.delete_adapter(adapter_key)
                if base.active == adapter_key:
                    base.active = None
            else:
                del self.bases[base.key]
            del self.models[name]
            served.status, served.predictor, served.generator, served.base = "unloaded", None, None, None

    def get(self, name: str, *, ready: bool = True) -> ServedModel:
        served = self.models.get(name)
        if served is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelUnavailable(f"unknown model {name!r}; served models: {known}")
        if ready and served.status != "ready":
            reason = f": {served.error}" if served.error else ""
            raise ModelUnavailable(f"model {name!r} is {served.status}{reason}")
        return served

    def predict(self, name: str, examples: list[Any]) -> list[dict]:
        """Predictions of model ``name`` for examples parsed by its predictor's task, exactly as
        ``whet predict`` gives them."""
        served = self.get(name)
        with self._adapter_of(served):
            return served.predictor.predict_examples(examples, batch_size=self.predict_batch_size)

    def complete(self, name: str, prompts: list[Any], settings: Any, chat: bool, batch_size: int) -> list[Any]:
        """``whet.models.decoding.complete`` with causal LM ``name``: one ``Completion`` per prompt."""
        from whet.models.decoding import complete

        served = self.get(name)
        model, tokenizer = served.generator
        with self._adapter_of(served):
            return complete(model, tokenizer, prompts, settings, chat=chat, batch_size=batch_size)

    def stream(self, name: str, prompt: Any, settings: Any, chat: bool,
               finished: Callable[[Any], None]) -> Iterator[str]:
        """``whet.models.decoding.generate_stream`` with causal LM ``name``; an adapter's shared base
        stays switched to it (and locked) until the stream is exhausted or closed."""
        from whet.models.decoding import generate_stream

        served = self.get(name)
        model, tokenizer = served.generator
        with self._adapter_of(served):
            yield from generate_stream(model, tokenizer, prompt, settings, chat=chat, finished=finished)

    @contextlib.contextmanager
    def _adapter_of(self, served: ServedModel) -> Iterator[None]:
        """For an adapter: its shared base locked and switched to it; nothing for other models."""
        base = served.base
        if base is None:
            yield
            return
        with base.lock:
            adapter_key = base.adapters.get(served.name)
            if adapter_key is None:
                raise ModelUnavailable(f"model {served.name!r} was unloaded")
            if base.active != adapter_key:
                base.model.set_adapter(adapter_key)
                base.active = adapter_key
            yield

    def readiness(self) -> tuple[str, list[str]]:
        """("ready" | "loading" | "failed", reasons) over the models given at start-up."""
        startup = [self.models[n] for n in self.startup if n in self.models]
        failed = [f"model {m.name!r} failed to load: {m.error}" for m in startup if m.status == "failed"]
        if failed:
            return "failed", failed
        loading = [f"model {m.name!r} is loading" for m in startup if m.status == "loading"]
        return ("loading", loading) if loading else ("ready", [])


def _one_line(err: BaseException) -> str:
    first = next(iter(str(err).strip().splitlines()), "")
    if isinstance(err, WhetError) and first:
        return first
    return f"{type(err).__name__}: {first}" if first else type(err).__name__
