"""The fine-tuning command line (components.model.training), alone or under torchrun.

Frames are canonical rows JSONL files, as in a dataset's ``rows.jsonl``, or canonical dataset
folders::

    python -m components.model.train_command --train T.jsonl --validation V.jsonl \
        --taxonomy X.yaml --config C.yaml --output DIR [--checkpoint-dir D] [--result R.json]

It runs alone or under ``torchrun --nproc_per_node N``: one process per device
(components.model.replicas), DistributedSampler shards and DDP
averages gradients; rank 0 validates, tells the others the score so all stop together, and
alone writes checkpoints, the model and the result. Multi-node runs need a ``checkpoint_dir``
every node can read.
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from components.config import TrainConfig
from components.data.canonical import load_taxonomy, load_yaml_model
from components.errors import ModpipeError
from components.model.replicas import process_group
from components.model.training import train_model
from components.model.training_data import read_frame


def load_config(path: Path) -> TrainConfig:
    return load_yaml_model(Path(path), TrainConfig)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.model.train_command",
        description="Fine-tune the moderation classifier (alone or under torchrun).",
    )
    parser.add_argument(
        "--train", type=Path, required=True, help="canonical rows JSONL or dataset folder"
    )
    parser.add_argument(
        "--validation", type=Path, required=True, help="canonical rows JSONL or dataset folder"
    )
    parser.add_argument("--taxonomy", type=Path, required=True, help="taxonomy YAML")
    parser.add_argument("--config", type=Path, help="TrainConfig YAML (defaults when left out)")
    parser.add_argument("--output", type=Path, required=True, help="folder for the best model")
    parser.add_argument(
        "--checkpoint-dir", type=Path, help="folder for checkpoints; reruns resume from it"
    )
    parser.add_argument("--result", type=Path, help="write the TrainResult here as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    is_main = os.environ.get("RANK", "0") == "0"
    logging.basicConfig(level=logging.INFO if is_main else logging.WARNING, format="%(message)s")
    try:
        config = load_config(args.config) if args.config else TrainConfig()
        taxonomy = load_taxonomy(args.taxonomy)
        train, validation = read_frame(args.train), read_frame(args.validation)
        with process_group():
            result = train_model(
                train,
                validation,
                taxonomy,
                config,
                args.output,
                args.checkpoint_dir,
                progress=not args.no_progress,
            )
    except ModpipeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if is_main and args.result:
        args.result.parent.mkdir(parents=True, exist_ok=True)
        args.result.write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
