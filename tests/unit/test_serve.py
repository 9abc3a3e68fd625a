"""The serving pieces that need no model: batching, keys, rate limits, names, inputs, config."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest

from whet.config import DataConfig
from whet.errors import ConfigError, DataError, ModelError
from whet.serve.shared_bases import AdapterNotFound, adapter_source, check_name, check_safetensors_only
from whet.serve.auth import ADMIN_KEYS_ENV, API_KEYS_ENV, key_id, load_keys
from whet.serve.batch_queue import BatchQueue
from whet.serve.inputs import InputError, prepared_inputs
from whet.serve.limits import RateLimiter
from whet.serve.run import build_config, model_specs
from whet.serve.settings import LimitSettings, ServeConfig, load_serve_config

# --- Batching ----------------------------------------------------------------------------------------


class RecordingModel:
    """A stand-in for the model registry's predict: records each call and when it started, fails on the text 'bad'."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, list]] = []
        self.started: list[float] = []
        self.delay = delay
        self.threads: set[str] = set()

    def __call__(self, model: str, inputs: list) -> list[dict]:
        self.threads.add(threading.current_thread().name)
        self.calls.append((model, list(inputs)))
        self.started.append(time.perf_counter())
        time.sleep(self.delay)
        if "bad" in inputs:
            raise DataError("input bad: cannot be encoded")
        return [{"model": model, "text": text} for text in inputs]


def with_queue(model: RecordingModel, scenario: Callable[[BatchQueue], Awaitable], **options) -> Any:
    """What ``scenario(queue)`` returns, run on a new queue in a new event loop; the queue closes after."""
    async def main() -> Any:
        queue = BatchQueue("lane", model, **options)
        try:
            return await scenario(queue)
        finally:
            await queue.close()

    return asyncio.run(main())


def run_requests(model: RecordingModel, requests: list[tuple[str, list]], **options) -> list:
    return with_queue(model, lambda queue: asyncio.gather(*(queue.submit(name, inputs) for name, inputs in requests),
                                                          return_exceptions=True), **options)


def test_concurrent_requests_share_a_model_call_and_get_their_own_results_in_order():
    model = RecordingModel()
    requests = [("m", [f"text {i}", f"more {i}"]) for i in range(10)]
    results = run_requests(model, requests, max_batch_size=64, max_wait_ms=50)
    assert results == [[{"model": "m", "text": t} for t in inputs] for _, inputs in requests]
    assert len(model.calls) == 1 and len(model.calls[0][1]) == 20
    assert model.threads == {"whet-batch-lane_0"}  # off the event loop, in the queue's own thread


def test_batches_never_exceed_the_size_limit_and_group_by_model():
    model = RecordingModel(delay=0.01)
    requests = [("a" if i % 2 else "b", [f"t{i}"] * 3) for i in range(12)]
    results = run_requests(model, requests, max_batch_size=7, max_wait_ms=20)
    assert all(len(r) == 3 for r in results)
    assert all(len(inputs) <= 7 for _, inputs in model.calls)
    assert sum(len(inputs) for _, inputs in model.calls) == 36
    # The first batch holds two requests (6 texts), one per model: one call per model.
    assert model.calls[:2] == [("b", ["t0"] * 3), ("a", ["t1"] * 3)]


def test_without_batching_each_request_runs_alone():
    model = RecordingModel()
    run_requests(model, [("m", ["x"]), ("m", ["y"]), ("m", ["z"])], max_batch_size=64, max_wait_ms=50, enabled=False)
    assert [inputs for _, inputs in model.calls] == [["x"], ["y"], ["z"]]


def test_a_bad_input_fails_only_its_own_request():
    model = RecordingModel()
    results = run_requests(model, [("m", ["ok 1"]), ("m", ["bad"]), ("m", ["ok 2"])], max_batch_size=64, max_wait_ms=50)
    assert results[0] == [{"model": "m", "text": "ok 1"}] and results[2] == [{"model": "m", "text": "ok 2"}]
    assert isinstance(results[1], DataError)


def test_a_request_whose_caller_gave_up_is_not_run():
    model = RecordingModel(delay=0.05)

    async def main() -> None:
        queue = BatchQueue("lane", model, max_batch_size=1, max_wait_ms=0)
        first = asyncio.ensure_future(queue.submit("m", ["first"]))
        await asyncio.sleep(0.01)  # the first batch is running now
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(queue.submit("m", ["abandoned"]), 0.001)
        assert await first == [{"model": "m", "text": "first"}]
        await asyncio.sleep(0.1)
        await queue.close()

    asyncio.run(main())
    assert [inputs for _, inputs in model.calls] == [["first"]]


def test_a_lone_client_is_never_held_however_long_max_wait_is():
    model = RecordingModel()

    async def alone(queue: BatchQueue) -> float:
        started = time.perf_counter()
        for i in range(3):
            # The worker is idle, then the batch it just answered was this client's own request:
            # nobody else is coming, so the request is not held for company.
            await asyncio.wait_for(queue.submit("m", [f"alone {i}"]), 10)
        return time.perf_counter() - started

    assert with_queue(model, alone, max_batch_size=64, max_wait_ms=2000) < 0.5  # held, it would take 2 s
    assert model.calls == [("m", [f"alone {i}"]) for i in range(3)]


def test_requests_that_arrive_while_a_batch_runs_share_the_next_batch():
    model = RecordingModel(delay=0.1)

    async def first_then_five(queue: BatchQueue) -> list:
        first = asyncio.ensure_future(queue.submit("m", ["first"]))
        await asyncio.sleep(0.02)  # the first batch is running now
        later = [queue.submit("m", [f"later {i}"]) for i in range(5)]
        return await asyncio.wait_for(asyncio.gather(first, *later), 10)

    results = with_queue(model, first_then_five, max_batch_size=64, max_wait_ms=0)
    assert results == [[{"model": "m", "text": t}] for t in ["first"] + [f"later {i}" for i in range(5)]]
    assert [inputs for _, inputs in model.calls] == [["first"], [f"later {i}" for i in range(5)]]


def test_under_load_the_next_batch_waits_for_the_callers_just_answered():
    model = RecordingModel(delay=0.02)

    async def closed_loop(queue: BatchQueue) -> float:
        async def caller(i: int) -> None:
            await queue.submit("m", [f"first {i}"])
            await asyncio.sleep(0.03 * i)  # the callers come back one after another
            await queue.submit("m", [f"second {i}"])

        started = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(*(caller(i) for i in range(3))), 10)
        return time.perf_counter() - started

    seconds = with_queue(model, closed_loop, max_batch_size=64, max_wait_ms=1000)
    # Without the wait, the first caller back would run alone and split the callers in two.
    assert [inputs for _, inputs in model.calls] == [[f"first {i}" for i in range(3)], [f"second {i}" for i in range(3)]]
    assert seconds < 0.6  # it started once all three were back, not after the 1 s window


def test_under_load_the_wait_ends_max_wait_after_the_worker_became_free():
    model = RecordingModel(delay=0.02)

    async def one_caller_leaves(queue: BatchQueue) -> None:
        await asyncio.gather(queue.submit("m", ["a"]), queue.submit("m", ["b"]))
        await queue.submit("m", ["a again"])  # b's caller never comes back

    with_queue(model, one_caller_leaves, max_batch_size=64, max_wait_ms=300)
    assert [inputs for _, inputs in model.calls] == [["a", "b"], ["a again"]]
    waited = model.started[1] - (model.started[0] + model.delay)
    assert 0.25 < waited < 2  # held for b's caller until 300 ms after the first batch ended


# --- Keys and rate limits ----------------------------------------------------------------------------


def test_keys_from_files_and_environment(tmp_path, monkeypatch):
    (tmp_path / "keys.txt").write_text("# a comment\n\nfile-key-0123456789abc\n")
    monkeypatch.setenv(API_KEYS_ENV, "env-key-0123456789abcd, second-env-key-0123456")
    monkeypatch.delenv(ADMIN_KEYS_ENV, raising=False)
    keys = load_keys(str(tmp_path / "keys.txt"), None)
    for key in ("file-key-0123456789abc", "env-key-0123456789abcd", "second-env-key-0123456"):
        assert keys.is_api(key)
    assert not keys.is_api("file-key-0123456789ab") and not keys.is_api("")
    assert not keys.admin and not keys.is_admin("file-key-0123456789abc")
    assert key_id("a-key") == key_id("a-key") != key_id("b-key") and "a-key" not in key_id("a-key")


def test_short_keys_and_missing_key_files_are_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(API_KEYS_ENV, raising=False)
    (tmp_path / "keys.txt").write_text("long-enough-key-0123456789\nshort\n")
    with pytest.raises(ConfigError, match=r"keys\.txt:2: a key has 5 characters; use at least 16"):
        load_keys(str(tmp_path / "keys.txt"), None)
    with pytest.raises(ConfigError, match=r"key file .*nope\.txt not found"):
        load_keys(str(tmp_path / "nope.txt"), None)


def test_token_bucket_allows_the_burst_then_asks_to_retry(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    limiter = RateLimiter(rate=2.0, burst=3)
    assert [limiter.retry_after("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("k") == 1 and limiter.retry_after("other") == 0
    now[0] += 0.5  # one token back at 2 per second
    assert limiter.retry_after("k") == 0 and limiter.retry_after("k") == 1


# --- Names and adapter directories -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["intents", "lora.v2", "A_b-3", "x" * 64])
def test_good_names(name):
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".", "..", "...", "../x", "a/b", "a\\b", "a b", "x" * 65, "ü", "a\n"])
def test_bad_names(name):
    with pytest.raises(ModelError, match="is not allowed"):
        check_name(name)


def test_adapter_sources_stay_inside_the_adapter_directory(tmp_path):
    root = tmp_path / "adapters"
    (root / "good").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    assert adapter_source(root, "good") == (root / "good").resolve()
    with pytest.raises(ModelError, match="resolves outside the adapter directory"):
        adapter_source(root, "escape")
    with pytest.raises(AdapterNotFound):
        adapter_source(root, "missing")
    (root / "good" / "pytorch_model.bin").write_bytes(b"")
    with pytest.raises(ModelError, match=r"pickled weights \(pytorch_model\.bin\)"):
        check_safetensors_only(root / "good")


# --- Request inputs ----------------------------------------------------------------------------------


def info(task: str = "sequence-classification", **data) -> tuple:
    """(task, data settings) of a model, as ``prepared_inputs`` takes them."""
    from whet.tasks import TASKS

    return TASKS.get(task), DataConfig(**data)


def as_whet_predict_reads(records: list, task: object, data: DataConfig) -> list:
    """The examples ``Predictor.predict`` makes of ``records``."""
    return task.prediction_inputs(records, data)


def test_inputs_become_records_as_whet_predict_reads_them():
    # The records are parsed here, once: what is queued are the examples whet predict makes of them.
    limits = LimitSettings()
    assert prepared_inputs(["a", {"text": "b"}], *info(), limits) == as_whet_predict_reads(["a", {"text": "b"}], *info())
    pairs = info(text_pair_column="context")
    assert prepared_inputs([("q", "c")], *pairs, limits) == as_whet_predict_reads([{"text": "q", "context": "c"}], *pairs)
    tokens = info("token-classification")
    assert prepared_inputs([{"tokens": ["A", "b"]}], *tokens, limits) == as_whet_predict_reads([{"tokens": ["A", "b"]}],
                                                                                               *tokens)


@pytest.mark.parametrize("inputs, model, message", [
    ([], info(), r"inputs is empty"),
    (["a"] * 4, info(), r"4 items; this server takes at most 3 per request \(limits\.max_texts\)"),
    (["ok", "x" * 11], info(), r"input 2: 11 characters; .* at most 10 per text"),
    ([{"tokens": ["abcdef", "ghijk"]}], info("token-classification"), r"input 1: 11 characters"),
    ([("a", "b")], info(), r"input 1: this model does not take text pairs"),
    (["a"], info(text_pair_column="context"), r"input 1: this model classifies text pairs"),
    (["ok\ud83d"], info(), r"input 1: the text holds an unpaired surrogate \(U\+D83D\) at character 2"),
    ([{"tokens": "not a list"}], info("token-classification"), r"input 1: 'tokens' must be a list of strings"),
])
def test_bad_inputs_name_the_input_and_the_fix(inputs, model, message):
    with pytest.raises(InputError, match=message):
        prepared_inputs(inputs, *model, LimitSettings(max_texts=3, max_chars=10))


# --- The serve config --------------------------------------------------------------------------------


def test_config_paths_are_relative_to_the_file_and_unknown_keys_suggest_the_fix(tmp_path):
    (tmp_path / "serve.yaml").write_text("models: {m: models/m}\nauth: {api_keys_file: keys.txt}\n")
    config = load_serve_config(tmp_path / "serve.yaml", ["batching.max_wait_ms=2"])
    assert config.models == {"m": str(tmp_path / "models" / "m")}
    assert config.auth.api_keys_file == str(tmp_path / "keys.txt") and config.batching.max_wait_ms == 2
    with pytest.raises(ConfigError, match=r"serve options: 1 problem: limits\.max_text: unknown key; "
                                          r"did you mean 'max_texts'\?"):
        load_serve_config(None, ["limits.max_text=3"])
    assert ServeConfig().host == "127.0.0.1"


def test_model_arguments_are_named_after_their_run(tmp_path):
    assert model_specs(["runs/intents/model", "ner=/models/x", "/models/plain"]) == {
        "intents": str(Path("runs/intents/model").resolve()), "ner": "/models/x", "plain": "/models/plain"}
    with pytest.raises(ConfigError, match="two models are named 'model'; name them with NAME=DIR"):
        model_specs(["a/model/model", "b/model/model"])
    with pytest.raises(ModelError, match="model name 'a b' is not allowed"):
        model_specs(["a b=/x"])


def test_command_line_options_override_the_config(tmp_path):
    (tmp_path / "serve.yaml").write_text("port: 9000\nbatching: {max_batch_size: 8}\nadapter_dir: .\n")
    options = {"host": "0.0.0.0", "port": None, "max_batch_size": 16, "no_batching": True, "cors_origins": ["http://a"],
               "api_keys": None, "adapter_dir": None, "timeout": 5.0}
    config = build_config([], tmp_path / "serve.yaml", options, ["rate_limit.burst=4"])
    assert (config.host, config.port, config.batching.max_batch_size, config.batching.enabled) == ("0.0.0.0", 9000, 16, False)
    assert config.cors_origins == ["http://a"] and config.limits.timeout_s == 5 and config.rate_limit.burst == 4
    assert config.adapter_dir == str(tmp_path)
    with pytest.raises(ConfigError, match="nothing to serve"):
        build_config([], None, {}, [])
    with pytest.raises(ModelError, match=r"has no whet\.json; it is not a model saved by whet"):
        build_config([str(tmp_path)], None, {}, [])

