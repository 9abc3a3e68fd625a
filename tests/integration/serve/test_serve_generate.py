"""Text generation over HTTP: ``/v1/generate`` and OpenAI's ``/v1/completions`` (also through
the official ``openai`` client), streaming as server-sent events, batching, adapters, limits.

The served causal LMs are a tiny random GPT-2 and a LoRA adapter on it; every completion is
checked against ``whet.generate.complete`` run offline on the same model directory.
"""

from __future__ import annotations

import concurrent.futures
import json

import httpx
import pytest

from tests.integration.serve.conftest import API_KEY
from whet.generate import GenerationSettings, complete, load_generator

PROMPTS = ["the quick brown fox", "hello", "a b c d e f g"]


@pytest.fixture(scope="module")
def offline_lm(serve_models):
    loaded: dict[str, tuple] = {}

    def run(name: str, prompts: list, settings: GenerationSettings, chat: bool = False) -> list[dict]:
        if name not in loaded:
            loaded[name] = load_generator(serve_models[name])
        model, tokenizer = loaded[name]
        return [c.__dict__ for c in complete(model, tokenizer, prompts, settings, chat=chat, batch_size=1)]

    return run


def post(server, path: str, body: dict) -> httpx.Response:
    with server.client() as client:
        return client.post(path, json=body)


def events(response: httpx.Response) -> list:
    """The data of each server-sent event: parsed JSON, or the final "[DONE]"."""
    assert response.headers["content-type"].startswith("text/event-stream")
    data = [line[len("data: "):] for line in response.text.split("\n") if line.startswith("data: ")]
    return [d if d == "[DONE]" else json.loads(d) for d in data]


@pytest.mark.parametrize("model", ["lm", "lm-lora"])
def test_generate_matches_offline_generation(api_server, offline_lm, model):
    response = post(api_server, "/v1/generate", {"model": model, "prompts": PROMPTS, "max_new_tokens": 12})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == model
    expected = offline_lm(model, PROMPTS, GenerationSettings(max_new_tokens=12))
    assert body["generations"] == expected
    assert all(g["finish_reason"] == "length" and g["completion_tokens"] == 12 for g in expected)


def test_the_adapter_changes_what_the_base_generates(api_server):
    texts = {m: post(api_server, "/v1/generate", {"model": m, "prompts": PROMPTS, "max_new_tokens": 12}).json()
             for m in ("lm", "lm-lora")}
    assert texts["lm"]["generations"] != texts["lm-lora"]["generations"]


def test_chats_stop_strings_and_concurrent_requests_are_batched_correctly(api_server, offline_lm):
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    settings = GenerationSettings(max_new_tokens=16, stop=["e"])
    requests = [{"model": "lm", "prompts": [prompt], "max_new_tokens": 16, "stop": ["e"]}
                for prompt in [*PROMPTS, chat, "hello there"]]
    requests[-1]["chat"] = True
    with concurrent.futures.ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda body: post(api_server, "/v1/generate", body), requests))
    assert [a.status_code for a in answers] == [200] * len(answers)
    generations = [a.json()["generations"][0] for a in answers]
    assert generations[:-1] == offline_lm("lm", [*PROMPTS, chat], settings)
    assert generations[-1] == offline_lm("lm", ["hello there"], settings, chat=True)[0]
    # chat=True renders a text as one user message
    assert generations[-1] == offline_lm("lm", [[{"role": "user", "content": "hello there"}]], settings)[0]
    assert any(g["finish_reason"] == "stop" and "e" not in g["text"] for g in generations)


def test_seeded_sampling_is_repeatable(api_server):
    body = {"model": "lm", "prompts": ["hello"] * 3, "max_new_tokens": 10, "sample": True, "temperature": 2.0,
            "top_k": 0, "seed": 3}
    first, second = (post(api_server, "/v1/generate", body).json()["generations"] for _ in range(2))
    assert first == second and len({g["text"] for g in first}) > 1


def test_generate_streams_pieces_that_join_to_the_completion(api_server):
    body = {"model": "lm", "prompts": ["fox jumps"], "max_new_tokens": 20}  # its completion has spaces to break at
    [whole] = post(api_server, "/v1/generate", body).json()["generations"]
    response = post(api_server, "/v1/generate", {**body, "stream": True})
    assert response.status_code == 200, response.text
    data = events(response)
    assert data[-1] == "[DONE]" and len(data) > 3
    pieces, last = data[:-2], data[-2]
    assert "".join(p["text"] for p in pieces) == whole["text"]
    assert last == {"text": "", "finish_reason": whole["finish_reason"], "prompt_tokens": whole["prompt_tokens"],
                    "completion_tokens": whole["completion_tokens"]}


def test_completions_follow_openai_semantics(api_server, offline_lm):
    response = post(api_server, "/v1/completions", {"model": "lm", "prompt": PROMPTS, "max_tokens": 8,
                                                     "temperature": 0})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["object"] == "text_completion" and body["id"].startswith("cmpl-") and body["model"] == "lm"
    expected = offline_lm("lm", PROMPTS, GenerationSettings(max_new_tokens=8))
    assert [c["text"] for c in body["choices"]] == [e["text"] for e in expected]
    assert [c["index"] for c in body["choices"]] == [0, 1, 2]
    assert all(c["finish_reason"] == "length" and c["logprobs"] is None for c in body["choices"])
    prompt_tokens = sum(e["prompt_tokens"] for e in expected)
    assert body["usage"] == {"prompt_tokens": prompt_tokens, "completion_tokens": 24, "total_tokens": prompt_tokens + 24}
    echoed = post(api_server, "/v1/completions", {"model": "lm", "prompt": "hello", "max_tokens": 8,
                                                   "temperature": 0, "echo": True}).json()
    assert echoed["choices"][0]["text"] == "hello" + expected[1]["text"]


def test_completions_sample_n_choices_per_prompt(api_server):
    body = {"model": "lm", "prompt": ["hello", "fox"], "max_tokens": 10, "n": 3, "seed": 1, "temperature": 1.5}
    first, second = (post(api_server, "/v1/completions", body).json() for _ in range(2))
    assert [c["index"] for c in first["choices"]] == list(range(6))
    assert [c["text"] for c in first["choices"]] == [c["text"] for c in second["choices"]]  # seeded
    assert len({c["text"] for c in first["choices"][:3]}) > 1  # sampled, not greedy copies


def test_the_openai_client_talks_to_the_server(api_server, offline_lm):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{api_server.url}/v1", api_key=API_KEY, max_retries=0)
    [expected] = offline_lm("lm", ["hello"], GenerationSettings(max_new_tokens=12))
    completion = client.completions.create(model="lm", prompt="hello", max_tokens=12, temperature=0)
    assert completion.choices[0].text == expected["text"]
    assert completion.usage.completion_tokens == 12
    chunks = list(client.completions.create(model="lm", prompt="hello", max_tokens=12, temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    assert "".join(c.choices[0].text for c in chunks if c.choices) == expected["text"]
    assert chunks[-2].choices[0].finish_reason == "length" and chunks[-1].usage.total_tokens == \
        expected["prompt_tokens"] + 12
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{api_server.url}/v1", api_key="wrong", max_retries=0).completions.create(
            model="lm", prompt="hello", max_tokens=2)


def test_a_client_leaving_a_stream_frees_its_slot(api_server):
    """The API server allows one stream at a time: a slot kept after the client left would
    make the next stream wait for the timeout and fail with 504."""
    body = {"model": "lm", "prompts": ["fox jumps"], "max_new_tokens": 64, "stream": True}
    with api_server.client() as client:
        for _ in range(3):
            with client.stream("POST", "/v1/generate", json=body) as response:
                assert response.status_code == 200
                next(response.iter_lines())  # one event, then the client hangs up
        response = client.post("/v1/generate", json={**body, "max_new_tokens": 4}, timeout=10)
    assert response.status_code == 200 and events(response)[-1] == "[DONE]"
    assert api_server.get("/healthz").status_code == 200


# name -> (path, body, status, pattern the detail must match)
BAD_GENERATIONS = {
    "not a causal LM": ("/v1/generate", {"model": "intents", "prompts": ["hi"]}, 422, "does not generate text"),
    "predict on a causal LM": ("/v1/predict", {"model": "lm", "inputs": ["hi"]}, 422, "/v1/generate"),
    "unknown model": ("/v1/completions", {"model": "nope", "prompt": "hi"}, 404, "unknown model 'nope'"),
    "too many tokens": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "max_new_tokens": 65}, 422,
                        r"at most 64 .*limits\.max_new_tokens"),
    "sampling options without sampling": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "temperature": 0.5}, 422,
                                          "turn sampling on"),
    "no prompts": ("/v1/generate", {"model": "lm", "prompts": []}, 422, "prompts is empty"),
    "empty chat": ("/v1/generate", {"model": "lm", "prompts": [[]]}, 422, "prompts"),
    "bad message": ("/v1/generate", {"model": "lm", "prompts": [[{"role": "user"}]]}, 422, "content"),
    "too long for the model": ("/v1/generate", {"model": "lm", "prompts": ["word " * 200]}, 422,
                               "exceeds the model's limit of 128 positions"),
    "too long to stream": ("/v1/generate", {"model": "lm", "prompts": ["word " * 200], "stream": True}, 422,
                           "exceeds the model's limit of 128 positions"),
    "two prompts streamed": ("/v1/generate", {"model": "lm", "prompts": ["a", "b"], "stream": True}, 422,
                             "send one prompt"),
    "logprobs": ("/v1/completions", {"model": "lm", "prompt": "hi", "logprobs": 2}, 422, "logprobs is not supported"),
    "penalty": ("/v1/completions", {"model": "lm", "prompt": "hi", "presence_penalty": 1}, 422, "presence_penalty"),
    "token prompt": ("/v1/completions", {"model": "lm", "prompt": [[1, 2]]}, 422, "prompt"),
    "n streamed": ("/v1/completions", {"model": "lm", "prompt": "hi", "n": 2, "stream": True}, 422, "n = 1"),
    "too many stops": ("/v1/completions", {"model": "lm", "prompt": "hi", "stop": list("abcde")}, 422, "at most 4"),
    "too many stops to generate": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "stop": list("abcde")}, 422,
                                   r"^body\.stop: List should have at most 4 items"),
    "unpaired surrogate": ("/v1/completions", {"model": "lm", "prompt": "\ud800"}, 422, "unpaired surrogate"),
    "too many completions": ("/v1/completions", {"model": "lm", "prompt": ["a", "b"], "n": 33}, 422,
                             r"66 completions .*\(n = 33 for each prompt\).*limits\.max_texts"),
    "stop string too long": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "stop": ["a" * 257]}, 422,
                             r"^body\.stop\.0: String should have at most 256 characters"),
    "stop string too long to complete": ("/v1/completions", {"model": "lm", "prompt": "hi", "stop": ["a", "b" * 2001]},
                                         422, r"^stop strings are at most 256 characters: stop string 2 has 2001$"),
    "unpaired surrogate in a stop string": ("/v1/completions", {"model": "lm", "prompt": "hi", "stop": "\udfff"}, 422,
                                            "stop string 1: .*unpaired surrogate"),
    "seed beyond 64 bits": ("/v1/completions", {"model": "lm", "prompt": "hi", "seed": 2**64}, 422, "seed"),
    "seed below 64 bits": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "sample": True, "seed": -2**63 - 1}, 422,
                           r"^body\.seed: "),
    "temperature that overflows": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "sample": True,
                                                    "temperature": 5e-324}, 422,
                                   r"^body\.temperature: Input should be greater than or equal to"),
    "temperature that overflows a completion": ("/v1/completions", {"model": "lm", "prompt": "hi",
                                                                    "temperature": 1e-7}, 422,
                                                r"^temperature must be at least 1e-06 \(got 1e-07\)"),
}


@pytest.mark.parametrize("case", BAD_GENERATIONS, ids=list(BAD_GENERATIONS))
def test_bad_generation_requests_get_a_clear_4xx(api_server, case):
    import re

    path, body, status, pattern = BAD_GENERATIONS[case]
    with api_server.client() as client:
        response = client.post(path, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert response.status_code == status, response.text
    assert re.search(pattern, response.json()["detail"]), response.json()["detail"]
    assert api_server.get("/healthz").status_code == 200


def test_a_huge_n_is_refused_before_each_prompt_is_copied_n_times(api_server):
    """n has no upper bound in the schema. Counted only after n copies of each prompt were made,
    n = 10**9 blocked the event loop while the server's memory grew by gigabytes."""
    body = {"model": "lm", "prompt": "hi", "max_tokens": 2, "n": 10**9}
    with api_server.client() as client:
        try:
            response = client.post("/v1/completions", json=body, timeout=10)
        except httpx.TimeoutException:
            api_server.process.kill()  # before it takes the machine's memory
            pytest.fail("no answer to n = 10**9 within 10 s; the server was killed")
    assert response.status_code == 422, response.text
    assert "1000000000 completions asked for (n = 1000000000 for each prompt); this server makes at most 64 per " \
           "request (limits.max_texts)" in response.json()["detail"]
    assert api_server.alive() and api_server.get("/healthz").status_code == 200


def test_a_request_that_misses_its_own_deadline_gets_a_504_naming_it(api_server):
    """A timeout_s of 1 ms passes before any generation ends (a generate call alone takes
    milliseconds). The 504 names the request's field, not the server's limits.timeout_s, and the
    same request without it succeeds."""
    body = {"model": "lm", "prompts": ["hi"], "max_new_tokens": 2}
    response = post(api_server, "/v1/generate", {**body, "timeout_s": 0.001})
    assert response.status_code == 504, response.text
    assert "longer than 0.001 s (timeout_s)" in response.json()["detail"]
    assert post(api_server, "/v1/generate", body).status_code == 200


def test_many_long_stop_strings_are_refused_before_transformers_matches_them(api_server):
    """transformers' stop-string matching walks the vocabulary once per character of each stop
    string: 30 stop strings of 2,000 characters (one 64 KiB body) held the test model for over 40 s
    at about 1 GiB. At most 4 stop strings of at most 256 characters are taken, on both endpoints."""
    long_stops = [f"{i:02d}" + "x" * 1998 for i in range(30)]
    refused = {
        "30 long stops": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "max_new_tokens": 2, "stop": long_stops},
                          "body.stop: List should have at most 4 items after validation, not 30"),
        "4 long stops": ("/v1/generate", {"model": "lm", "prompts": ["hi"], "max_new_tokens": 2,
                                          "stop": long_stops[:4]},
                         "body.stop.0: String should have at most 256 characters"),
        "4 long OpenAI stops": ("/v1/completions", {"model": "lm", "prompt": "hi", "max_tokens": 2,
                                                    "stop": long_stops[:4]}, "stop strings are at most 256 characters"),
    }
    with api_server.client() as client:
        for name, (path, body, message) in refused.items():
            try:
                response = client.post(path, json=body, timeout=10)
            except httpx.TimeoutException:
                api_server.process.kill()  # before it takes the machine's memory
                pytest.fail(f"{name}: no answer within 10 s; the server was killed")
            assert response.status_code == 422, (name, response.text)
            assert message in response.json()["detail"], (name, response.json()["detail"])
        # The most that is allowed still generates.
        most = [f"{i}" + "y" * 255 for i in range(4)]
        response = client.post("/v1/generate", json={"model": "lm", "prompts": ["hi"], "max_new_tokens": 2,
                                                     "stop": most}, timeout=20)
        assert response.status_code == 200, response.text
    assert api_server.alive() and api_server.get("/healthz").status_code == 200
