"""Mine: the recall pipeline's optional last step, an annotation batch chosen from the pool.

The bandit's state lives at ``recall.mine_state`` (a file on the pipeline's volume): read when
there, written back with this round pending, and logged to MLflow with the batch. The round's
labels come back with ``modpipe mine --reward LABELLED_BATCH --state STATE``.
"""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd

from components.config import PipelineConfig
from components.mining.bandit import load_state, save_state
from components.mining.select import mine, write_batch
from components.model.modeling import ModerationModel
from components.recall.pool import read_shard

BATCH_FILE = "batch.jsonl"


def mine_stage(config: PipelineConfig, model_dir: Path, shards: Path, output: Path) -> int:
    """Write the next batch of ``recall.mine_batch`` pool items to ``output``; its size."""
    settings = config.recall
    pool = pd.concat(map(read_shard, sorted(Path(shards).glob("*.parquet"))), ignore_index=True)
    model = ModerationModel.load(model_dir)
    state_path = Path(settings.mine_state)
    frame, state = mine(
        model, pool, settings.mine_batch, load_state(state_path), reward=settings.mine_reward_on
    )
    write_batch(frame, Path(output) / BATCH_FILE)
    save_state(state, state_path)
    mlflow.log_artifact(str(state_path))
    counts = frame["strategy"].value_counts()
    mlflow.log_metrics({f"mine.picked.{name}": int(n) for name, n in counts.items()})
    return len(frame)
