"""The recall pipeline as a KFP v2 DAG: a pool of content into a ranked review queue.

prepare pool --> scan shard 1 --\\
fetch model  --> scan shard 2 ---+-> queue (dataset, HTML report, metrics)
             \\-> ...          --/
             \\-> mine (with recall.mine_batch > 0: an annotation batch from the pool)

One scan task per shard (``dsl.ParallelFor``; on a cluster, one pod each, side by side); the
queue step collects them (``dsl.Collected``). Compiled and run like the training pipeline:
``modpipe recall --kfp`` runs it on this machine, ``modpipe compile --pipeline recall`` writes
it for a cluster.
"""

from kfp import dsl

from components.config import PipelineConfig
from components.ops.recall import fetch_model_op, mine_op, prepare_pool_op, queue_op, scan_op

PIPELINE_NAME = "moderation-recall"
SCAN_RETRIES = 2  # a preempted scan pod is retried: its shard is scanned again, whole


def build_recall_pipeline(config: PipelineConfig, pipeline_root: str | None = None):
    """The pipeline function; the preset, the model and the budget are its parameters."""

    @dsl.pipeline(
        name=PIPELINE_NAME,
        description="A pool of content into a ranked review queue",
        pipeline_root=pipeline_root,
    )
    def recall_pipeline(
        pool: str,
        budget: int,
        model: str = f"models:/{config.registry.model_name}@champion",
        config_json: str = config.model_dump_json(),
        tracking_uri: str = "",
        parent_run_id: str = "",
    ) -> dsl.Dataset:
        common = {
            "config_json": config_json,
            "tracking_uri": tracking_uri,
            "parent_run_id": parent_run_id,
        }
        prepared = prepare_pool_op(pool=pool, budget=budget, **common)
        prepared.set_display_name("prepare pool")
        fetched = fetch_model_op(reference=model, **common).set_display_name("fetch model")
        with dsl.ParallelFor(prepared.outputs["Output"], name="shards") as shard:
            scan = scan_op(
                model=fetched.outputs["model"],
                shards=prepared.outputs["shards"],
                shard=shard,
                **common,
            )
            scan.set_display_name("scan shard").set_retry(num_retries=SCAN_RETRIES)
        queue = queue_op(
            model=fetched.outputs["model"],
            scanned=dsl.Collected(scan.outputs["scanned"]),
            budget=budget,
            **common,
        ).set_display_name("queue")
        if config.recall.mine_batch:  # fixed at compile time, like the training resources
            mine_op(
                model=fetched.outputs["model"], shards=prepared.outputs["shards"], **common
            ).set_display_name("mine an annotation batch")
        return queue.outputs["queue"]

    return recall_pipeline
