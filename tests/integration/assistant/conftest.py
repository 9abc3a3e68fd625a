"""A real ``whet assistant serve`` on 127.0.0.1 over a tiny random intent model, with a webhook
receiver in the test process that refuses each ticket's first delivery.

The model's probabilities are arbitrary, so the config makes every fresh message a
clarification (``clarify_margin: 1``); the conversation then decides: picking an offered intent
answers it, declining twice hands off.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from tests.integration.serve.conftest import (API_KEY, ADMIN_KEY, Server, _info, _labels_kwargs, _tiny_config,
                                              _tokenizer, free_port, stop)

INTENTS = ["check_balance", "lost_card", "transfer_money", "talk_to_agent"]
REPLIES = {"check_balance": "Your balance is under Accounts in the app.",
           "lost_card": "I have blocked your card; a new one is on its way.",
           "transfer_money": "Transfers are under Payments > Send money.",
           "talk_to_agent": "You can reach us on 0800 123 456."}


def build_intent_model(directory: Path) -> Path:
    import torch
    from transformers import BertForSequenceClassification

    from whet.models.saved_model import save_model

    torch.manual_seed(3)
    tokenizer = _tokenizer()
    model = BertForSequenceClassification(_tiny_config(tokenizer, **_labels_kwargs(INTENTS)))
    save_model(directory, model, tokenizer, _info("sequence-classification", INTENTS, "builtin:minilm"))
    return directory


class Webhook:
    """Receives tickets on loopback; answers 500 to each ticket's first delivery."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.refused: set[int] = set()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server name
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                failing = body["ticket"] not in hook.refused
                hook.refused.add(body["ticket"])
                if not failing:
                    hook.received.append(body)
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tickets"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def write_assistant(directory: Path, model: Path, **settings) -> Path:
    """An assistant config (and its answers and key files) in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "answers.yaml").write_text(yaml.safe_dump({i: {"replies": [r]} for i, r in REPLIES.items()}))
    (directory / "api-keys.txt").write_text(API_KEY + "\n")
    (directory / "admin-keys.txt").write_text(ADMIN_KEY + "\n")
    config = {"intents": {"model": str(model)}, "answers": "answers.yaml",
              "thresholds": {"answer": 0.0, "clarify_margin": 1.0},
              "conversations": {"database": "assistant.db", "max_message_chars": 200},
              "server": {"auth": {"api_keys_file": "api-keys.txt", "admin_keys_file": "admin-keys.txt"}}}
    for key, value in settings.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    path = directory / "assistant.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_assistant(config: Path) -> Server:
    import os
    import subprocess
    import sys

    port = free_port()
    log = config.parent / "server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([sys.executable, "-m", "whet", "assistant", "serve", str(config), "--port", str(port)],
                               cwd=config.parent, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)
    return Server(url=f"http://127.0.0.1:{port}", process=process, log=log)


def wait_until_up(server: Server, timeout: float = 120) -> None:
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"assistant exited with {server.process.returncode}:\n{server.log_text()[-3000:]}")
        try:
            if server.get("/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise RuntimeError(f"assistant not up after {timeout} s:\n{server.log_text()[-3000:]}")


@pytest.fixture(scope="session")
def intent_model(tmp_path_factory) -> Path:
    return build_intent_model(tmp_path_factory.mktemp("assistant-model") / "intents")


@pytest.fixture(scope="session")
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


@pytest.fixture(scope="session")
def assistant_server(intent_model, webhook, tmp_path_factory):
    config = write_assistant(tmp_path_factory.mktemp("assistant"), intent_model,
                             handoff={"webhook": webhook.url, "backoff_seconds": 0.3})
    server = start_assistant(config)
    try:
        wait_until_up(server)
        yield server
    finally:
        stop(server)
