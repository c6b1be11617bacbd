"""Text requests while images load the service: does image work (decoding, OCR, NSFW, hashes)
hold up the texts?

In one run, on one bento (the newest moderation-service bento, or --bento), served as packaged:
  (t) text clients alone, one short text per request;
  (t+i) the same text clients, and image clients sending pictures of posts (rendered as in the
        images benchmark, 800 px wide JPEGs) as fast as they are answered.
Reported: the text requests' p50/p99 in both, and images/s in (t+i). Target: text p99 under
image load within 2x of text alone (images run on their own bounded pool).

    .venv/bin/python benchmarks/serving_images.py [--bento TAG] [--clients 16]
        [--image-clients 4] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import os
import time
from pathlib import Path

from rich.console import Console
from serving_benchmark import Load, closed_loop, free_port, post, server, session

from components.data.rendered import render_post
from components.data.synth import synthesize_corpus
from components.errors import ModpipeError
from components.registry.bentos import resolve_bento, serve_command
from serving.settings import BENTO_NAME, SETTINGS_ENV_PREFIX

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "runs" / "benchmarks" / "serving_images.json"
console = Console(highlight=False)


def image_bodies(texts: list[str], count: int) -> list[bytes]:
    """Requests of one rendered post each, as data URLs of JPEGs."""
    bodies = []
    for seed, text in enumerate(texts[:count]):
        picture = render_post(text, seed)
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=85)
        url = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        part = {"type": "image_url", "image_url": {"url": url}}
        bodies.append(json.dumps({"input": [part]}).encode())
    return bodies


async def with_images(
    url: str, texts: list[bytes], images: list[bytes], clients: int, image_clients: int, seconds
) -> tuple[Load, Load]:
    """The text clients' load and the image clients', side by side for ``seconds``."""
    image_load = Load(seconds)
    deadline = time.perf_counter() + seconds

    async def image_client(first: int) -> None:
        async with session(image_clients) as http:
            for i in range(first, 10**9, image_clients):
                if time.perf_counter() >= deadline:
                    return
                await post(http, url, images[i % len(images)], image_load)

    pictures = asyncio.gather(*(image_client(k) for k in range(image_clients)))
    text_load = await closed_loop(url, texts, clients, seconds)
    await pictures
    return text_load, image_load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bento", default=f"{BENTO_NAME}:latest")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--image-clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()

    bento = resolve_bento(args.bento)
    corpus = synthesize_corpus()[1]["text"].sample(frac=1.0, random_state=0).tolist()
    texts = [json.dumps({"input": text}).encode() for text in corpus]
    images = image_bodies(corpus, 64)
    env = {k: v for k, v in os.environ.items() if not k.startswith(SETTINGS_ENV_PREFIX)}
    port = free_port()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with server(serve_command(bento, port), port, env, RESULTS.with_suffix(".log")):
        url = f"http://127.0.0.1:{port}/moderate"
        asyncio.run(closed_loop(url, texts, args.clients, 5))  # warm-up
        asyncio.run(closed_loop(url, images, args.image_clients, 10))  # loads OCR's sessions
        console.print(f"(t) {args.clients} text clients, {args.seconds:.0f} s ...")
        alone = asyncio.run(closed_loop(url, texts, args.clients, args.seconds))
        console.print(f"(t+i) and {args.image_clients} image clients ...")
        loaded, pictures = asyncio.run(
            with_images(url, texts, images, args.clients, args.image_clients, args.seconds)
        )
    ratio = loaded.percentile(99) / alone.percentile(99)
    for name, load in (
        ("(t) texts alone", alone),
        ("(t+i) texts", loaded),
        ("(t+i) images", pictures),
    ):
        console.print(
            f"{name}: {load.throughput:.1f} requests/s, p50 {load.percentile(50):.0f} ms, "
            f"p99 {load.percentile(99):.0f} ms, {sum(load.failures.values())} failed"
        )
    mark = "[green]pass[/]" if ratio <= 2 else "[red]FAIL[/]"
    console.print(f"{mark}  text p99 under image load / alone: {ratio:.2f} (target <= 2)")
    RESULTS.write_text(
        json.dumps(
            {
                "bento": bento,
                "clients": args.clients,
                "image_clients": args.image_clients,
                "texts_alone": alone.summary(),
                "texts_with_images": loaded.summary(),
                "images": pictures.summary(),
                "p99_ratio": ratio,
            },
            indent=2,
        )
        + "\n"
    )
    console.print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    try:
        main()
    except ModpipeError as err:
        raise SystemExit(f"error: {err}") from None
