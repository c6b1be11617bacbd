"""The moderation service under load, against its own limit and against a naive FastAPI app.

In one run, on one packaged model (the newest moderation-service bento, or --bento):
  (a) the limit: in-process batched inference, texts/s at the best batch size;
  (b) `bentoml serve` of the bento: concurrent clients, one text per request;
  (c) the naive alternative: FastAPI calling the model once per request, same load;
  int8: in-process throughput and the accuracy change of dynamic int8 quantisation;
  soak: the service at a fraction of (b)'s throughput for minutes: errors and resident memory.
Texts are the seed corpus's (deterministic, median 17 tokens; --join 4 makes texts of ~64
tokens); int8 accuracy is on the corpus's test split (the demo's split).
Targets: (b) >= 0.8 x (a); (b) >= 2 x (c) with a lower p99; a soak without errors, memory flat.

    .venv/bin/python benchmarks/serving_benchmark.py [--bento TAG] [--clients 32] [--seconds 30]
        [--backend onnx|torch]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import bentoml
import numpy as np
import psutil
import torch
from rich.console import Console
from rich.table import Table

from components.config import SplitConfig
from components.data.split import split_dataset, split_frames
from components.data.synth import synthesize_corpus
from components.errors import ModpipeError
from components.model.metrics import compute_metrics, label_matrix
from components.model.modeling import ModerationModel
from components.registry.bentos import packaged_model_dir, resolve_bento, serve_command
from serving.settings import (
    BENTO_NAME,
    SERVING_ARGUMENT,
    SETTINGS_ENV_PREFIX,
    resolve_settings,
    settings_env_name,
    threads_per_worker,
)

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "runs" / "benchmarks" / "serving.json"
BATCH_SIZES = (1, 8, 16, 32, 64, 128)
IN_PROCESS_TEXTS = 1024  # per batch size: about 2 s each, so one pause does not decide it
READY_TIMEOUT_S = 180
RSS_FLAT_TOLERANCE = 0.05  # the soak's last quarter may hold at most 5% more than its first
console = Console(highlight=False)


@dataclass
class Load:
    """What a load generator saw: completed requests, their latencies and any failures."""

    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)

    @property
    def throughput(self) -> float:
        return len(self.latencies_ms) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies_ms, q)) if self.latencies_ms else float("nan")

    def summary(self) -> dict:
        return {
            "requests_per_s": round(self.throughput, 1),
            "ok": len(self.latencies_ms),
            "failures": dict(self.failures),
            **{f"p{q}_ms": round(self.percentile(q), 1) for q in (50, 95, 99)},
        }


async def post(session: aiohttp.ClientSession, url: str, body: bytes, load: Load) -> None:
    started = time.perf_counter()
    try:
        async with session.post(url, data=body, headers={"content-type": "application/json"}) as r:
            await r.read()
            status = r.status
    except (TimeoutError, aiohttp.ClientError) as err:
        status = type(err).__name__
    if status == 200:
        load.latencies_ms.append((time.perf_counter() - started) * 1000)
    else:
        load.failures[str(status)] += 1


def session(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=120),
    )


async def closed_loop(url: str, bodies: list[bytes], clients: int, seconds: float) -> Load:
    """``clients`` clients, each sending its next request when the last one is answered."""
    load = Load(seconds)
    deadline = time.perf_counter() + seconds

    async def client(first: int) -> None:
        for i in range(first, 10**9, clients):
            if time.perf_counter() >= deadline:
                return
            await post(http, url, bodies[i % len(bodies)], load)

    async with session(clients) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(k) for k in range(clients)))
        load.seconds = time.perf_counter() - started
    return load


async def open_loop(
    url: str, bodies: list[bytes], rate: float, seconds: float, sample_rss, every_s: float = 5
) -> tuple[Load, list[tuple[float, float]]]:
    """Requests at a fixed rate whatever the answers' pace; resident memory every ``every_s``."""
    load, rss = Load(seconds), []
    async with session(256) as http:
        started = time.perf_counter()
        tasks = []
        for i in range(int(rate * seconds)):
            due = started + i / rate
            if (now := time.perf_counter()) < due:
                await asyncio.sleep(due - now)
                now = time.perf_counter()
            if not rss or now - started - rss[-1][0] >= every_s:
                rss.append((now - started, sample_rss()))
                console.print(
                    f"  soak {rss[-1][0]:5.0f} s: {len(load.latencies_ms):6d} ok, "
                    f"{sum(load.failures.values())} failed, RSS {rss[-1][1]:.0f} MiB"
                )
            tasks.append(asyncio.create_task(post(http, url, bodies[i % len(bodies)], load)))
        await asyncio.gather(*tasks)
        rss.append((time.perf_counter() - started, sample_rss()))
    return load, rss


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def server(command: list[str], port: int, env: dict, log: Path):
    """A server subprocess in its own session, stopped with its workers by process group."""
    with open(log, "w") as log_file:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, log)
        wait_until_idle(process)
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    import httpx

    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited early:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(httpx.TransportError):
            # /readyz on BentoML; the naive app has no such route and answers 404 once up
            if httpx.get(f"{url}/readyz", timeout=2).status_code in (200, 404):
                return
        time.sleep(0.5)
    raise SystemExit(f"server not up after {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")


def process_tree(process: subprocess.Popen) -> list[psutil.Process]:
    root = psutil.Process(process.pid)
    return [root, *root.children(recursive=True)]


def wait_until_idle(process: subprocess.Popen, timeout_s: float = 120) -> None:
    """Until every worker has loaded its model: one worker answers /readyz while another still
    loads, and the clients' keep-alive connections, all accepted by the first, would stay there."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        members = process_tree(process)
        for member in members:
            member.cpu_percent()  # starts the measurement
        time.sleep(1.0)
        busy = 0.0
        for member in members:
            with contextlib.suppress(psutil.NoSuchProcess):
                busy += member.cpu_percent()
        if busy < 10:
            return


def resident_mib(process: subprocess.Popen) -> float:
    """Resident memory of a server and every process under it."""
    total = 0
    for member in process_tree(process):
        with contextlib.suppress(psutil.NoSuchProcess):
            total += member.memory_info().rss
    return total / 2**20


def seconds_in_batches(model: ModerationModel, texts: list[str], batch_size: int) -> float:
    """Seconds to score ``texts`` with one call of the service's scoring code per batch, in
    arrival order, each batch padded to its longest text, as in the service."""
    started = time.perf_counter()
    for start in range(0, len(texts), batch_size):
        model.predict_scores(texts[start : start + batch_size], batch_size=batch_size)
    return time.perf_counter() - started


def in_process_throughput(model: ModerationModel, texts: list[str]) -> dict[int, float]:
    """Texts per second at each batch size."""
    model.predict_scores(texts[:64])  # warm-up
    rates = {}
    for batch_size in BATCH_SIZES:
        sample = texts[: max(IN_PROCESS_TEXTS, batch_size * 4)]
        rates[batch_size] = len(sample) / seconds_in_batches(model, sample, batch_size)
    return rates


def timed_worker(
    model_dir: Path, backend: str, texts: list[str], batch_size: int, threads: int, barrier
):
    """Seconds one process takes to score ``texts`` in batches, started with its siblings."""
    torch.set_num_threads(threads)
    model = ModerationModel.load(model_dir, device="cpu", backend=backend, threads=threads)
    model.predict_scores(texts[:64])  # warm-up
    barrier.wait()
    return seconds_in_batches(model, texts, batch_size)


def multi_process_throughput(
    model_dir: Path, backend: str, texts: list[str], batch_size: int, processes: int
):
    """Texts per second of ``processes`` processes sharing the CPUs, as the service's workers."""
    texts = texts[:IN_PROCESS_TEXTS]
    threads = threads_per_worker(processes)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, context.Pool(processes) as pool:
        barrier = manager.Barrier(processes)
        job = (model_dir, backend, texts, batch_size, threads, barrier)
        seconds = pool.starmap(timed_worker, [job] * processes)
    return processes * len(texts) / max(seconds)


def quantisation_change(model: ModerationModel, quantized: ModerationModel) -> dict | None:
    """fp32 against int8 on the seed corpus's test split, at the model's thresholds; None for
    a model of other categories."""
    split = SplitConfig()
    frame = split_dataset(
        synthesize_corpus()[1], split.validation_fraction, split.test_fraction, split.seed
    )
    test = split_frames(frame)["test"]
    try:
        labels = label_matrix(test, model.categories)
    except ModpipeError:
        return None
    texts = test["text"].tolist()
    before, after = model.predict_scores(texts), quantized.predict_scores(texts)
    cutoffs = np.array([model.thresholds[c] for c in model.categories])
    metrics = [
        compute_metrics(labels, scores, model.categories, model.thresholds)["macro"]
        for scores in (before, after)
    ]
    return {
        "rows": len(texts),
        "max_abs_score_change": float(np.abs(before - after).max()),
        "flag_agreement": float(((before >= cutoffs) == (after >= cutoffs)).mean()),
        **{
            f"macro_{name}": {"fp32": metrics[0][name], "int8": metrics[1][name]}
            for name in ("pr_auc", "f1", "recall", "precision")
        },
    }


def served(command, port, env, log, bodies, clients, seconds, warmup_s=5.0) -> Load:
    with server(command, port, env, log):
        url = f"http://127.0.0.1:{port}/moderate"
        asyncio.run(closed_loop(url, bodies, clients, warmup_s))
        return asyncio.run(closed_loop(url, bodies, clients, seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bento", default=f"{BENTO_NAME}:latest", help="bento tag (default: the newest)"
    )
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0, help="each load measurement")
    parser.add_argument("--soak-seconds", type=float, default=120.0)
    parser.add_argument("--soak-load", type=float, default=0.8, help="fraction of (b)")
    parser.add_argument("--warmup-seconds", type=float, default=120.0, help="before the soak")
    parser.add_argument(
        "--join", type=int, default=1, help="corpus texts per request text (4: ~64 tokens)"
    )
    parser.add_argument(
        "--backend", choices=("onnx", "torch"), default="onnx", help="in-process and served"
    )
    args = parser.parse_args()

    bento = resolve_bento(args.bento)
    model_dir = packaged_model_dir(bento)
    threads = threads_per_worker(1)
    model = ModerationModel.load(model_dir, device="cpu", backend=args.backend, threads=threads)
    console.print(f"bento {bento}: {model.base_model}, categories {', '.join(model.categories)}")
    torch.set_num_threads(threads_per_worker(1))
    shuffled = synthesize_corpus()[1]["text"].sample(frac=1.0, random_state=0).tolist()
    corpus = [" ".join(shuffled[i : i + args.join]) for i in range(0, len(shuffled), args.join)]
    bodies = [json.dumps({"input": text}).encode() for text in corpus]
    logs = RESULTS.parent
    logs.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_ENV_PREFIX)}
    env[settings_env_name("backend")] = args.backend

    console.print("(a) in-process batched inference ...")
    fp32 = in_process_throughput(model, corpus)
    quantized = ModerationModel.load(
        model_dir, device="cpu", backend=args.backend, int8=True, threads=threads
    )
    int8 = in_process_throughput(quantized, corpus)
    accuracy = quantisation_change(model, quantized)
    del model, quantized  # the servers below need the cores and the memory
    workers = resolve_settings(bentoml.bentos.get(bento).info.args.get(SERVING_ARGUMENT)).workers
    per_worker = multi_process_throughput(
        model_dir, args.backend, corpus, max(fp32, key=fp32.get), workers
    )

    console.print(f"(b) bentoml serve, {args.clients} clients, {args.seconds:.0f} s ...")
    port = free_port()
    bento_command = serve_command(bento, port)
    service = served(
        bento_command, port, env, logs / "serving-bentoml.log", bodies, args.clients, args.seconds
    )

    console.print(f"(c) naive FastAPI app, {args.clients} clients, {args.seconds:.0f} s ...")
    naive_port = free_port()
    naive_command = [
        sys.executable,
        "-m",
        "uvicorn",
        "benchmarks.naive_fastapi_app:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(naive_port),
        "--log-level",
        "warning",
    ]
    naive = served(
        naive_command,
        naive_port,
        {**env, "MODPIPE_MODEL_DIR": str(model_dir)},
        logs / "serving-naive.log",
        bodies,
        args.clients,
        args.seconds,
    )

    rate = args.soak_load * service.throughput
    console.print(
        f"soak: {rate:.0f} requests/s ({args.soak_load:.0%} of (b)), {args.soak_seconds:.0f} s ..."
    )
    with server(bento_command, port, env, logs / "serving-soak.log") as process:
        url = f"http://127.0.0.1:{port}/moderate"
        # Warm-up at twice the clients: under load memory grows for 2-3 minutes as batches of
        # new sizes arrive, then stays flat (a 6-minute soak: BENCHMARKS.md).
        asyncio.run(closed_loop(url, bodies, 2 * args.clients, args.warmup_seconds))
        soak, rss = asyncio.run(
            open_loop(url, bodies, rate, args.soak_seconds, lambda: resident_mib(process))
        )

    report(args, bento, fp32, int8, (workers, per_worker), accuracy, service, naive, soak, rss)


def rss_growth(rss: list[tuple[float, float]]) -> float:
    """The median resident memory of the soak's last quarter against its first quarter's.

    Medians, since memory follows the batch sizes that bursts of load bring (up to
    max_batch_size texts of the model's max_length): a leak moves the median, a burst does not.
    """
    quarter = rss[-1][0] / 4
    first = [mib for t, mib in rss if t <= quarter]
    last = [mib for t, mib in rss if t >= rss[-1][0] - quarter]
    return float(np.median(last) / np.median(first) - 1)


def report(args, bento, fp32, int8, workers, accuracy, service, naive, soak, rss) -> None:
    best = max(fp32, key=fp32.get)
    limit = fp32[best]
    title = f"Serving {bento} ({args.backend}): {args.clients} clients, one text per request"
    table = Table(title=title + (f" ({args.join} corpus texts each)" if args.join > 1 else ""))
    for column in ("case", "texts/s", "p50 ms", "p95 ms", "p99 ms", "failures"):
        table.add_column(column, justify="left" if column == "case" else "right")
    table.add_row(f"(a) in-process, batch {best}", f"{limit:.1f}", "", "", "", "")
    best_int8 = max(int8, key=int8.get)
    table.add_row(f"    int8, batch {best_int8}", f"{int8[best_int8]:.1f}", "", "", "", "")
    processes, per_worker = workers
    table.add_row(f"    {processes} processes, batch {best}", f"{per_worker:.1f}", "", "", "", "")
    for name, load in (
        ("(b) bentoml serve", service),
        ("(c) naive FastAPI", naive),
        (f"soak {args.soak_seconds:.0f} s", soak),
    ):
        table.add_row(
            name,
            f"{load.throughput:.1f}",
            *(f"{load.percentile(q):.0f}" for q in (50, 95, 99)),
            str(sum(load.failures.values())),
        )
    console.print(table)
    console.print(
        "in-process texts/s by batch size: "
        + ", ".join(f"{size}: {fp32[size]:.0f} (int8 {int8[size]:.0f})" for size in BATCH_SIZES)
    )
    growth = rss_growth(rss)
    checks = {
        "(b)/(a) >= 0.8": (service.throughput / limit, service.throughput / limit >= 0.8),
        "(b)/(c) >= 2": (
            service.throughput / naive.throughput,
            service.throughput / naive.throughput >= 2,
        ),
        "p99 (b) < p99 (c)": (
            service.percentile(99) / naive.percentile(99),
            service.percentile(99) < naive.percentile(99),
        ),
        "soak without errors": (sum(soak.failures.values()), not soak.failures),
        f"soak RSS growth <= {RSS_FLAT_TOLERANCE:.0%}": (growth, growth <= RSS_FLAT_TOLERANCE),
    }
    for name, (value, passed) in checks.items():
        mark = "[green]pass[/]" if passed else "[red]FAIL[/]"
        console.print(f"{mark}  {name}: {value:.3g}")
    console.print(
        f"(b) against {processes} in-process processes, as its workers: "
        f"{service.throughput / per_worker:.3g} (what the HTTP path costs)"
    )
    console.print(f"int8: {int8[best_int8] / limit:.2f}x the fp32 throughput")
    if accuracy:
        change = accuracy["macro_pr_auc"]
        console.print(
            f"int8 on {accuracy['rows']} seed-corpus test rows: macro PR-AUC {change['fp32']:.4f}"
            f" -> {change['int8']:.4f}, flags agree on {accuracy['flag_agreement']:.2%}, "
            f"largest score change {accuracy['max_abs_score_change']:.4f}"
        )
    console.print(f"soak RSS (MiB): {', '.join(f'{t:.0f}s {m:.0f}' for t, m in rss)}")
    RESULTS.write_text(
        json.dumps(
            {
                "bento": bento,
                "backend": args.backend,
                "clients": args.clients,
                "corpus_texts_per_text": args.join,
                "cpus": threads_per_worker(1),
                "in_process_texts_per_s": {
                    "fp32": fp32,
                    "int8": int8,
                    f"{processes}_processes": per_worker,
                },
                "int8_accuracy": accuracy,
                "service": service.summary(),
                "naive_fastapi": naive.summary(),
                "soak": {**soak.summary(), "rss_mib": rss, "rss_growth": growth},
                "checks": {name: passed for name, (_, passed) in checks.items()},
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    try:
        main()
    except ModpipeError as err:  # e.g. no bento yet: one line, not a traceback
        raise SystemExit(f"error: {err}") from None
