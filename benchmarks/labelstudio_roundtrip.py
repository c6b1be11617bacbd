"""The Label Studio round trip of a batch, timed step by step: `modpipe annotate export`, a real
Label Studio (tests/labelstudio_server.py, from `make labelstudio`'s venv) taking the project
and the tasks, one annotation per task submitted through its API, its JSON export, and
`modpipe annotate import` of it into a dataset in a throwaway DVC repo.

    .venv/bin/python benchmarks/labelstudio_roundtrip.py --items 100 [--model MODEL_DIR]

The items are the first rows of the synthetic corpus; annotations mark one word per violated
category (the rows' own labels), so every task carries decisions, spans and reasoning.
"""

import argparse
import contextlib
import json
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
sys.path.insert(0, str(TESTS))  # the test's server helpers (and repos.py)

from labelstudio_server import label_studio, missing_reason  # noqa: E402
from repos import make_dvc_repo  # noqa: E402

from components.data.synth import synthesize_corpus  # noqa: E402
from workflows.annotate_labelstudio import export, import_  # noqa: E402


def annotation(task: dict, categories: list[str], violated: set[str]) -> list[dict]:
    text, result = task["data"]["text"], []
    first_word = text.split()[0] if text.split() else text
    for category in categories:
        violates = category in violated
        value = {"choices": ["violates" if violates else "does_not_violate"]}
        result.append(_result(f"decision_{category}", "choices", value))
        if violates:
            span = {"start": 0, "end": len(first_word), "text": first_word, "labels": [category]}
            result.append(_result("evidence", "labels", span))
            words = {"text": [f"the {category} policy applies"]}
            result.append(_result(f"reason_policy_clause_{category}", "textarea", words))
    return result


def _result(name: str, kind: str, value: dict) -> dict:
    return {"from_name": name, "to_name": "text", "type": kind, "value": value}


def timed(timings: dict, step: str, action):
    started = time.perf_counter()
    result = action()
    timings[step] = round(time.perf_counter() - started, 2)
    print(f"{step}: {timings[step]:.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--model", help="pre-annotate with this model (folder or URI)")
    args = parser.parse_args()
    if reason := missing_reason():
        sys.exit(reason)
    card, corpus = synthesize_corpus(seed=13, rows=3000)
    items = corpus.head(args.items)
    known = items.set_index("id")[[f"label_{name}" for name in card.names]].fillna(0)
    violated = {
        row_id: {n for n in card.names if row[f"label_{n}"] == 1}
        for row_id, row in known.iterrows()
    }
    timings: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="ls-bench-") as scratch:
        folder = Path(scratch)
        batch = folder / "batch.jsonl"
        items[["id", "text"]].to_json(batch, orient="records", lines=True, force_ascii=False)
        out = folder / "out"
        taxonomy = folder / "taxonomy.yaml"
        taxonomy.write_text(json.dumps(card.model_dump(include={"categories"})))
        timed(timings, "export", lambda: export(batch, out, args.model, None, taxonomy, None, 64))
        tasks = json.loads((out / "tasks.json").read_text())
        with contextlib.ExitStack() as stack:
            start = lambda: stack.enter_context(label_studio(folder / "ls"))  # noqa: E731
            studio = timed(timings, "label studio start", start)

            def create_and_import():
                project = studio.create_project("round trip", (out / "config.xml").read_text())
                studio.import_tasks(project, tasks)
                return project

            project = timed(timings, "project + task import", create_and_import)

            def annotate_all():
                for task in studio.tasks(project):
                    result = annotation(task, card.names, violated[task["data"]["item_id"]])
                    studio.annotate(task["id"], result, seconds=5.0)

            timed(timings, f"{len(tasks)} annotations via the API", annotate_all)
            exported = timed(timings, "export from label studio", lambda: studio.export(project))
        export_file = folder / "export.json"
        export_file.write_text(json.dumps(exported))
        dataset = make_dvc_repo(folder) / "annotated"
        timed(
            timings,
            "annotate import (+ DVC publish)",
            lambda: import_(export_file, dataset, taxonomy),
        )
    print(json.dumps({"items": len(tasks), "model": args.model, "seconds": timings}, indent=2))


if __name__ == "__main__":
    main()
