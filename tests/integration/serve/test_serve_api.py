"""The HTTP API of a real ``whet serve`` process: answers equal ``whet predict``, every bad request
gets the right 4xx and leaves the server healthy, keys, limits, metrics, logs, adapters and load."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time

import httpx
import pytest

from tests.integration.serve.conftest import ADMIN_KEY, API_KEY, same_prediction, tls

UNICODE_TEXTS = [
    "I lost my card 💳🔥 at the 🏦",                 # emoji (astral plane)
    "مرحبا، أين بطاقتي؟",                             # Arabic, right to left
    "שלום, איפה הכרטיס שלי",                          # Hebrew, right to left
    "zero\u200bwidth\u200djoiner\ufeffbom",          # zero-width space, joiner, BOM
    "e\u0301 cafe\u0301 n\u0303",                    # combining marks
    "東京で カードを なくしました",                     # CJK and kana
    "nul\u0000char and \t tab",                      # control characters
    "",                                              # empty
    "   ",                                           # whitespace only
    "\U0001F468\u200D\U0001F469\u200D\U0001F467",    # a ZWJ emoji sequence
]


def predict(server, model, inputs, **kwargs):
    with server.client() as client:
        return client.post("/v1/predict", json={"model": model, "inputs": inputs, **kwargs})


def test_health_and_openapi(api_server):
    assert api_server.get("/healthz").json() == {"status": "ok"}
    ready = api_server.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    schema = api_server.get("/openapi.json").json()
    assert {"/v1/predict", "/v1/models", "/healthz", "/readyz", "/metrics", "/v1/admin/adapters",
            "/v1/admin/adapters/{name}"} <= set(schema["paths"])
    assert {"PredictRequest", "PredictResponse", "Prediction", "ModelsResponse", "ErrorBody"} <= set(schema["components"]["schemas"])
    assert schema["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "413" in schema["paths"]["/v1/predict"]["post"]["responses"]


@pytest.mark.parametrize("model, inputs", [
    ("intents", ["I lost my card", "what is my balance", "hello there"] + UNICODE_TEXTS),
    ("pairs", [["is it late?", "the parcel left yesterday"], {"text": "refund?", "context": "order 17"}]),
    ("ner", ["Maria Lopez flew to Lisbon.", {"tokens": ["Ana", "lives", "in", "Porto"]}] + UNICODE_TEXTS),
    ("lora-a", ["turn left", "go straight on"]),
    ("lora-b", ["turn left", "go straight on"]),
])
def test_predictions_equal_whet_predict(api_server, offline, model, inputs):
    response = predict(api_server, model, inputs)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == model
    # One request is one batch of exactly these inputs, as offline: the results are identical.
    pair_records = [{"text": i[0], "context": i[1]} if isinstance(i, list) else i for i in inputs]
    assert body["predictions"] == offline(model).predict(pair_records)


def test_a_request_is_parsed_once_and_its_examples_give_what_whet_predict_gives(offline, monkeypatch):
    # The route parses the inputs (prepared_inputs) and queues the examples; the batch worker
    # predicts on them (ModelRegistry.predict -> Predictor.predict_examples) without parsing again.
    from dataclasses import replace

    from whet.serve.inputs import prepared_inputs
    from whet.serve.settings import LimitSettings

    predictor = offline("pairs")
    inputs = [("is it late?", "the parcel left yesterday"), {"text": "refund?", "context": "order 17"}]
    expected = predictor.predict([{"text": "is it late?", "context": "the parcel left yesterday"}, inputs[1]])
    task, parsed = predictor.task, []

    def prediction_inputs(records: list, data: object) -> list:
        parsed.append(records)
        return task.prediction_inputs(records, data)

    monkeypatch.setattr(predictor, "task", replace(task, prediction_inputs=prediction_inputs))
    examples = prepared_inputs(inputs, predictor.task, predictor.data, LimitSettings())
    assert predictor.predict_examples(examples) == expected
    assert len(parsed) == 1


def test_models_lists_tasks_labels_versions_and_shared_bases(api_server):
    with api_server.client() as client:
        models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(models) == {"intents", "pairs", "ner", "lora-a", "lora-b", "lm", "lm-lora"}
    assert models["intents"]["task"] == "sequence-classification" and models["intents"]["status"] == "ready"
    assert models["intents"]["labels"] == ["balance", "lost_card", "transfer", "greeting"]
    assert models["intents"]["metrics"] == {"dev": {"accuracy": 0.5}} and models["intents"]["whet_version"]
    assert models["pairs"]["text_pair"] is True and models["ner"]["task"] == "token-classification"
    assert models["lora-a"]["adapter"] and models["lora-a"]["labels"] == ["red", "green", "blue"]
    assert models["lora-a"]["shared_base"] == models["lora-b"]["shared_base"] is not None
    assert models["intents"]["shared_base"] is None


LONG_BODY = {"model": "intents", "inputs": ["word " * 400] * 40}  # ~80 kB > 64 kB

# name -> (request arguments, status, pattern the detail must match)
BAD_REQUESTS = {
    "malformed JSON": ({"content": b'{"model": "intents", "inputs": [', "headers": {"content-type": "application/json"}},
                       400, r"not valid JSON"),
    "invalid UTF-8": ({"content": b'{"model": "intents", "inputs": ["\xff\xfe"]}',
                       "headers": {"content-type": "application/json"}}, 400, r""),
    "a list, not an object": ({"json": ["intents", "hello"]}, 422, r"body"),
    "wrong types": ({"json": {"model": 5, "inputs": "hello"}}, 422, r"model: Input should be a valid string"),
    "an input that is a number": ({"json": {"model": "intents", "inputs": [1]}}, 422, r"each input is a text"),
    "a nested object input": ({"json": {"model": "intents", "inputs": [{"text": {"a": 1}}]}}, 422, r"each input"),
    "empty inputs": ({"json": {"model": "intents", "inputs": []}}, 422, r"inputs is empty"),
    "missing inputs": ({"json": {"model": "intents"}}, 422, r"inputs: Field required"),
    "unknown field": ({"json": {"model": "intents", "inputs": ["a"], "extra": 1}}, 422, r"extra: Extra inputs"),
    "too many texts": ({"json": {"model": "intents", "inputs": ["a"] * 65}}, 422, r"65 items.*at most 64"),
    "a text too long": ({"json": {"model": "intents", "inputs": ["a" * 2001]}}, 422, r"2001 characters.*at most 2000"),
    "a word list too long": ({"json": {"model": "ner", "inputs": [{"tokens": ["abcd"] * 501}]}}, 422, r"at most 2000"),
    "tokens that are not strings": ({"json": {"model": "ner", "inputs": [{"tokens": [1, 2]}]}}, 422, r"each input"),
    "a huge body": ({"json": LONG_BODY}, 413, r"larger than 65536 bytes"),
    "a huge chunked body": ({"content": iter([json.dumps(LONG_BODY).encode()[i:i + 8192] for i in range(0, 90000, 8192)]),
                            "headers": {"content-type": "application/json"}}, 413, r"larger than 65536 bytes"),
    "unknown model": ({"json": {"model": "nope", "inputs": ["a"]}}, 404, r"unknown model 'nope'; served models: intents"),
    "no model named": ({"json": {"inputs": ["a"]}}, 422, r"7 models are served .*; name one"),
    "a pair for a single-text model": ({"json": {"model": "intents", "inputs": [["a", "b"]]}}, 422,
                                       r"input 1: this model does not take text pairs"),
    "a single text for a pair model": ({"json": {"model": "pairs", "inputs": ["a"]}}, 422, r"input 1: this model classifies text pairs"),
    "a triple": ({"json": {"model": "pairs", "inputs": [["a", "b", "c"]]}}, 422, r"each input"),
    "a lone surrogate": ({"content": b'{"model": "intents", "inputs": ["ok", "a\\ud800b"]}',
                          "headers": {"content-type": "application/json"}}, 422, r"input 2: .*unpaired surrogate \(U\+D800\)"),
    "a lone low surrogate": ({"content": b'{"model": "ner", "inputs": ["\\udc00"]}',
                              "headers": {"content-type": "application/json"}}, 422, r"unpaired surrogate \(U\+DC00\)"),
    "a negative timeout": ({"json": {"model": "intents", "inputs": ["a"], "timeout_s": -1}}, 422, r"timeout_s"),
    "text/plain": ({"content": b'{"model": "intents", "inputs": ["a"]}', "headers": {"content-type": "text/plain"}}, 422, r""),
    "no key": ({"json": {"model": "intents", "inputs": ["a"]}, "headers": {"authorization": ""}}, 401, r"API key is required"),
    "a wrong key": ({"json": {"model": "intents", "inputs": ["a"]}, "headers": {"authorization": "Bearer nope-nope-nope"}},
                    401, r"invalid API key"),
    "a malformed authorization header": ({"json": {"model": "intents", "inputs": ["a"]},
                                          "headers": {"authorization": "Basic abc"}}, 401, r"API key is required"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_the_right_4xx_and_the_server_stays_healthy(api_server, case):
    arguments, status, pattern = BAD_REQUESTS[case]
    with api_server.client() as client:
        response = client.post("/v1/predict", **arguments)
        assert response.status_code == status, response.text
        assert re.search(pattern, response.json()["detail"]), response.json()
        if status == 401:
            assert response.headers["www-authenticate"] == "Bearer"
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/predict", json={"model": "intents", "inputs": ["still fine"]}).status_code == 200
    assert api_server.alive()


def test_wrong_method_and_unknown_path(api_server):
    with api_server.client() as client:
        assert client.get("/v1/predict").status_code == 405
        assert client.get("/v2/nothing").status_code == 404


def test_keys_admin_keys_and_open_endpoints(api_server):
    with api_server.client(key=None) as anonymous:
        assert anonymous.get("/v1/models").status_code == 401
        for path in ("/healthz", "/metrics", "/openapi.json", "/"):
            assert anonymous.get(path).status_code == 200, path
    with api_server.client(key=ADMIN_KEY) as admin:  # an admin key is an API key too
        assert admin.get("/v1/models").status_code == 200
    with api_server.client() as user:
        refused = user.post("/v1/admin/adapters", json={"name": "x"})
        assert refused.status_code == 403 and "not an admin key" in refused.json()["detail"]
    with api_server.client(key=None) as anonymous:
        assert anonymous.delete("/v1/admin/adapters/lora-a").status_code == 401


def logged_requests(server, awaited: str, timeout: float = 10.0) -> dict[str, dict]:
    """The server's access-log entries by request id, once ``awaited`` is among them: a request is
    logged after its response is sent, so the entry can lag the reply."""
    deadline = time.monotonic() + timeout
    while True:
        lines = [json.loads(line) for line in server.log_text().splitlines() if line.startswith("{")]
        logged = {entry.get("request_id"): entry for entry in lines if entry.get("message") == "request"}
        if awaited in logged or time.monotonic() > deadline:
            return logged
        time.sleep(0.05)


def test_request_ids_are_echoed_or_made_and_logged_as_json(api_server):
    with api_server.client() as client:
        echoed = client.get("/v1/models", headers={"X-Request-ID": "trace-42.a:b"})
        replaced = client.get("/v1/models", headers={"X-Request-ID": "bad id\twith spaces"})
        made = client.post("/v1/predict", json={"model": "ner", "inputs": ["Ana"]})
    assert echoed.headers["x-request-id"] == "trace-42.a:b"
    assert re.fullmatch(r"[0-9a-f]{32}", replaced.headers["x-request-id"])
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-request-id"])
    logged = logged_requests(api_server, made.headers["x-request-id"])
    entry = logged[made.headers["x-request-id"]]
    assert entry["route"] == "/v1/predict" and entry["status"] == 200 and entry["model"] == "ner"
    assert entry["texts"] == 1 and entry["caller"].startswith("key-") and entry["duration_ms"] >= 0
    assert "trace-42.a:b" in logged and API_KEY not in api_server.log_text()


def test_cors_is_limited_to_the_configured_origins(api_server):
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    with api_server.client(key=None) as client:
        allowed = client.options("/v1/predict", headers={"Origin": "http://allowed.example", **preflight})
        refused = client.options("/v1/predict", headers={"Origin": "http://evil.example", **preflight})
    assert allowed.headers.get("access-control-allow-origin") == "http://allowed.example"
    assert "access-control-allow-origin" not in refused.headers


def metric(text: str, name: str, **labels) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            sample_labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def metric_total(text: str, name: str) -> float:
    """The sum of a metric's samples over all label values."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))


def test_metrics(api_server):
    predict(api_server, "intents", ["metrics please", "and again"])
    predict(api_server, "intents", [])
    text = api_server.get("/metrics").text
    assert metric(text, "whet_requests_total", route="/v1/predict", method="POST", status="200") >= 1
    assert metric(text, "whet_request_errors_total", route="/v1/predict", status="422") >= 1
    assert metric(text, "whet_request_duration_seconds_count", route="/v1/predict") >= 1
    assert metric(text, "whet_batch_size_count") >= 1 and metric(text, "whet_batch_size_sum") >= 2
    assert metric(text, "whet_model_texts_total", model="intents") >= 2
    assert metric(text, "whet_model_requests_total", model="intents") >= 1
    assert "whet_queue_depth{" in text and metric(text, "whet_models_ready") == 7


def test_admin_loads_and_unloads_adapters_on_the_shared_base(api_server, offline, serve_models):
    from whet.predict import Predictor

    texts = ["head north", "turn around"]
    with api_server.client(key=ADMIN_KEY) as admin:
        loaded = admin.post("/v1/admin/adapters", json={"name": "lora-c"})
        assert loaded.status_code == 201, loaded.text
        shared = {m["name"]: m["shared_base"] for m in admin.get("/v1/models").json()["models"]}
        assert shared["lora-c"] == shared["lora-a"]
        expected_c = Predictor.from_directory(serve_models["lora-c"], precision="fp32").predict(texts)  # as served
        assert admin.post("/v1/predict", json={"model": "lora-c", "inputs": texts}).json()["predictions"] == expected_c
        # Switching back and forth between adapters keeps each one's own answers.
        assert admin.post("/v1/predict", json={"model": "lora-a", "inputs": texts}).json()["predictions"] == \
            offline("lora-a").predict(texts)
        again = admin.post("/v1/admin/adapters", json={"name": "second-c", "source": "lora-c"})
        assert again.status_code == 201
        assert admin.post("/v1/admin/adapters", json={"name": "lora-c"}).status_code == 409
        for body, status, pattern in [
            ({"name": "../lora-c"}, 422, r"not allowed"),
            ({"name": "x", "source": "../adapters/lora-c"}, 422, r"adapter source '../adapters/lora-c' is not allowed"),
            ({"name": "x", "source": ".."}, 422, r"not allowed"),
            ({"name": "x", "source": "missing"}, 404, r"no adapter 'missing'"),
            ({"name": "x", "source": "pickled"}, 422, r"pickled weights \(extra_weights\.bin\); only safetensors"),
            ({"name": "x", "path": "/etc"}, 422, r"path: Extra inputs"),
        ]:
            refused = admin.post("/v1/admin/adapters", json=body)
            assert refused.status_code == status and re.search(pattern, refused.json()["detail"]), (body, refused.text)
        assert admin.delete("/v1/admin/adapters/lora-c").json() == {"name": "lora-c", "status": "unloaded"}
        assert admin.post("/v1/predict", json={"model": "lora-c", "inputs": texts}).status_code == 404
        assert admin.post("/v1/predict", json={"model": "second-c", "inputs": texts}).json()["predictions"] == expected_c
        assert admin.delete("/v1/admin/adapters/second-c").status_code == 200
        assert admin.delete("/v1/admin/adapters/intents").status_code == 409
        assert admin.delete("/v1/admin/adapters/nothing").status_code == 404
        assert admin.delete("/v1/admin/adapters/...").status_code == 422
        assert admin.post("/v1/predict", json={"model": "lora-b", "inputs": texts}).json()["predictions"] == \
            offline("lora-b").predict(texts)


def test_concurrent_load_has_no_errors_and_matches_offline_predictions(api_server, offline):
    """2,000 requests from 64 concurrent clients over four models (two of them adapters on one base)."""
    rng = random.Random(0)
    words = "card balance transfer lost stolen Lisbon Maria account money please my the a to from".split()
    pool = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 30))) for _ in range(150)] + UNICODE_TEXTS
    models = ["intents", "ner", "lora-a", "lora-b"]
    expected = {m: dict(zip(pool, offline(m).predict(pool))) for m in models}
    requests = [(rng.choice(models), rng.sample(pool, rng.randint(1, 3))) for _ in range(2000)]
    answers: list = [None] * len(requests)

    async def client_loop(queue: asyncio.Queue, client: httpx.AsyncClient) -> None:
        async with client:
            while not queue.empty():
                index = queue.get_nowait()
                model, inputs = requests[index]
                response = await client.post("/v1/predict", json={"model": model, "inputs": inputs})
                answers[index] = (response.status_code, response.json())

    async def run() -> None:
        queue: asyncio.Queue = asyncio.Queue()
        for index in range(len(requests)):
            queue.put_nowait(index)
        # A client (and connection pool) per simulated user: one shared pool of 64 connections costs
        # the test process several times more CPU per request than the server spends.
        clients = [httpx.AsyncClient(base_url=api_server.url, headers={"Authorization": f"Bearer {API_KEY}"},
                                     timeout=60, verify=tls()) for _ in range(64)]
        await asyncio.gather(*(client_loop(queue, client) for client in clients))

    asyncio.run(run())
    errors = [(requests[i], a) for i, a in enumerate(answers) if a[0] != 200]
    assert not errors, errors[:3]
    mismatches = [(model, text) for (model, inputs), (_, body) in zip(requests, answers)
                  for text, got in zip(inputs, body["predictions"]) if not same_prediction(got, expected[model][text])]
    assert not mismatches, mismatches[:3]
    text = api_server.get("/metrics").text
    # Batching happened: on average a model call held several requests' texts (a request has 2).
    batches, texts = metric_total(text, "whet_batch_size_count"), metric_total(text, "whet_batch_size_sum")
    assert texts / batches > 3, (texts, batches)
    assert api_server.alive()
