"""Benchmark: ``whet serve`` under load, with and without batching, against offline prediction.

    .venv/bin/python benchmarks/serve_load.py                                   # trains the demo intent model first (~1 min)
    .venv/bin/python benchmarks/serve_load.py --model runs/demo-intents/model --duration 10

What it does, in order:

1. The model: ``--model DIR`` (a directory saved by ``whet train``), or the builtin MiniLM
   fine-tuned on the bundled intent set (``whet train configs/demo-intents.yaml`` into a temp dir).
2. The texts: the 400 customer-service queries of ``demo/intents`` (train and dev), one text per
   request (``--texts-per-request``).
3. For batching on, then off (``--no-batching``): start ``whet serve MODEL`` as a subprocess on a
   free port of 127.0.0.1 with the default settings otherwise (access log on), wait for /readyz,
   warm up, then for each of 1, 8, 32 and 128 concurrent clients run a closed loop for
   ``--duration`` seconds: every client sends its next request as soon as the last one returns.
   Each client is one keep-alive HTTP/1.1 connection of a minimal asyncio client (``Connection``:
   a general-purpose client such as httpx costs several times the CPU per request, taken from
   the server on the same cores). Reported: requests/s (completed requests over the wall time of
   the level), latency p50/p95/p99 and errors (any answer but a 200 with one prediction per text).
4. Offline, before the first server starts and after the last one stops, each time in a fresh
   process: ``whet.load(MODEL).predict_stream`` over the same texts (what ``whet predict --input``
   runs; batch size 64, length-sorted chunks) for ``--duration`` seconds: texts/s. The faster of
   the two is the reference.

5. The model-only ceilings, in a fresh process after the servers (``--ceiling-rounds``, 8 by
   default): ``predict`` on random batches of the mean batch size the server ran at 32 clients,
   against ``predict_stream`` (offline) and against single texts (batching off), interleaved in
   short slices. The server runs these same calls and adds its own work per request, so these
   are the ratios to hold the server's against. They are not limits: with batching off the
   server's per-request work adds to every single-text call, so its on / off ratio can exceed
   the model's, and each ratio is a median over short slices.

6. ``--pairs N`` measures only one client, the level where batching can only cost, on N pairs of
   servers (batching on and off, in alternating order: on-off, off-on, ...), each started,
   warmed up and measured as above. A single on / off comparison at one client is mostly the
   difference between two server processes' model speed (the same single-text calls took 9.7 to
   16 ms on average in different server processes on a 2-core VM, in either mode), which the
   pairs average out. Per
   server it also reports the mean model call (from the server's ``whet_batch_duration_seconds``)
   and the rest of each request's time (HTTP, the event loop, the queue): with one client each
   request is one model call, so the rest is what batching on and off can differ by.

``--threads N`` gives the server and the offline run N torch threads (``OMP_NUM_THREADS``): on a
machine shared with other busy processes, two threads per process stall at every operation while
one of them waits for a core, and one thread is faster.

Figures: the table (with the mean texts per model call, from the server's metrics, and the CPU the
server and the load generator kept busy, in cores; the RESULT line adds each level's mean model
call, ``model_call_ms``), the ratio
batching on / off at 32 clients, the ratio server / offline (texts/s, at 32 clients and at the
best level), then one JSON line starting with ``RESULT``. The load generator runs on the same
machine as the server and takes CPU from it: on a 2-core machine the server/offline ratio is a
lower bound.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import argparse
import asyncio
import json
import platform
import random
import resource
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

# Reused from the training benchmark next to this file.
from train_ner import print_table

ROOT = Path(__file__).resolve().parent.parent
LEVELS = (1, 8, 32, 128)
TLS = ssl.create_default_context()  # unused over http://; built once instead of once per client


def demo_texts() -> list[str]:
    texts = []
    for name in ("train.jsonl", "dev.jsonl"):
        with open(ROOT / "demo" / "intents" / name, encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle if line.strip()]
    return texts


def train_demo_model(workdir: Path) -> Path:
    print("training the demo intent model (configs/demo-intents.yaml) ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "whet", "train", str(ROOT / "configs" / "demo-intents.yaml"),
                    "--output", str(workdir / "run")], check=True, stdout=subprocess.DEVNULL)
    return workdir / "run" / "model"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, batching: bool, log: Path, threads: int | None, settings: list[str],
                 server_env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "whet", "serve", str(model), "--port", str(port)] + ["--no-batching"] * (not batching)
    command += [f"--set={setting}" for setting in settings]
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {}), **server_env}
    process = subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 300
    with httpx.Client(base_url=url, verify=TLS) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the server exited:\n{log.read_text()[-2000:]}")
            try:
                if client.get("/readyz").status_code == 200:
                    return process, url
            except httpx.TransportError:
                pass
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the server did not get ready in 300 s")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()


def process_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) a process has used so far; None where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def batch_totals(url: str) -> tuple[float, float, float]:
    """(model calls, texts, seconds in model calls) so far, from the server's batch histograms."""
    text = httpx.get(url + "/metrics", verify=TLS).text
    def total(name: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name + "{"))
    return total("whet_batch_size_count"), total("whet_batch_size_sum"), total("whet_batch_duration_seconds_sum")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


class Connection:
    """One keep-alive HTTP/1.1 connection over asyncio streams: the load generator's client.

    It writes each request in one call and reads the answer by its Content-Length, with far
    less CPU per request than httpx (one ``httpx.AsyncClient`` per client), CPU that the server
    on the same cores would otherwise lose.
    """

    def __init__(self, url: str) -> None:
        host_port = url.split("://", 1)[1]
        self.host, port = host_port.rsplit(":", 1)
        self.port = int(port)
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post_json(self, path: str, body: dict) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        payload = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: {self.host}\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(payload)}\r\n\r\n".encode() + payload)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.reader = self.writer = None


async def run_level(url: str, texts: list[str], clients: int, duration: float, texts_per_request: int) -> dict:
    """``clients`` closed-loop clients for ``duration`` seconds; an answer counts only if it is a
    200 with one prediction per text sent."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + duration

    async def client_loop(rng: random.Random) -> None:
        nonlocal errors
        connection = Connection(url)
        try:
            while time.perf_counter() < deadline:
                inputs = [rng.choice(texts) for _ in range(texts_per_request)]
                sent = time.perf_counter()
                try:
                    status, body = await connection.post_json("/v1/predict", {"inputs": inputs})
                    ok = status == 200 and len(json.loads(body)["predictions"]) == len(inputs)
                except (OSError, asyncio.IncompleteReadError, ValueError, KeyError):
                    await connection.close()
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(random.Random(n)) for n in range(clients)))
    elapsed = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "errors": errors, "seconds": round(elapsed, 2),
            "requests_per_s": round(len(latencies) / elapsed, 1),
            "texts_per_s": round(len(latencies) * texts_per_request / elapsed, 1),
            "p50_ms": round(percentile(latencies, 0.50) * 1000, 1), "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
            "p99_ms": round(percentile(latencies, 0.99) * 1000, 1)}


def measure_server(model: Path, texts: list[str], batching: bool, levels: tuple[int, ...], duration: float,
                   texts_per_request: int, workdir: Path, threads: int | None, settings: list[str],
                   server_env: dict[str, str]) -> list[dict]:
    name = "on" if batching else "off"
    process, url = start_server(model, batching, workdir / f"server-batching-{name}.log", threads, settings, server_env)
    try:
        asyncio.run(run_level(url, texts, 4, 2.0, texts_per_request))  # warm-up
        results = []
        for clients in levels:
            server_cpu, client_cpu, (calls, batched, busy) = process_cpu_s(process.pid), own_cpu_s(), batch_totals(url)
            result = asyncio.run(run_level(url, texts, clients, duration, texts_per_request))
            calls_after, batched_after, busy_after = batch_totals(url)
            result["mean_batch"] = round((batched_after - batched) / max(1.0, calls_after - calls), 1)
            result["model_call_ms"] = round(1000 * (busy_after - busy) / max(1.0, calls_after - calls), 2)
            # CPU both sides used, as a share of the level's wall time (2.0 = two cores busy).
            result["client_cpu_share"] = round((own_cpu_s() - client_cpu) / result["seconds"], 2)
            if server_cpu is not None:
                result["server_cpu_share"] = round((process_cpu_s(process.pid) - server_cpu) / result["seconds"], 2)
            print(f"batching {name}, {clients} clients: {result}", file=sys.stderr, flush=True)
            results.append({"batching": batching, **result})
        return results
    finally:
        stop_server(process)


def measure_pairs(model: Path, texts: list[str], pairs: int, duration: float, texts_per_request: int, workdir: Path,
                  threads: int | None, settings: list[str], server_env: dict[str, str]) -> list[dict]:
    """One client on ``pairs`` pairs of servers, batching on and off in alternating order."""
    rows = []
    for pair in range(pairs):
        for batching in ((True, False) if pair % 2 == 0 else (False, True)):
            [row] = measure_server(model, texts, batching, (1,), duration, texts_per_request, workdir, threads,
                                   settings, server_env)
            # One client: every request is one model call, and the rest of its time is outside it.
            row["outside_model_call_ms"] = round(1000 / row["requests_per_s"] - row["model_call_ms"], 2)
            rows.append({"pair": pair + 1, **row})
    return rows


def print_pairs(rows: list[dict], duration: float) -> dict:
    """The pairs' table and summary; the summary's figures."""
    print_table(f"whet serve, 1 client, {duration:g} s per server, pairs of servers in alternating order",
                ["pair", "batching", "requests/s", "p50 ms", "model call ms", "outside it ms"],
                [[str(r["pair"]), "on" if r["batching"] else "off", f"{r['requests_per_s']:.1f}", f"{r['p50_ms']:.1f}",
                  f"{r['model_call_ms']:.2f}", f"{r['outside_model_call_ms']:.2f}"] for r in rows])
    rate = {(r["pair"], r["batching"]): r["requests_per_s"] for r in rows}
    ratios = sorted(rate[pair, True] / rate[pair, False] for pair in {r["pair"] for r in rows})
    median = statistics.median
    summary = {"on_over_off_median": round(median(ratios), 3), "on_over_off_range": [round(ratios[0], 3), round(ratios[-1], 3)],
               "requests_per_s_median": {mode: median([r["requests_per_s"] for r in rows if r["batching"] == on])
                                         for mode, on in (("on", True), ("off", False))},
               "outside_model_call_ms_median": {mode: median([r["outside_model_call_ms"] for r in rows if r["batching"] == on])
                                                for mode, on in (("on", True), ("off", False))}}
    print(f"\n1 client, batching on / off: {summary['on_over_off_median']:.1%} (median of {len(ratios)} pairs; range "
          f"{ratios[0]:.1%}-{ratios[-1]:.1%}); requests/s, median: on {summary['requests_per_s_median']['on']}, "
          f"off {summary['requests_per_s_median']['off']}")
    print(f"time outside the model call per request, median: on {summary['outside_model_call_ms_median']['on']:.2f} ms, "
          f"off {summary['outside_model_call_ms_median']['off']:.2f} ms")
    return summary


def measure_offline(model: Path, texts: list[str], duration: float, threads: int | None) -> dict:
    import torch

    from whet import load

    if threads:
        torch.set_num_threads(threads)
    predictor = load(str(model))
    predictor.predict(texts[:64])  # warm-up
    done, started, cpu = 0, time.perf_counter(), own_cpu_s()
    while time.perf_counter() - started < duration:
        for _ in predictor.predict_stream(texts, batch_size=64):
            done += 1
    elapsed = time.perf_counter() - started
    return {"texts": done, "seconds": round(elapsed, 2), "texts_per_s": round(done / elapsed, 1),
            "cpu_share": round((own_cpu_s() - cpu) / elapsed, 2)}


def measure_offline_process(model: Path, duration: float, threads: int | None) -> dict:
    """``measure_offline`` in a fresh Python process (torch's threads as a `whet predict` run has them)."""
    result = run_in_process(["--offline-only", "--model", str(model), "--duration", str(duration)], threads)
    print(f"offline: {result}", file=sys.stderr, flush=True)
    return result


def run_in_process(arguments: list[str], threads: int | None) -> dict:
    """This script with ``arguments`` in a fresh Python process; its last output line, as JSON."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    output = subprocess.run([sys.executable, __file__, *arguments], capture_output=True, text=True, check=True,
                            env=env).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure_ceilings(model: Path, texts: list[str], batch: int, rounds: int, threads: int | None) -> dict:
    """What the model alone allows at the server's batch shapes, without HTTP or a server.

    Interleaved, ``rounds`` times: ``predict_stream`` over the texts (offline), ``predict`` on
    random batches of ``batch`` texts (what the server runs at 32 clients) and on single texts
    (what it runs with batching off). The medians of the per-round ratios are what the server's
    ratios compare with: the server runs the same calls and adds its own work per request.
    Interleaving in short slices keeps the VM's drift out of the ratios.
    """
    import statistics

    import torch

    from whet import load

    if threads:
        torch.set_num_threads(threads)
    predictor = load(str(model))
    rng = random.Random(0)

    def rate(run: Any, count: int) -> float:
        started = time.perf_counter()
        run()
        return count / (time.perf_counter() - started)

    def random_batches(size: int, calls: int) -> float:
        return rate(lambda: [predictor.predict(rng.sample(texts, size), batch_size=64) for _ in range(calls)],
                    size * calls)

    random_batches(1, 10)  # warm-up
    over_offline, over_single = [], []
    for _ in range(rounds):
        offline = rate(lambda: list(predictor.predict_stream(texts, batch_size=64)), len(texts))
        batched = random_batches(batch, max(1, 400 // batch))
        single = random_batches(1, 40)
        over_offline.append(batched / offline)
        over_single.append(batched / single)
    return {"batch": batch, "rounds": rounds,
            "server_over_offline": round(statistics.median(over_offline), 3),
            "server_over_offline_range": [round(min(over_offline), 3), round(max(over_offline), 3)],
            "on_over_off": round(statistics.median(over_single), 2),
            "on_over_off_range": [round(min(over_single), 2), round(max(over_single), 2)]}


def main() -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=None, help="A model directory saved by whet train "
                                                                 "(default: train the demo intent model).")
    parser.add_argument("--duration", type=float, default=10.0, help="Seconds per concurrency level (default 10).")
    parser.add_argument("--texts-per-request", type=int, default=1, help="Texts in each request (default 1).")
    parser.add_argument("--threads", type=int, default=None, help="torch threads of the server and of the offline run "
                                                                  "(OMP_NUM_THREADS; default: torch's choice).")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="A serve setting for both servers (whet serve --set), e.g. batching.max_wait_ms=10.")
    parser.add_argument("--server-env", action="append", default=[], metavar="NAME=VALUE",
                        help="An environment variable for both servers, e.g. OMP_WAIT_POLICY=ACTIVE.")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)),
                        help="Concurrent clients to measure, comma-separated (default 1,8,32,128; 32 is needed for the ratios).")
    parser.add_argument("--ceiling-rounds", type=int, default=8,
                        help="Interleaved rounds of the model-only ceiling measurement (0 skips it; default 8).")
    parser.add_argument("--pairs", type=int, default=None, metavar="N",
                        help="Only 1 client, on N pairs of servers (batching on and off, alternating order); "
                             "no offline run or ceilings.")
    parser.add_argument("--offline-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--ceilings-only", type=int, default=None, metavar="BATCH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    levels = tuple(int(n) for n in args.levels.split(","))
    if 32 not in levels:
        parser.error("--levels must include 32: the ratios are taken there")
    server_env = dict(item.split("=", 1) for item in args.server_env)

    texts = demo_texts()
    if args.offline_only:
        print(json.dumps(measure_offline(args.model, texts, args.duration, args.threads)))
        return 0
    if args.ceilings_only:
        print(json.dumps(measure_ceilings(args.model, texts, args.ceilings_only, args.ceiling_rounds, args.threads)))
        return 0
    with tempfile.TemporaryDirectory(prefix="whet-serve-load-") as tmp:
        workdir = Path(tmp)
        model = args.model or train_demo_model(workdir)
        if args.pairs:
            rows = measure_pairs(model, texts, args.pairs, args.duration, args.texts_per_request, workdir, args.threads,
                                 args.set, server_env)
            summary = print_pairs(rows, args.duration)
            print("RESULT " + json.dumps({"command": " ".join([".venv/bin/python", "benchmarks/serve_load.py", *sys.argv[1:]]),
                                          "model": str(model), "duration_s": args.duration, "settings": args.set,
                                          "server_env": server_env, "pairs": rows, "summary": summary,
                                          "wall_s": round(time.perf_counter() - started, 1), "nproc": os.cpu_count(),
                                          "python": platform.python_version()}))
            return 0
        # Offline before and after the servers, in a process of its own like `whet predict`; the
        # faster of the two is the reference (other load on the machine varies over minutes).
        offline_runs = [measure_offline_process(model, args.duration, args.threads)]
        rows = []
        for batching in (True, False):
            rows += measure_server(model, texts, batching, levels, args.duration, args.texts_per_request, workdir,
                                   args.threads, args.set, server_env)
        offline_runs.append(measure_offline_process(model, args.duration, args.threads))
        at32 = {r["batching"]: r for r in rows if r["clients"] == 32}
        ceilings = None
        if args.ceiling_rounds:
            batch = max(1, round(at32[True]["mean_batch"]))
            ceilings = run_in_process(["--ceilings-only", str(batch), "--ceiling-rounds", str(args.ceiling_rounds),
                                       "--model", str(model)], args.threads)
            print(f"ceilings: {ceilings}", file=sys.stderr, flush=True)
    offline = max(offline_runs, key=lambda r: r["texts_per_s"])

    best = max((r for r in rows if r["batching"]), key=lambda r: r["texts_per_s"])
    ratios = {"batching_on_over_off_at_32": round(at32[True]["requests_per_s"] / at32[False]["requests_per_s"], 2),
              "server_over_offline_at_32": round(at32[True]["texts_per_s"] / offline["texts_per_s"], 3),
              "server_over_offline_best": round(best["texts_per_s"] / offline["texts_per_s"], 3),
              "best_clients": best["clients"]}
    print_table(f"whet serve, {args.texts_per_request} text(s) per request, {args.duration:g} s per level",
                ["batching", "clients", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors", "mean batch", "server CPU",
                 "client CPU"],
                [["on" if r["batching"] else "off", str(r["clients"]), f"{r['requests_per_s']:.1f}", f"{r['p50_ms']:.1f}",
                  f"{r['p95_ms']:.1f}", f"{r['p99_ms']:.1f}", str(r["errors"]), str(r["mean_batch"]),
                  str(r.get("server_cpu_share", "?")), str(r["client_cpu_share"])] for r in rows])
    print("(CPU: cores kept busy on average, by the server process and by this load generator)")
    print(f"\noffline predict_stream: {offline['texts_per_s']:.1f} texts/s (CPU {offline['cpu_share']}; before and after "
          f"the servers: {', '.join(str(r['texts_per_s']) for r in offline_runs)})")
    print(f"batching on / off at 32 clients: {ratios['batching_on_over_off_at_32']:.2f}x")
    print(f"server / offline: {ratios['server_over_offline_at_32']:.1%} at 32 clients, "
          f"{ratios['server_over_offline_best']:.1%} at {best['clients']} clients (best)")
    if ceilings:
        print(f"the model alone at the server's shapes (random batches of {ceilings['batch']} texts, median of "
              f"{ceilings['rounds']} interleaved rounds): {ceilings['server_over_offline']:.1%} of offline "
              f"(range {ceilings['server_over_offline_range'][0]:.0%}-{ceilings['server_over_offline_range'][1]:.0%}), "
              f"{ceilings['on_over_off']:.2f}x single texts (range {ceilings['on_over_off_range'][0]:.2f}-"
              f"{ceilings['on_over_off_range'][1]:.2f}x): the same calls in one process, without HTTP")
    import torch

    result = {"command": " ".join([".venv/bin/python", "benchmarks/serve_load.py", *sys.argv[1:]]),
              "model": str(args.model) if args.model else "demo-intents (trained by the script)",
              "texts": len(texts), "duration_s": args.duration, "texts_per_request": args.texts_per_request,
              "threads": args.threads, "settings": args.set, "server_env": server_env,
              "levels": rows, "offline": offline, "offline_runs": offline_runs, "ratios": ratios, "ceilings": ceilings, "wall_s": round(time.perf_counter() - started, 1),
              "nproc": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
              "python": platform.python_version()}
    print("RESULT " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
