"""Validate: the Great Expectations suite; a failing expectation stops the run.

A mixture's sources are validated one by one (as they entered it), then the merged set.
"""

import tempfile
from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.data.source import SOURCES_DIR
from components.data.validate import summary_html, validate_dataset
from components.errors import ModpipeError


def _checks(config: PipelineConfig, dataset_dir: Path) -> list[tuple[str, Path, object]]:
    """(name, folder, settings) of each dataset to validate, the merged set last."""
    data = config.data
    sources = [
        (s.name, dataset_dir / SOURCES_DIR / s.name, s.validation or data.validation)
        for s in data.sources
    ]
    return [*sources, ("dataset", dataset_dir, data.validation)]


def validate_stage(config: PipelineConfig, dataset_dir: Path, report_path: Path) -> None:
    """Write the one-page summary to ``report_path``, log the reports, fail on any failure."""
    checks = _checks(config, Path(dataset_dir))
    with tempfile.TemporaryDirectory(prefix="validation-") as scratch:  # kept in MLflow
        reports_dir = Path(scratch)
        results = [validate_dataset(folder, reports_dir / name, s) for name, folder, s in checks]
        Path(report_path).write_text(summary_html(results), encoding="utf-8")
        mlflow.log_artifacts(str(reports_dir), "validation")
    failed = [result for result in results if not result.success]
    mlflow.log_metrics(
        {
            "validation.success": float(not failed),
            "validation.failed_expectations": sum(len(r.failures) for r in results),
        }
    )
    if failed:
        summaries = "\n".join(result.summary() for result in failed)
        raise ModpipeError(f"the dataset failed validation:\n{summaries}")
