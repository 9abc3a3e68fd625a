"""Real ``whet serve`` processes on 127.0.0.1 over tiny random models saved as whet model directories.

Two servers start together, once per test session (each takes seconds to import torch):

- ``api_server``: a full classifier, a pair classifier, an NER model and two LoRA adapters on
  one base; API and admin keys from files; an adapter directory for run-time loading.
- ``faulty_server``: a good model and one whose weights are corrupt; keys from the environment,
  a rate limit, and a long batch wait (1 s): a request that queues behind a running batch stays in
  flight about a second (for timeout and SIGTERM tests), a lone one is not held at all.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import yaml

API_KEY = "test-api-key-0123456789"
ADMIN_KEY = "test-admin-key-0123456789"
FAULTY_KEYS = [f"faulty-key-{n}-0123456789" for n in range(7)]  # one per test: the rate limit is per key
INTENT_LABELS = ["balance", "lost_card", "transfer", "greeting"]
NER_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


@functools.cache
def tls() -> ssl.SSLContext:
    # httpx loads the CA bundle for every client it builds (a quarter second of CPU here), even for
    # http:// URLs; every test client shares this one instead.
    return ssl.create_default_context()


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    models: dict[str, Path] = field(default_factory=dict)

    def client(self, key: str | None = API_KEY, **kwargs) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=tls(), **kwargs)

    def get(self, path: str, **kwargs) -> httpx.Response:
        """A request without a key."""
        with self.client(key=None) as client:
            return client.get(path, **kwargs)

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def _tokenizer():
    from transformers import AutoTokenizer

    from whet.models.pretrained import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("builtin:minilm"))


def _tiny_config(tokenizer, **kwargs):
    from transformers import BertConfig

    # initializer_range 0.2: a random model whose probabilities are far from uniform, so labels are clear-cut.
    return BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=128, initializer_range=0.2, **kwargs)


def _labels_kwargs(labels: list[str]) -> dict:
    return {"num_labels": len(labels), "id2label": dict(enumerate(labels)), "label2id": {l: i for i, l in enumerate(labels)}}


def _info(task: str, labels: list[str], base: str, method: str = "full", **data):
    from whet import __version__
    from whet.config import DataConfig
    from whet.models.saved_model import ModelInfo

    return ModelInfo(task=task, labels=labels, base_model=base, method=method, data=DataConfig(**data).model_dump(),
                     max_length=128, metrics={"dev": {"accuracy": 0.5}}, whet_version=__version__)


def build_models(root: Path, gpt2: Path) -> dict[str, Path]:
    """Every model directory the servers use, built with random weights in seconds (``gpt2``: a
    tiny random GPT-2 directory, the base of the causal LMs)."""
    import torch
    from transformers import BertForSequenceClassification, BertForTokenClassification, BertModel

    from whet.methods.lora import LoraSettings
    from whet.methods.lora import apply as apply_lora
    from whet.models.saved_model import save_model

    tokenizer = _tokenizer()
    paths = {name: root / name for name in ("base", "intents", "pairs", "ner", "lora-a", "lora-b", "broken")}
    torch.manual_seed(0)
    BertModel(_tiny_config(tokenizer)).save_pretrained(paths["base"])
    tokenizer.save_pretrained(paths["base"])
    save_model(paths["intents"], BertForSequenceClassification(_tiny_config(tokenizer, **_labels_kwargs(INTENT_LABELS))),
               tokenizer, _info("sequence-classification", INTENT_LABELS, "builtin:minilm"))
    save_model(paths["pairs"], BertForSequenceClassification(_tiny_config(tokenizer, **_labels_kwargs(["yes", "no"]))),
               tokenizer, _info("sequence-classification", ["yes", "no"], "builtin:minilm", text_pair_column="context"))
    save_model(paths["ner"], BertForTokenClassification(_tiny_config(tokenizer, **_labels_kwargs(NER_LABELS))),
               tokenizer, _info("token-classification", NER_LABELS, "builtin:minilm"))
    adapters = root / "adapters"
    lora = {"lora-a": (paths["lora-a"], ["red", "green", "blue"]), "lora-b": (paths["lora-b"], ["up", "down"]),
            "lora-c": (adapters / "lora-c", ["north", "south", "east", "west"])}
    for seed, (name, (path, labels)) in enumerate(lora.items(), 1):
        torch.manual_seed(seed)
        model = BertForSequenceClassification.from_pretrained(paths["base"], **_labels_kwargs(labels))
        model = apply_lora(model, LoraSettings(r=4), "SEQ_CLS")
        with torch.no_grad():  # LoRA starts as a no-op; give each adapter its own effect
            for parameter_name, parameter in model.named_parameters():
                if "lora_B" in parameter_name:
                    parameter.normal_(0, 0.5)
        save_model(path, model, tokenizer, _info("sequence-classification", labels, str(paths["base"]), "lora"))
    paths["lora-c"] = adapters / "lora-c"
    paths.update(build_language_models(root, gpt2))
    shutil.copytree(adapters / "lora-c", adapters / "pickled")
    (adapters / "pickled" / "extra_weights.bin").write_bytes(b"not loaded")
    shutil.copytree(paths["intents"], paths["broken"], dirs_exist_ok=True)
    weights = paths["broken"] / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])  # a truncated download, say
    return paths


def build_language_models(root: Path, gpt2: Path) -> dict[str, Path]:
    """A causal LM with a chat template ("lm") and a LoRA adapter on the same base ("lm-lora")."""
    import torch
    from transformers import AutoTokenizer, GPT2LMHeadModel

    from tests.conftest import CHATML
    from whet.methods.lora import LoraSettings
    from whet.methods.lora import apply as apply_lora
    from whet.models.saved_model import save_model

    tokenizer = AutoTokenizer.from_pretrained(gpt2)
    tokenizer.chat_template = CHATML
    paths = {"lm": root / "lm", "lm-lora": root / "lm-lora"}
    save_model(paths["lm"], GPT2LMHeadModel.from_pretrained(gpt2), tokenizer, _info("causal-lm", [], str(gpt2)))
    torch.manual_seed(5)
    model = apply_lora(GPT2LMHeadModel.from_pretrained(gpt2), LoraSettings(r=4), "CAUSAL_LM")
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            if "lora_B" in parameter_name:
                parameter.normal_(0, 0.5)
    save_model(paths["lm-lora"], model, tokenizer, _info("causal-lm", [], str(gpt2), "lora"))
    return paths


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(workdir: Path, config: dict, env: dict[str, str] | None = None) -> Server:
    config_path = workdir / "serve.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log = workdir / "server.log"
    # One torch thread: the models are tiny and the cores are shared with the test process.
    environment = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1",
                   **(env or {})}
    process = subprocess.Popen([sys.executable, "-m", "whet", "serve", "--config", str(config_path), "--port", str(port)],
                               cwd=workdir, env=environment, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return Server(url=f"http://127.0.0.1:{port}", process=process, log=log)


def wait_until_settled(server: Server, timeout: float = 180) -> dict:
    """Poll /readyz until no model is loading; the readiness body."""
    deadline = time.monotonic() + timeout
    with server.client(key=None) as client:
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(f"server exited with {server.process.returncode}:\n{server.log_text()[-3000:]}")
            try:
                body = client.get("/readyz", timeout=5).json()
                if body["status"] != "loading":
                    return body
            except httpx.TransportError:
                pass
            time.sleep(0.25)
    raise RuntimeError(f"server not settled after {timeout} s:\n{server.log_text()[-3000:]}")


def stop(server: Server) -> None:
    if server.alive():
        server.process.terminate()
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


@pytest.fixture(scope="session")
def serve_models(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2: Path) -> dict[str, Path]:
    return build_models(tmp_path_factory.mktemp("serve-models"), tiny_gpt2)


@pytest.fixture(scope="session")
def servers(serve_models, tmp_path_factory):
    api_dir, faulty_dir = tmp_path_factory.mktemp("api-server"), tmp_path_factory.mktemp("faulty-server")
    (api_dir / "keys.txt").write_text(f"# test keys\n{API_KEY}\n")
    (api_dir / "admin.txt").write_text(f"{ADMIN_KEY}\n")
    api_config = {
        "models": {name: str(serve_models[name])
                   for name in ("intents", "pairs", "ner", "lora-a", "lora-b", "lm", "lm-lora")},
        "adapter_dir": str(serve_models["lora-c"].parent),
        "auth": {"api_keys_file": "keys.txt", "admin_keys_file": "admin.txt"},
        "limits": {"max_texts": 64, "max_chars": 2000, "max_body_bytes": 65536, "timeout_s": 20, "max_new_tokens": 64},
        "batching": {"max_batch_size": 32, "max_wait_ms": 5, "max_streams": 1},
        "cors_origins": ["http://allowed.example"],
        # Its answers are compared with offline predictions to float noise: in bf16 a text's scores
        # move in the third decimal with the batch it shares (tests/integration/test_precision_options.py
        # covers serving in bf16).
        "precision": "fp32",
    }
    faulty_config = {
        "models": {"good": str(serve_models["intents"]), "broken": str(serve_models["broken"])},
        "rate_limit": {"requests_per_second": 1, "burst": 3},
        "batching": {"max_wait_ms": 1000},
        "limits": {"timeout_s": 20},
    }
    # Both start before either is waited for: their imports overlap.
    api = start_server(api_dir, api_config)
    faulty = start_server(faulty_dir, faulty_config, env={"WHET_API_KEYS": ",".join(FAULTY_KEYS)})
    api.models, faulty.models = dict(serve_models), dict(serve_models)
    try:
        readiness = wait_until_settled(api)
        assert readiness["status"] == "ready", readiness
        wait_until_settled(faulty)
        yield {"api": api, "faulty": faulty}
    finally:
        stop(api)
        stop(faulty)


@pytest.fixture(scope="session")
def api_server(servers) -> Server:
    return servers["api"]


@pytest.fixture(scope="session")
def faulty_server(servers) -> Server:
    return servers["faulty"]


@pytest.fixture(scope="session")
def offline(serve_models):
    """Predictors loaded the way ``whet predict --precision fp32`` loads them (as ``api_server``
    serves them), by model name."""
    from whet.predict import Predictor

    cache: dict[str, Predictor] = {}

    def predictor(name: str) -> Predictor:
        if name not in cache:
            cache[name] = Predictor.from_directory(serve_models[name], precision="fp32")
        return cache[name]

    return predictor


def same_prediction(served: dict, expected: dict, tolerance: float = 2e-4) -> bool:
    """Equal up to float noise: batches of other sizes pad differently, which moves the 4th decimal
    at most; a label may differ only where the two best labels are tied within that noise."""
    if served.keys() != expected.keys() or served.get("text") != expected.get("text"):
        return False
    if "probabilities" in expected:
        probabilities, reference = served["probabilities"], expected["probabilities"]
        if probabilities.keys() != reference.keys():
            return False
        if any(abs(probabilities[k] - reference[k]) > tolerance for k in reference):
            return False
        if served.get("label") != expected.get("label"):
            return abs(reference[served["label"]] - reference[expected["label"]]) <= tolerance
        return served.get("labels") == expected.get("labels")
    if served["tokens"] != expected["tokens"]:
        return False
    if served["tags"] != expected["tags"] or len(served["entities"]) != len(expected["entities"]):
        return False
    return all(abs(a["score"] - b["score"]) <= tolerance and {**a, "score": 0} == {**b, "score": 0}
               for a, b in zip(served["entities"], expected["entities"]))
