"""The cost of evidence in the service: `bentoml serve` of one bento with ``evidence`` off and on,
back to back, under the same load (serving_benchmark.py's closed loop: concurrent clients, one
text per request, the seed corpus in a fixed shuffled order).

The model: ``--model`` (a trained model folder; default: the evidence benchmark's newest model
without an evidence head, /tmp/evidence-benchmark-*/without-head, explained by occlusion; its
``with-head`` twin measures the head). It is copied, exported to ONNX (the service's default
backend) and packaged into a bento in a temporary BentoML store; the servers run its defaults
(2 workers) with only ``MODPIPE_SERVE_EVIDENCE`` changed. Also reported: the share of requests
the model flags (only those are explained) and their spans.

    nice .venv/bin/python benchmarks/serving_evidence.py [--model DIR] [--clients 32]
        [--seconds 30] [--rounds 1]

Prints a markdown table; writes runs/benchmarks/serving_evidence.json.
"""

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from glob import glob
from pathlib import Path

# A BentoML store of its own, set before BentoML is first imported.
WORK = Path(tempfile.mkdtemp(prefix="serving-evidence-"))
os.environ.update(BENTOML_HOME=str(WORK / "bentoml"), BENTOML_DO_NOT_TRACK="true")

import httpx  # noqa: E402
from serving_benchmark import closed_loop, free_port, server  # noqa: E402  (benchmarks/)

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from components.data.synth import synthesize_corpus  # noqa: E402
from components.model.modeling import ModerationModel  # noqa: E402
from components.model.onnx_export import export_onnx  # noqa: E402
from components.model.onnx_runtime import ONNX_DIR  # noqa: E402
from components.registry.bentos import build_bento, save_bento_model, serve_command  # noqa: E402
from serving.settings import SETTINGS_ENV_PREFIX, settings_env_name  # noqa: E402

RESULTS = REPO / "runs" / "benchmarks" / "serving_evidence.json"
DEFAULT_MODELS = "/tmp/evidence-benchmark-*/without-head"


def packaged(model_dir: Path, work: Path) -> str:
    """A bento of a copy of the model, exported to ONNX, in the benchmark's BentoML store."""
    copy = Path(shutil.copytree(model_dir, work / "model"))
    if not (copy / ONNX_DIR).is_dir():
        export_onnx(ModerationModel.load(copy, device="cpu"), copy)
    (copy / "metrics.json").write_text("{}\n", encoding="utf-8")
    metadata = {"model_version": "1", "dataset_version": "benchmark", "metrics": {}}
    return build_bento(save_bento_model(copy, metadata))


def flagged_share(url: str, texts: list[str]) -> dict:
    """How many of ``texts`` the served model flags, and the spans it gives them."""
    results = [
        httpx.post(url, json={"input": texts[i : i + 16]}, timeout=120).json()["results"]
        for i in range(0, len(texts), 16)
    ]
    results = [result for batch in results for result in batch]
    flagged = [result for result in results if result["flagged"]]
    spans = [len(s) for r in flagged for s in r.get("evidence", {}).values()]
    return {
        "texts": len(results),
        "flagged": len(flagged),
        "spans_per_flagged_category": round(sum(spans) / max(1, len(spans)), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a trained model folder")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=1, help="off/on pairs, interleaved")
    args = parser.parse_args()
    model_dir = args.model or Path(max(glob(DEFAULT_MODELS), key=os.path.getmtime))
    shuffled = synthesize_corpus()[1]["text"].sample(frac=1.0, random_state=0).tolist()
    bodies = [json.dumps({"input": text}).encode() for text in shuffled]
    work = WORK
    bento = packaged(model_dir, work)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_ENV_PREFIX)}
    rows = []
    for round_ in range(args.rounds):
        for evidence in (False, True):
            port = free_port()
            settings = {**env, settings_env_name("evidence"): str(evidence).lower()}
            log = work / f"serve-{round_}-{evidence}.log"
            with server(serve_command(bento, port), port, settings, log):
                url = f"http://127.0.0.1:{port}/moderate"
                share = flagged_share(url, shuffled[:512])
                asyncio.run(closed_loop(url, bodies, args.clients, 5.0))  # warm-up
                load = asyncio.run(closed_loop(url, bodies, args.clients, args.seconds))
            rows.append({"evidence": evidence, "round": round_, **load.summary(), **share})
            print(f"evidence {'on ' if evidence else 'off'}: {rows[-1]}", flush=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"model": str(model_dir), "rows": rows}, indent=2) + "\n")
    print("\n| evidence | texts/s | p50 ms | p99 ms | flagged of 512 |\n|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {'on' if row['evidence'] else 'off'} | {row['requests_per_s']} | {row['p50_ms']} "
            f"| {row['p99_ms']} | {row['flagged']} |"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
