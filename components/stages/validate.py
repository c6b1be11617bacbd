"""Validate: the Great Expectations suite; a failing expectation stops the run."""

import tempfile
from pathlib import Path

import mlflow

from components.config import PipelineConfig
from components.data.validate import summary_html, validate_dataset
from components.errors import ModpipeError


def validate_stage(config: PipelineConfig, dataset_dir: Path, report_path: Path) -> None:
    """Write the one-page summary to ``report_path``, log the reports, fail on any failure."""
    reports_dir = Path(tempfile.mkdtemp(prefix="validation-"))
    result = validate_dataset(dataset_dir, reports_dir, config.data.validation)
    Path(report_path).write_text(summary_html(result), encoding="utf-8")
    mlflow.log_artifacts(str(reports_dir), "validation")
    mlflow.log_metrics(
        {
            "validation.success": float(result.success),
            "validation.failed_expectations": len(result.failures),
        }
    )
    if not result.success:
        raise ModpipeError(f"the dataset failed validation:\n{result.summary()}")
