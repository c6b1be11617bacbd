"""What a test split's averages hide: the behavioural suite and identity-term bias of a scorer.

Both run in every evaluation, for any scorer (fine-tuned, baseline or a benchmark's), at the
thresholds chosen on validation:

- the behavioural suite (components.model.behaviour): synthetic cases per functionality,
  generated for the run's categories;
- identity-term bias (components.model.bias) on the test rows of a source that names the
  identity term each sentence is about (bias-madlibs), for ``hate`` and for each category those
  rows are labelled with, as far as the scorer has them. A row counts as toxic when any of its
  known labels is positive.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from components.data.canonical import LABEL_PREFIX, label_columns
from components.model.behaviour import build_suite, run_suite
from components.model.bias import identity_bias

BIAS_CATEGORY = "hate"


def _identity_rows(test: pd.DataFrame) -> np.ndarray:
    """Rows of the sources that name identity terms (the bias set and its background)."""
    if "identity" not in test:
        return np.zeros(len(test), dtype=bool)
    named = test["identity"].notna() & (test["identity"].astype(str) != "")
    sources = set(test.loc[named, "source"].astype(str))
    return test["source"].astype(str).isin(sources).to_numpy()


def bias_by_category(
    test: pd.DataFrame, scores: np.ndarray, categories: list[str], thresholds, min_rows
) -> tuple[dict, str | None]:
    """``{category: identity_bias(...)}`` and None, or ``{}`` and why there is nothing.

    The labels are the rows' own (any category of the test split), so a scorer that lacks the
    category the bias set is labelled with is still measured on ``hate``.
    """
    rows = _identity_rows(test)
    if not rows.any():
        return {}, "no test rows name an identity term (add bias-madlibs as an evaluation source)"
    labels = test.loc[rows, label_columns(test)].astype("Float64")
    labelled = [
        column.removeprefix(LABEL_PREFIX) for column in labels if labels[column].notna().any()
    ]
    scored = [c for c in categories if c in labelled or c == BIAS_CATEGORY]
    if not scored:
        return (
            {},
            f"the scorer has none of the categories the bias set labels ({', '.join(labelled)})",
        )
    known = labels.notna().any(axis=1).to_numpy()
    toxic = (labels.fillna(0) == 1).any(axis=1).to_numpy()[known].astype(int)
    identities = test.loc[rows, "identity"].where(lambda s: s.notna(), None).to_numpy()[known]
    results = {
        category: identity_bias(
            identities,
            toxic,
            scores[rows][known, categories.index(category)],
            thresholds[category],
            min_rows=min_rows,
        )
        for category in scored
    }
    return results, None


def quality_metrics(
    predict, test: pd.DataFrame, scores, categories: list[str], thresholds, config
) -> dict:
    """``{"behaviour", "bias", "bias_skipped"}`` for a scorer; ``config`` is an EvaluateConfig."""
    behaviour = run_suite(predict, categories, thresholds, build_suite(categories))
    bias, skipped = bias_by_category(test, scores, categories, thresholds, config.bias_min_rows)
    return {"behaviour": behaviour, "bias": bias, "bias_skipped": skipped}


def metric_slug(name: str) -> str:
    """A metric-name-safe name: "obfuscated: zero-width" -> "obfuscated_zero_width"."""
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def flat_behaviour_metrics(result: dict) -> dict[str, float]:
    """The suite's accuracies: ``behaviour.overall.accuracy``, ``behaviour.<slug>.accuracy``."""
    metrics = {"behaviour.overall.accuracy": result["overall"]["accuracy"]}
    for name, entry in result["functionalities"].items():
        metrics[f"behaviour.{metric_slug(name)}.accuracy"] = entry["accuracy"]
    return metrics


def flat_bias_metrics(result: dict) -> dict[str, float]:
    """``{"bias.african_american.bpsn_auc": 0.8, "bias.summary.max_fpr": ...}``; None ones left
    out."""
    sections = {metric_slug(term): figures for term, figures in result["identities"].items()}
    sections["summary"] = result["summary"]
    return {
        f"bias.{section}.{name}": float(value)
        for section, figures in sections.items()
        for name, value in figures.items()
        if value is not None
    }


def flat_quality_metrics(quality: dict, prefix: str = "") -> dict[str, float]:
    """``behaviour.<functionality>.accuracy`` and ``bias.<category>.<term>.<metric>``."""
    flat = flat_behaviour_metrics(quality["behaviour"])
    for category, result in quality["bias"].items():
        flat.update(
            {
                name.replace("bias.", f"bias.{category}.", 1): value
                for name, value in flat_bias_metrics(result).items()
            }
        )
    return {f"{prefix}{name}": value for name, value in flat.items()}
