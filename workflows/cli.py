"""``modpipe``: the one command line in front of the data layer, the pipeline and the service."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from components.errors import ModpipeError
from workflows.annotate_command import annotate_app
from workflows.images_command import images_app
from workflows.mine_command import mine
from workflows.publication import report_publication

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


class Commands(TyperGroup):
    """Typer's standalone mode turns Ctrl-C into a silent exit 130 before main() could see it:
    catch it first, and say what it interrupted (a publication says what its folder holds)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as interrupt:
            message = f"interrupted: {interrupt}" if str(interrupt) else "interrupted"
            err_console.print(message, markup=False)
            raise typer.Exit(130) from None


app = typer.Typer(
    cls=Commands,
    help="Moderation pipeline: versioned data -> validated -> fine-tuned -> registered -> served.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(
    help="Canonical datasets: synthesise, fetch, import, pull, restore, validate.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
app.command("mine")(mine)  # its own module: the command is long
app.add_typer(images_app, name="images")
app.add_typer(annotate_app, name="annotate")

DATA_DIR = Path("data")
TERMS_DIR = Path("terms")  # the recall term lists, versioned like the dataset
DATASETS_DIR = Path("datasets")  # where `modpipe data fetch` puts the catalogue's datasets
REPORTS_DIR = Path("reports")


@data_app.command("synth")
def data_synth(
    output: Path = typer.Option(DATA_DIR, "-o", "--output", help="Dataset folder to write."),
    seed: int = typer.Option(13, help="Random seed; the default reproduces data.dvc's version."),
    rows: int = typer.Option(3600, min=3000, help="Number of rows."),
) -> None:
    """Write the deterministic synthetic demo corpus (marked as synthetic)."""
    from components.data.synth import synthesize_corpus
    from components.data.versioning import publish_dataset

    card, frame = synthesize_corpus(seed=seed, rows=rows)
    report_publication(publish_dataset(card, frame, output))
    console.print(f"{len(frame)} synthetic rows, categories: {', '.join(card.names)}")


@data_app.command("pull")
def data_pull(
    directory: Path = typer.Argument(DATA_DIR, help="DVC-tracked dataset folder."),
) -> None:
    """`dvc pull` a tracked folder (the dataset, or the term lists: `terms`); where the remote
    lacks the shipped version, regenerate it and push it."""
    from components.data.synth import write_synthetic_dataset
    from components.data.versioning import pull_dataset
    from components.recall.terms import write_starter_terms

    is_terms = directory.resolve().name == TERMS_DIR.name
    regenerate = write_starter_terms if is_terms else write_synthetic_dataset
    console.print(pull_dataset(directory, regenerate=regenerate), markup=False)


@data_app.command("import")
def data_import(
    source: Path = typer.Argument(
        ..., help="File to import (the folder, for toxic-spans and convabuse)."
    ),
    fmt: str = typer.Option(
        ...,
        "--format",
        "-f",
        help="davidson, jigsaw, openai-moderation, toxic-spans, convabuse, sms-spam, "
        "bias-madlibs, csv or jsonl.",
    ),
    output: Path = typer.Option(..., "-o", "--output", help="Dataset folder to write."),
    text_column: str = typer.Option("text", help="csv/jsonl: the text column."),
    id_column: str | None = typer.Option(
        None, help="csv/jsonl: the id column (default: row numbers)."
    ),
    label: list[str] = typer.Option([], help="csv/jsonl: CATEGORY=COLUMN, once per category."),
    taxonomy: Path | None = typer.Option(
        None, help="csv/jsonl: YAML taxonomy with the categories' descriptions."
    ),
) -> None:
    """Turn a public dataset into the canonical form and make it the folder's new DVC version."""
    from components.data.importers import ColumnMapping, import_dataset
    from components.data.versioning import check_target, publish_dataset

    check_target(output)  # a bad -o fails now, not after a long import
    labels = {}
    for pair in label:
        category, sep, column = pair.partition("=")
        if not sep or not category or not column:
            raise ModpipeError(f"--label {pair!r}: expected CATEGORY=COLUMN")
        labels[category.strip()] = column.strip()
    mapping = ColumnMapping(text=text_column, id=id_column, labels=labels, taxonomy=taxonomy)
    card, frame = import_dataset(fmt, source, mapping)
    report_publication(publish_dataset(card, frame, output))
    console.print(f"{len(frame)} rows from {source}, categories: {', '.join(card.names)}")


@data_app.command("fetch")
def data_fetch(
    name: str | None = typer.Argument(None, help="A catalogue dataset (see --list)."),
    output: Path | None = typer.Option(
        None, "-o", "--output", help="Dataset folder to write (default: datasets/NAME)."
    ),
    mirror: str | None = typer.Option(
        None,
        "--from",
        help="A folder or base URL laid out like ../shared/data "
        "(default: $MODPIPE_DATA_MIRROR, else the public URLs).",
    ),
    show_list: bool = typer.Option(False, "--list", help="Print the catalogue and stop."),
) -> None:
    """Download a public dataset of the catalogue, check every sha256, import it and make it
    the folder's new DVC version."""
    from components.data.catalogue import fetch_entry, load_catalogue
    from components.data.versioning import check_target, publish_dataset

    catalogue = load_catalogue()
    if show_list:
        _print_catalogue(catalogue)
        return
    if not name:
        raise ModpipeError(f"name a dataset to fetch: {', '.join(catalogue.datasets)} (or --list)")
    output = check_target(output or DATASETS_DIR / name)  # before the download
    card, frame = fetch_entry(name, mirror, catalogue)
    report_publication(publish_dataset(card, frame, output))
    console.print(
        f"{len(frame)} rows of {name} ({card.licence}), categories: {', '.join(card.names)}"
    )


@data_app.command("restore")
def data_restore(
    directory: Path = typer.Argument(..., help="DVC-tracked dataset folder."),
    md5: str = typer.Argument(..., help="The version to bring back, as publishing printed it."),
) -> None:
    """Make a version in the DVC cache the folder's content again (the one it replaces stays
    in the cache); DIR.dvc then records it."""
    from components.data.versioning import restore_dataset

    report_publication(restore_dataset(directory, md5))


def _print_catalogue(catalogue) -> None:
    from rich.table import Table

    table = Table("name", "role", "licence", "files", "title", box=None)
    for name, entry in catalogue.datasets.items():
        table.add_row(name, entry.role, entry.licence, str(len(entry.files)), entry.title)
    console.print(table)


@data_app.command("validate")
def data_validate(
    directory: Path = typer.Argument(DATA_DIR, help="Canonical dataset folder."),
    reports: Path | None = typer.Option(
        None, help="Reports folder (default: reports/validation/<name>)."
    ),
    min_positives: int = typer.Option(20, min=0, help="Fewest positives each category must have."),
    max_chars: int = typer.Option(10_000, min=1, help="Longest text allowed."),
    max_near_duplicates: float = typer.Option(
        0.03, min=0.0, max=1.0, help="Largest near-duplicate fraction."
    ),
) -> None:
    """Run the Great Expectations suite; exit 1 if any expectation fails."""
    from components.data.validate import ValidationSettings, validate_dataset

    settings = ValidationSettings(
        min_positives=min_positives,
        max_chars=max_chars,
        max_near_duplicate_fraction=max_near_duplicates,
    )
    reports = reports or REPORTS_DIR / "validation" / directory.resolve().name
    report = validate_dataset(directory, reports, settings)
    console.print(report.summary(), markup=False)
    console.print(f"JSON result: {report.json_path}")
    if report.docs_path:
        console.print(f"Data Docs: {report.docs_path}")
    if not report.success:
        raise typer.Exit(1)


CONFIG_OPTION = typer.Option(Path("configs/demo.yaml"), "--config", "-c", help="Pipeline preset.")


IMAGE_OPTION = typer.Option(
    None, help="Container image for every step (default: the project's published image)."
)
PIPELINE_ROOT_OPTION = typer.Option(
    None, help="Where KFP keeps the steps' artifacts on the cluster, e.g. s3://bucket/pipeline."
)
TRACKING_OPTION = typer.Option(
    None, help="MLflow tracking server the pods reach (default: $MLFLOW_TRACKING_URI)."
)


@app.command("run")
def run(
    config: Path = CONFIG_OPTION,
    host: str | None = typer.Option(None, help="Kubeflow Pipelines URL; default: run locally."),
    image: str | None = IMAGE_OPTION,
    pipeline_root: str | None = PIPELINE_ROOT_OPTION,
    tracking_uri: str | None = TRACKING_OPTION,
) -> None:
    """Run the training pipeline: data -> validation -> fine-tuning -> registry -> bento."""
    from components.config import load_config

    pipeline_config = load_config(config)  # a bad config fails in a second, before kfp loads
    from workflows.runner import run_local, run_on_cluster

    if host:
        result = run_on_cluster(pipeline_config, host, tracking_uri, image, pipeline_root)
        console.print(f"submitted: {result.url}\nMLflow: {result.tracking_uri}")
        return
    if image or pipeline_root or tracking_uri:
        raise ModpipeError("--image, --pipeline-root and --tracking-uri are for --host runs")
    # Bound to the terminal now: while KFP runs, sys.stdout is redirected to the log file.
    progress = Console(file=sys.stdout, highlight=False)
    result = run_local(pipeline_config, config, show=progress.print)
    console.print(
        f"[bold green]pipeline finished[/] in {result.seconds:.0f} s\n"
        f"MLflow parent run: {result.parent_run_id} ({result.tracking_uri}; "
        "'modpipe ui' shows it)"
    )
    verdict = (
        "is the new champion"
        if result.promoted
        else "did not pass the gate (the reasons are in its register run)"
    )
    console.print(f"model version {result.model_version} {verdict}")
    if result.bento_tag:
        console.print(
            f"served bento (the champion's): [bold]{result.bento_tag}[/], exported to "
            f"{result.bento_uri}; 'modpipe serve' serves it"
        )
    else:
        console.print("no champion yet, so nothing to serve")


@app.command("compile")
def compile_(
    config: Path = CONFIG_OPTION,
    output: Path = typer.Option(Path("moderation-pipeline.yaml"), "-o", "--output"),
    image: str | None = IMAGE_OPTION,
    pipeline_root: str | None = PIPELINE_ROOT_OPTION,
    tracking_uri: str | None = TRACKING_OPTION,
    pipeline: str = typer.Option("training", help="training, or recall (a pool to a queue)."),
) -> None:
    """Write a pipeline as KFP IR YAML for a Kubeflow Pipelines cluster (or its UI)."""
    from components.config import load_config
    from workflows.runner import PIPELINES, compile_pipeline

    if pipeline not in PIPELINES:
        raise ModpipeError(f"--pipeline: {pipeline!r} is not one of {', '.join(PIPELINES)}")
    pipeline_config = load_config(config)
    path = compile_pipeline(pipeline_config, output, image, pipeline_root, tracking_uri, pipeline)
    console.print(f"wrote {path}")


@app.command("ui")
def ui(port: int = typer.Option(5000, help="Port on 127.0.0.1.")) -> None:
    """Start the MLflow UI on 127.0.0.1 for this project's tracking store."""
    import subprocess

    from components.registry.tracking import setup_tracking

    uri = setup_tracking()
    console.print(f"MLflow UI for {uri} at http://127.0.0.1:{port} (Ctrl-C stops it)")
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    raise typer.Exit(subprocess.call(command))


@app.command("evaluate")
def evaluate(
    model: str = typer.Option(
        ..., help="models:/NAME@ALIAS, models:/NAME/VERSION, a bento tag or a folder."
    ),
    data: Path = typer.Option(..., help="Canonical dataset folder."),
    batch_size: int = typer.Option(64, min=1),
) -> None:
    """Score a dataset with a model and print metrics as JSON (shared categories only)."""
    import json

    from components.registry.scoring import score_dataset

    console.print_json(json.dumps(score_dataset(model, data, batch_size)))


@app.command("recall")
def recall(
    pool: Path = typer.Argument(..., help="Items to scan: JSONL, CSV or Parquet with id and text."),
    budget: int = typer.Option(..., "--budget", "-k", min=1, help="Items in the review queue."),
    config: Path = CONFIG_OPTION,
    model: str | None = typer.Option(
        None, help="models:/NAME@ALIAS, a bento tag or a folder; default: the champion."
    ),
    index: Path | None = typer.Option(
        None, help="A known-violation index folder; default: the one packaged with the model."
    ),
    terms: Path | None = typer.Option(None, help="Term lists (YAML); default: the preset's."),
    no_terms: bool = typer.Option(False, "--no-terms", help="Scan without the terms channel."),
    output: Path | None = typer.Option(None, "-o", "--output", help="The queue's folder."),
    kfp: bool = typer.Option(
        False, "--kfp", help="Run it as the KFP recall pipeline here (a task per shard)."
    ),
) -> None:
    """Scan a pool into a ranked review queue of BUDGET items, each saying why it is there."""
    from components.config import load_config

    if terms and no_terms:
        raise ModpipeError("give --terms FILE or --no-terms, not both")
    pipeline_config = load_config(config)
    if terms or no_terms:
        recall_settings = pipeline_config.recall.model_copy(update={"terms": terms})
        pipeline_config = pipeline_config.model_copy(update={"recall": recall_settings})
    output = output or pipeline_config.recall.output / pool.stem
    from workflows.recall import run_recall, run_recall_pipeline

    if kfp:
        if index:
            raise ModpipeError("--index is for a run in one process; the pipeline's model has one")
        progress = Console(file=sys.stdout, highlight=False)  # stdout is KFP's log meanwhile
        result = run_recall_pipeline(pipeline_config, pool, budget, output, model, progress.print)
    else:
        result = run_recall(pipeline_config, pool, budget, output, model, index, console.print)
    metrics = result.metrics
    console.print(
        f"[bold green]queue of {metrics['queue.items']:.0f}[/] from {metrics['pool.items']:.0f} "
        f"items (covering {metrics['queue.items_covered']:.0f} with their near-duplicates) in "
        f"{result.seconds:.0f} s: {escape(str(result.queue))}\nreport: "
        f"{escape(str(result.report))}\nMLflow run: {result.run_id}"
    )


@app.command("serve")
def serve(
    tag: str | None = typer.Argument(None, help="Bento tag; default: the champion's bento."),
    source: str | None = typer.Option(
        None, "--from", help="An exported bento (a .bento file or s3://...) to import and serve."
    ),
    port: int = typer.Option(3000, min=1, max=65535, help="Port on 127.0.0.1."),
    quantize: bool | None = typer.Option(
        None, "--quantize/--no-quantize", help="Dynamic int8 inference (default: the bento's)."
    ),
    max_texts: int | None = typer.Option(None, help="Texts or items a request may hold."),
    max_text_chars: int | None = typer.Option(None, help="Characters a text may hold."),
    max_body_bytes: int | None = typer.Option(None, help="Bytes a request body may hold."),
    workers: int | None = typer.Option(None, help="Processes, each with its own model copy."),
) -> None:
    """Serve a packaged moderation service on 127.0.0.1 (Ctrl-C stops it).

    With no tag and no --from, the bento of the registry's champion (imported from the bento
    store when this machine lacks it). Limits and options are the bento's unless these options
    or MODPIPE_SERVE_<NAME> say otherwise.
    """
    import subprocess

    from components.registry.bentos import serve_command
    from serving.settings import resolve_settings, settings_env_name
    from workflows.serving import served_bento

    if tag and source:
        raise ModpipeError("give a bento tag or --from URI, not both")
    chosen = {
        "quantize": quantize,
        "max_texts": max_texts,
        "max_text_chars": max_text_chars,
        "max_body_bytes": max_body_bytes,
        "workers": workers,
    }
    env = {**os.environ}
    env.update({settings_env_name(k): str(v) for k, v in chosen.items() if v is not None})
    resolve_settings(None, env)  # a bad value fails here, in one line, not in the server log
    bento, origin = served_bento(tag, source)
    console.print(f"serving {bento} ({origin}) at http://127.0.0.1:{port} (Ctrl-C stops it)")
    raise typer.Exit(subprocess.call(serve_command(bento, port), env=env))


def main() -> None:
    try:
        app()
    except ModpipeError as err:
        err_console.print(f"[bold red]error:[/] {escape(str(err))}")
        sys.exit(2)
    except Exception as err:  # a bug, not bad input: still one readable line by default
        if os.environ.get("MODPIPE_DEBUG"):
            raise
        err_console.print(
            f"[bold red]unexpected error:[/] {escape(type(err).__name__)}: {escape(str(err))}\n"
            "(set MODPIPE_DEBUG=1 to see the traceback, and please report it)"
        )
        sys.exit(3)


if __name__ == "__main__":
    main()
