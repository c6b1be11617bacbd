"""The service in a storm: 10x its capacity for 30 s, with its load shedding and without, in
one run on one model (the newest bento's, served from a bento of this checkout).

(1) capacity: the requests/s that 8 closed-loop clients get with long texts (10,000 characters,
~50 windows of the demo model each), with shedding switched off; (2) the storm: long-text
requests sent at 10x (1) whatever the answers' pace, for 30 s: accepted (200) and shed (503)
requests, other answers, p50/p99 of the accepted ones, peak resident memory of the server;
(3) recovery: when the storm ends its clients give up on what is unanswered, and from then a
short text every 100 ms until one is answered within a second. The same storm hits the same
bento with shedding switched off too (a budget of 10^9 texts, a 300 s deadline). Normal load:
32 clients, one short text per request, as in serving_benchmark.py, on the service and on the
bento built before the guard existed (--before, default: the oldest), against (a) in-process
batched inference, measured here too.

    .venv/bin/python benchmarks/overload.py [--before moderation-service:OLD] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from pathlib import Path

import bentoml
import torch
from rich.table import Table
from serving_benchmark import (  # benchmarks/, the script's own folder
    Load,
    closed_loop,
    console,
    free_port,
    in_process_throughput,
    post,
    resident_mib,
    server,
    session,
)

from components.data.synth import synthesize_corpus
from components.model.modeling import ModerationModel
from components.registry.bentos import build_bento, packaged_model_dir, serve_command
from serving.settings import (
    BENTO_NAME,
    SETTINGS_ENV_PREFIX,
    settings_env_name,
    threads_per_worker,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "runs" / "benchmarks" / "overload.json"
LONG_CHARS = 10_000
STORM_FACTOR = 10
RECOVERED_WITHIN_S = 1.0


def bodies() -> tuple[list[bytes], list[bytes]]:
    """Request bodies: one short corpus text each, and one text of LONG_CHARS characters."""
    corpus = synthesize_corpus()[1]["text"].sample(frac=1.0, random_state=0).tolist()
    short = [json.dumps({"input": text}).encode() for text in corpus]
    joined = " ".join(corpus)
    starts = range(0, len(joined) - LONG_CHARS, LONG_CHARS)
    long = [json.dumps({"input": joined[i : i + LONG_CHARS]}).encode() for i in starts]
    return short, long


async def storm(url: str, bodies: list[bytes], rate: float, seconds: float, sample_rss) -> dict:
    """Requests at ``rate`` per second for ``seconds``; then the storm's clients give up on what
    is unanswered (as the clients of the issue did) and short probes follow until one is
    answered within RECOVERED_WITHIN_S."""
    load, peak = Load(seconds), 0.0
    async with session(1024) as http:
        started = time.perf_counter()
        tasks, next_sample = [], started
        for i in range(int(rate * seconds)):
            due = started + i / rate
            if (now := time.perf_counter()) < due:
                await asyncio.sleep(due - now)
            if time.perf_counter() >= next_sample:
                peak, next_sample = max(peak, sample_rss()), next_sample + 1.0
            tasks.append(asyncio.create_task(post(http, url, bodies[i % len(bodies)], load)))
        abandoned = sum(not task.done() for task in tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    recovery = await recover(url, since=time.perf_counter())
    return {
        "sent": len(tasks),
        "accepted": len(load.latencies_ms),
        "shed": load.failures.get("503", 0),
        "other": {k: v for k, v in load.failures.items() if k != "503"},
        "abandoned": abandoned,
        "p50_ms": round(load.percentile(50), 1),
        "p99_ms": round(load.percentile(99), 1),
        "peak_rss_mib": round(max(peak, sample_rss()), 1),
        **recovery,
    }


async def recover(url: str, since: float) -> dict:
    """Its own connection, so that the storm's still open ones do not hold the probe back."""
    probe = json.dumps({"input": "is the service back?"}).encode()
    async with session(1) as http:
        return await probe_until_recovered(http, url, probe, since)


async def probe_until_recovered(http, url: str, probe: bytes, since: float) -> dict:
    while time.perf_counter() - since < 120:
        answer = Load(1.0)
        await post(http, url, probe, answer)
        if answer.latencies_ms and answer.latencies_ms[0] <= RECOVERED_WITHIN_S * 1000:
            return {
                "recovered_after_s": round(time.perf_counter() - since, 2),
                "probe_ms": round(answer.latencies_ms[0], 1),
            }
        await asyncio.sleep(0.1)
    return {"recovered_after_s": None, "probe_ms": None}


def serve(bento: str, name: str, settings: dict[str, str] | None = None):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_ENV_PREFIX)}
    env.update(settings or {})
    log = RESULTS.parent / f"overload-{name}.log"
    return server(serve_command(bento, port), port, env, log), f"http://127.0.0.1:{port}/moderate"


def normal_load(url: str, short: list[bytes], seconds: float) -> dict:
    asyncio.run(closed_loop(url, short, 32, 5.0))  # warm-up
    return asyncio.run(closed_loop(url, short, 32, seconds)).summary()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", help="a bento built before the guard (default: the oldest)")
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    bentos = sorted(bentoml.bentos.list(BENTO_NAME), key=lambda b: b.creation_time)
    if not bentos:
        raise SystemExit("no moderation-service bento: run `make demo` first")
    before = args.before or str(bentos[0].tag)
    model_tag = str(bentoml.bentos.get(before).info.all_models[0].tag)
    console.print(f"building a bento of this checkout around {model_tag} ...")
    bento = build_bento(model_tag)
    short, long = bodies()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)

    console.print("(a) in-process batched inference ...")
    model = ModerationModel.load(packaged_model_dir(bento), device="cpu")
    torch.set_num_threads(threads_per_worker(1))
    limit = max(in_process_throughput(model, [json.loads(b)["input"] for b in short]).values())
    del model

    results = {"bento": bento, "before": before, "in_process_texts_per_s": round(limit, 1)}
    # Capacity without admission: closed-loop clients that do not wait out a 503's Retry-After
    # would spin on 503s, and their CPU would be taken for the service's.
    unshed = {settings_env_name("max_texts_in_flight"): str(10**9)}
    unshed[settings_env_name("request_timeout_s")] = "300"
    managed, url = serve(bento, "unshed", unshed)
    with managed as process:
        capacity = asyncio.run(closed_loop(url, long, 8, args.seconds / 2)).throughput
        rate = STORM_FACTOR * capacity
        console.print(f"capacity {capacity:.2f} long requests/s; storms at {rate:.1f}/s ...")
        results |= {"capacity_per_s": round(capacity, 2), "storm_rate_per_s": round(rate, 1)}
        results["storm_unshed"] = asyncio.run(storm(url, long, rate, args.seconds, rss_of(process)))
    managed, url = serve(bento, "guarded")
    with managed as process:
        results["normal"] = normal_load(url, short, args.seconds)
        results["storm"] = asyncio.run(storm(url, long, rate, args.seconds, rss_of(process)))
    managed, url = serve(before, "before")
    with managed:
        results["normal_before"] = normal_load(url, short, args.seconds)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    report(results)


def rss_of(process):
    return lambda: resident_mib(process)


def report(results: dict) -> None:
    table = Table(
        title=f"A storm of {STORM_FACTOR}x capacity ({LONG_CHARS:,}-character texts), "
        f"{results['storm_rate_per_s']} requests/s"
    )
    table.add_column("")
    for column in ("shedding (defaults)", "no shedding"):
        table.add_column(column, justify="right")
    storms = (results["storm"], results["storm_unshed"])
    for label, key in (
        ("sent", "sent"),
        ("accepted (200)", "accepted"),
        ("shed (503)", "shed"),
        ("other answers", "other"),
        ("unanswered when the storm ended", "abandoned"),
        ("p50 ms of accepted", "p50_ms"),
        ("p99 ms of accepted", "p99_ms"),
        ("peak RSS MiB", "peak_rss_mib"),
        ("a short text answered within 1 s, s after the storm", "recovered_after_s"),
        ("that text's latency, ms", "probe_ms"),
    ):
        table.add_row(label, *(str(s[key] or "-") for s in storms))
    console.print(table)
    now, before = results["normal"], results["normal_before"]
    limit = results["in_process_texts_per_s"]
    console.print(
        f"normal load, requests/s: {now['requests_per_s']} (p99 {now['p99_ms']} ms) against "
        f"{before['requests_per_s']} (p99 {before['p99_ms']} ms) before the guard; "
        f"(a) in-process {limit} texts/s: (b)/(a) {now['requests_per_s'] / limit:.2f} now, "
        f"{before['requests_per_s'] / limit:.2f} before"
    )
    console.print(f"results: {RESULTS}")


if __name__ == "__main__":
    main()
