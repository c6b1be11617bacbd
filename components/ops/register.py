from typing import NamedTuple

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components.ops.support import component


@component
def register_op(
    config_json: str,
    tracking_uri: str,
    parent_run_id: str,
    model: Input[Model],
    splits: Input[Dataset],
    baseline_metrics: Input[Metrics],
    dataset_version: str,
    gate_metrics: Output[Metrics],
) -> NamedTuple("Registered", [("version", str), ("promoted", bool)]):
    """The registered version, and whether the gate made it the champion."""
    from collections import namedtuple
    from pathlib import Path

    from components.ops.support import stage
    from components.stages.register import register_stage

    with stage("register", config_json, tracking_uri, parent_run_id) as config:
        baseline = {k.removeprefix("baseline."): v for k, v in baseline_metrics.metadata.items()}
        decision = register_stage(
            config, Path(model.path), Path(splits.path), dataset_version, baseline, parent_run_id
        )
    gate_metrics.log_metric("gate.passed", float(decision.passed))
    registered = namedtuple("Registered", ["version", "promoted"])
    return registered(decision.candidate_version, decision.passed)
