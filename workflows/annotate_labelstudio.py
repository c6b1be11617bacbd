"""``modpipe annotate export`` and ``modpipe annotate import``: a batch out to Label Studio with
pre-annotations, and Label Studio's JSON export back as a new version of a dataset."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from components.errors import ModpipeError
from workflows.publication import report_publication

console = Console(highlight=False, soft_wrap=True)
TASKS_FILE = "tasks.json"
CONFIG_FILE = "config.xml"


def export(
    batch: Path = typer.Argument(
        ...,
        help="The items: a mining batch or pool (.jsonl, .csv, .parquet with id and text) "
        "or a canonical dataset folder.",
    ),
    output: Path = typer.Option(
        ..., "-o", "--output", help="Folder for tasks.json and config.xml."
    ),
    model: str | None = typer.Option(
        None,
        help="Pre-annotate with this model's decisions and evidence: a folder, "
        "models:/NAME@ALIAS, models:/NAME/VERSION or a bento tag.",
    ),
    drafts: Path | None = typer.Option(
        None, help="Pre-annotate with LLM drafts (the JSONL of 'modpipe annotate draft')."
    ),
    taxonomy: Path | None = typer.Option(
        None,
        help="YAML taxonomy to annotate (default: the dataset's, else the model's, else "
        "configs/taxonomy.yaml).",
    ),
    policy: str | None = typer.Option(
        None,
        "--policy-version",
        help="The policy version judged against (default: a hash of the categories' descriptions).",
    ),
    batch_size: int = typer.Option(64, min=1, help="Texts per forward pass of the model."),
) -> None:
    """Write Label Studio tasks (tasks.json) and the labeling config made from the taxonomy
    (config.xml): create a project with the config, then import the tasks."""
    from components.annotation.batch import policy_version, read_batch
    from components.annotation.labelstudio import label_studio_tasks
    from components.annotation.labelstudio_config import labeling_config

    items, card = read_batch(batch)
    loaded = _load_model(model) if model else None
    chosen = _taxonomy(taxonomy, card or (loaded.taxonomy if loaded else None))
    texts = items["text"].tolist()
    predictions = _predictions(loaded, model, texts, batch_size) if loaded else None
    judgements = _draft_judgements(drafts, items, chosen.names) if drafts else None
    version = policy or policy_version(chosen)
    tasks = label_studio_tasks(items, chosen.names, version, predictions, judgements)
    output.mkdir(parents=True, exist_ok=True)
    (output / TASKS_FILE).write_text(json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
    (output / CONFIG_FILE).write_text(labeling_config(chosen), encoding="utf-8")
    console.print(
        f"wrote {output / TASKS_FILE} ({len(tasks)} tasks, policy {version}) and "
        f"{output / CONFIG_FILE} ({', '.join(chosen.names)})",
        markup=False,
    )
    if judgements is not None:
        console.print(f"{len(judgements)} items pre-annotated with an LLM draft")
    console.print("In Label Studio: create a project with config.xml, then import tasks.json.")


def _load_model(reference: str):
    from components.registry.scoring import load_any_model

    return load_any_model(reference)


def _taxonomy(path: Path | None, fallback):
    from components.data.canonical import load_taxonomy

    if path is not None:
        return load_taxonomy(path)
    return fallback if fallback is not None else load_taxonomy()


def _predictions(model, reference: str, texts: list[str], batch_size: int):
    from components.annotation.labelstudio import ModelPredictions
    from components.model.evidence import explain

    scores = model.predict_scores(texts, batch_size)
    return ModelPredictions(
        version=reference,
        categories=model.categories,
        thresholds=model.thresholds,
        scores=scores,
        evidence=explain(model, texts, scores),
    )


def _draft_judgements(path: Path, items, categories: list[str]) -> dict:
    """Item id -> the LLM's judgement, for the items of the batch whose draft is not malformed;
    a draft whose rationale does not fit its item's text or categories is an error."""
    from components.annotation.llm import read_drafts
    from components.data.rationale import check_rationale, dump_rationale

    texts = dict(zip(items["id"], items["text"], strict=True))
    judgements = {}
    for draft in read_drafts(path):
        item_id, rationale = draft["id"], draft.get("rationale")
        if rationale is None or item_id not in texts:
            continue
        try:
            check_rationale(dump_rationale(rationale), texts[item_id], categories)
        except ValueError as err:
            raise ModpipeError(f"{path}: the draft of {item_id!r}: {err}") from None
        judgements[item_id] = rationale.judgements[0]
    return judgements


def import_(
    export_file: Path = typer.Argument(..., help="Label Studio's JSON export of the project."),
    into: Path = typer.Option(..., "--into", help="The dataset folder to add the rows to."),
    taxonomy: Path | None = typer.Option(
        None, help="YAML taxonomy of a new dataset (default: configs/taxonomy.yaml)."
    ),
) -> None:
    """Read a Label Studio JSON export into canonical rows with rationales and agreement, and
    make them part of the dataset's new DVC version (rows of the same id are replaced; the
    previous version stays restorable)."""
    from components.annotation.labelstudio_import import (
        annotated_items,
        item_rows,
        merge_rows,
        new_card,
        read_export,
    )
    from components.data.canonical import CARD_FILE, load_taxonomy, read_dataset
    from components.data.versioning import check_target, publish_dataset

    into = check_target(into)
    card, frame = None, None
    if (into / CARD_FILE).is_file():
        if taxonomy is not None:
            raise ModpipeError(f"{into} has its own taxonomy; --taxonomy is for a new dataset")
        card, frame = read_dataset(into)
    else:
        card = new_card(into.name, load_taxonomy(taxonomy) if taxonomy else load_taxonomy())
    tasks = read_export(export_file)
    items = annotated_items(tasks, card.names, str(export_file))
    if not items:
        raise ModpipeError(f"{export_file}: no task has a submitted annotation; nothing imported")
    frame, replaced = merge_rows(card, frame, item_rows(items, card.names), str(export_file))
    report_publication(publish_dataset(card, frame, into))
    annotations = sum(len(item.judgements) for item in items)
    annotators = {j.annotator for item in items for j in item.judgements}
    console.print(
        f"{len(items)} annotated items from {len(tasks)} tasks ({annotations} annotations by "
        f"{len(annotators)} annotators): {len(items) - replaced} added, {replaced} replaced; "
        f"{len(tasks) - len(items)} tasks without an annotation left out",
        markup=False,
    )
