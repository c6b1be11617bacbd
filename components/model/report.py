"""The evaluation report: PR curves, reliability diagrams, a confusion grid, how each threshold
was chosen, the behavioural suite and identity-term bias, on one HTML page.

Takes the same ``y_true`` / ``scores`` matrices as :mod:`components.model.metrics`.
"""

import base64
import html
import math
from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure  # figures without pyplot render with the Agg canvas
from sklearn.metrics import average_precision_score, precision_recall_curve

from components.model.evidence_report import examples_html
from components.model.metrics import (
    category_counts,
    check_shapes,
    confusion_counts,
    expected_calibration_error,
    known_labels,
    ratio,
)
from components.model.quality_report import (
    behaviour_html,
    bias_html,
    bias_skipped_html,
    format_number,
    plot_behaviour,
    plot_bias,
)

# Columns of the report table: (metric key, header).
TABLE_COLUMNS = (
    ("threshold", "Threshold"),
    ("support", "Positives"),
    ("precision", "Precision"),
    ("recall", "Recall"),
    ("f1", "F1"),
    ("roc_auc", "ROC-AUC"),
    ("pr_auc", "PR-AUC"),
    ("ece", "ECE"),
)
LIFT_METRICS = (("pr_auc", "PR-AUC"), ("f1", "F1"))


def _grid(count: int, panel_size: float = 3.2) -> tuple[Figure, list]:
    columns = min(4, count)
    rows = math.ceil(count / columns)
    figure = Figure(figsize=(panel_size * columns, panel_size * rows + 0.6), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    for unused in axes[count:]:
        unused.set_visible(False)
    return figure, list(axes[:count])


def _colors(count: int) -> list:
    palette = "tab10" if count <= 10 else "tab20"
    return [colormaps[palette](i) for i in range(count)]


def _plot_pr_curves(y_true, scores, categories, thresholds, title: str) -> Figure:
    figure = Figure(figsize=(7.5, 6), layout="constrained")
    axes = figure.subplots()
    for column, (category, color) in enumerate(
        zip(categories, _colors(len(categories)), strict=True)
    ):
        labels, category_scores = known_labels(y_true, scores, column)
        if len(np.unique(labels)) < 2:
            axes.plot([], [], color=color, label=f"{category} (one class only, no curve)")
            continue
        precision, recall, _ = precision_recall_curve(labels, category_scores)
        average_precision = average_precision_score(labels, category_scores)
        axes.step(
            recall,
            precision,
            where="post",
            color=color,
            lw=1.8,
            label=f"{category} (AP {average_precision:.3f})",
        )
        counts = category_counts(labels, category_scores, thresholds[category])
        point_recall = ratio(counts["tp"], counts["tp"] + counts["fn"]) or 0.0
        point_precision = ratio(counts["tp"], counts["tp"] + counts["fp"])
        if point_precision is not None:
            axes.plot(point_recall, point_precision, "o", color=color, ms=8, mec="black")
    axes.plot([], [], "o", color="white", mec="black", label="operating point (threshold)")
    axes.set(
        xlim=(0, 1.01),
        ylim=(0, 1.03),
        xlabel="Recall",
        ylabel="Precision",
        title=f"{title}: precision-recall by category",
    )
    axes.grid(alpha=0.3)
    axes.legend(loc="lower left", fontsize="small", framealpha=0.9)
    return figure


def _plot_calibration(y_true, scores, categories, title: str, bins: int = 10) -> Figure:
    figure, axes_list = _grid(len(categories))
    edges = np.linspace(0, 1, bins + 1)
    for column, (category, axes, color) in enumerate(
        zip(categories, axes_list, _colors(len(categories)), strict=True)
    ):
        labels, category_scores = known_labels(y_true, scores, column)
        axes.plot([0, 1], [0, 1], ls="--", color="grey", lw=1, label="perfect calibration")
        if len(labels):
            which_bin = np.clip((category_scores * bins).astype(int), 0, bins - 1)
            filled = np.unique(which_bin)
            observed = [labels[which_bin == b].mean() for b in filled]
            axes.bar(
                edges[filled],
                observed,
                width=1 / bins,
                align="edge",
                color=color,
                alpha=0.75,
                edgecolor="black",
                lw=0.5,
                label="observed positive rate",
            )
            ece = expected_calibration_error(labels, category_scores, bins)
            axes.set_title(f"{category} (ECE {ece:.3f}, n={len(labels)})", fontsize="medium")
        else:
            axes.set_title(f"{category} (no known labels)", fontsize="medium")
        axes.set(
            xlim=(0, 1), ylim=(0, 1), xlabel="Mean predicted score", ylabel="Fraction positive"
        )
        axes.grid(alpha=0.3)
    axes_list[0].legend(loc="upper left", fontsize="x-small")
    figure.suptitle(f"{title}: reliability diagrams")
    return figure


def _plot_confusion(y_true, scores, categories, thresholds, title: str) -> Figure:
    figure, axes_list = _grid(len(categories), panel_size=2.8)
    counts = confusion_counts(y_true, scores, categories, thresholds)
    for category, axes in zip(categories, axes_list, strict=True):
        c = counts[category]
        matrix = np.array([[c["tn"], c["fp"]], [c["fn"], c["tp"]]])
        # Colour by share of the true class so a rare category's row is still readable.
        row_share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
        axes.imshow(row_share, cmap="Blues", vmin=0, vmax=1)
        for (row, col), value in np.ndenumerate(matrix):
            axes.text(
                col,
                row,
                f"{value:,}",
                ha="center",
                va="center",
                fontsize="large",
                color="white" if row_share[row, col] > 0.5 else "black",
            )
        axes.set_xticks([0, 1], ["no", "yes"])
        axes.set_yticks([0, 1], ["no", "yes"])
        axes.set(xlabel="Predicted", ylabel="True")
        axes.set_title(f"{category} @ {thresholds[category]:.2f}", fontsize="medium")
    figure.suptitle(f"{title}: confusion at the chosen thresholds (colour: share of true class)")
    return figure


def _plot_sources(by_source: dict, categories: list[str], title: str) -> Figure:
    """PR-AUC of each source (rows) in each category (columns); blank where a source does not
    label the category or the figure is undefined."""
    names = list(by_source)
    grid = np.full((len(names), len(categories)), np.nan)
    for row, name in enumerate(names):
        for column, category in enumerate(categories):
            value = by_source[name]["per_category"].get(category, {}).get("pr_auc")
            grid[row, column] = np.nan if value is None else value
    figure = Figure(
        figsize=(1.1 * len(categories) + 2.5, 0.5 * len(names) + 1.6), layout="constrained"
    )
    axes = figure.subplots()
    image = axes.imshow(grid, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    for (row, column), value in np.ndenumerate(grid):
        if not np.isnan(value):
            color = "black" if value > 0.6 else "white"
            axes.text(column, row, f"{value:.2f}", ha="center", va="center", color=color)
    axes.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_title(f"{title}: PR-AUC per source on the test split")
    figure.colorbar(image, ax=axes, label="PR-AUC")
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=110)
    return path


def _lift(metrics: dict | None, baseline: dict | None, metric: str) -> str:
    if not metrics or not baseline or metrics.get(metric) is None or baseline.get(metric) is None:
        return "–"
    return f"{metrics[metric] - baseline[metric]:+.3f}"


def _metrics_table(metrics: dict, baseline: dict | None) -> str:
    headers = ["Category"] + [header for _, header in TABLE_COLUMNS]
    if baseline:
        headers += ["Baseline PR-AUC"] + [f"Lift {header}" for _, header in LIFT_METRICS]
    rows = [
        (name, values, (baseline or {}).get("per_category", {}).get(name))
        for name, values in metrics["per_category"].items()
    ]
    rows.append(("macro", metrics["macro"], (baseline or {}).get("macro")))
    body = []
    for name, values, baseline_values in rows:
        cells = [html.escape(name)] + [format_number(values.get(key)) for key, _ in TABLE_COLUMNS]
        if baseline:
            cells.append(format_number((baseline_values or {}).get("pr_auc")))
            cells += [_lift(values, baseline_values, key) for key, _ in LIFT_METRICS]
        css = ' class="macro"' if name == "macro" else ""
        body.append(f"<tr{css}>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    rows_html = "".join(body)
    return (
        f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{rows_html}</tbody></table>'
    )


REPORT_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1100px; }
table.metrics { border-collapse: collapse; margin: 1rem 0; font-variant-numeric: tabular-nums; }
table.metrics th, table.metrics td {
  border: 1px solid #ccc; padding: 0.3rem 0.6rem; text-align: right;
}
table.metrics td:first-child, table.metrics th:first-child { text-align: left; }
table.metrics thead { background: #f0f3f7; }
tr.macro { font-weight: bold; background: #fafafa; }
img { max-width: 100%; margin: 0.5rem 0 1.5rem; }
p.note { color: #555; font-size: 0.9rem; }
table.evidence td { text-align: left; vertical-align: top; }
mark { background: #ffd966; }
"""


def _source_tables(metrics: dict, baseline: dict | None) -> str:
    """One table per source of the test split, over the categories it labels."""
    baseline_sources = (baseline or {}).get("by_source", {})
    return "".join(
        f"<h3>{html.escape(name)} ({values['rows']:,} test rows)</h3>"
        + _metrics_table(values, baseline_sources.get(name))
        for name, values in metrics.get("by_source", {}).items()
    )


def _thresholds_table(metrics: dict) -> str:
    """How each cut-off was chosen on validation, and what it reached on test."""
    headers = (
        "Category",
        "Rule",
        "Chosen without",
        "Target precision",
        "Reached (validation)",
        "Validation positives",
        "Base rate",
        "Validation precision",
        "Validation recall",
        "Test precision",
        "Test recall",
    )
    body = []
    for category, choice in metrics["thresholds"].items():
        test = metrics["per_category"][category]
        cells = [
            html.escape(category),
            html.escape(choice["rule"]),
            html.escape(", ".join(choice.get("chosen_without", [])) or "–"),
            format_number(choice["target_precision"]),
            "yes" if choice["target_reached"] else "<b>no</b>",
            format_number(choice["validation_positives"]),
            format_number(choice["base_rate"]),
            format_number(choice["validation_precision"]),
            format_number(choice["validation_recall"]),
            format_number(test["precision"]),
            format_number(test["recall"]),
        ]
        body.append("<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in headers)
    return (
        '<h2>Thresholds</h2><p class="note">Each cut-off is the lowest whose validation '
        "precision, and that of every stricter cut-off with enough positives above it, reaches "
        "the target. Where none does, the row says so. Validation rows of the sources a row is "
        "chosen without (a synthetic corpus) took no part. A target at or under the base rate is "
        "reached by flagging everything: such a category needs a higher target.</p>"
        f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}'
        "</tbody></table>"
    )


def _images_section(images: dict) -> str:
    """The test rows with an image: scored through it against scored by their text."""
    return (
        f'<h2>Images ({images["rows"]:,} test rows)</h2><p class="note">Each row scored '
        "through its image (the text OCR reads in it, the NSFW classifier for sexual, known "
        "images), against the same rows scored by their own text (the baseline columns here; "
        "lift: image minus text). Mean OCR character error: "
        f"{format_number(images['ocr_character_error'])}.</p>"
        + _metrics_table(images["image"], images["text"])
    )


def _quality_sections(quality: dict, out_dir: Path, title: str) -> tuple[str, dict[str, Path]]:
    """The behavioural suite's and the bias sections, and their plots by caption."""
    images = {
        "Behavioural suite": _save(
            plot_behaviour(quality["behaviour"], title), out_dir / "behaviour.png"
        )
    }
    sections = behaviour_html(quality["behaviour"])
    for category, bias in quality["bias"].items():
        heading = f"Identity-term bias: {category}"
        images[heading] = _save(plot_bias(bias, title), out_dir / f"bias_{category}.png")
        sections += bias_html(bias, heading)
    if quality["bias_skipped"]:
        sections += bias_skipped_html(quality["bias_skipped"])
    return sections, images


def _html_page(title: str, table: str, images: dict[str, Path], with_lift: bool) -> str:
    figures = "".join(
        f'<h2>{html.escape(caption)}</h2><img alt="{html.escape(caption)}" '
        f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode("ascii")}">'
        for caption, path in images.items()
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{REPORT_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        "<h2>Metrics</h2>"
        '<p class="note">Rows with an unknown label are left out per category. "–": undefined '
        "(e.g. AUCs need both classes)."
        f"{' Lift: this model minus the baseline.' if with_lift else ''}</p>"
        f"{table}{figures}</body></html>"
    )


def write_report(
    y_true: np.ndarray,
    scores: np.ndarray,
    categories: list[str],
    thresholds: dict[str, float],
    metrics: dict,
    out_dir: Path,
    title: str,
    baseline: dict | None = None,
    examples: list[dict] | None = None,
) -> dict[str, Path]:
    """PR curves, reliability diagrams, confusion grid (PNGs) and a self-contained report.html;
    ``examples``: highlighted evidence (components.model.evidence_report)."""
    check_shapes(y_true, scores, categories)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "pr_curves": _save(
            _plot_pr_curves(y_true, scores, categories, thresholds, title),
            out_dir / "pr_curves.png",
        ),
        "calibration": _save(
            _plot_calibration(y_true, scores, categories, title), out_dir / "calibration.png"
        ),
        "confusion": _save(
            _plot_confusion(y_true, scores, categories, thresholds, title),
            out_dir / "confusion.png",
        ),
    }
    images = {
        "Precision-recall curves": paths["pr_curves"],
        "Calibration": paths["calibration"],
        "Confusion at the thresholds": paths["confusion"],
    }
    tables = _metrics_table(metrics, baseline)
    if metrics.get("by_source"):
        paths["sources"] = _save(
            _plot_sources(metrics["by_source"], categories, title), out_dir / "sources.png"
        )
        images = {"PR-AUC per source": paths["sources"], **images}
        tables += "<h2>Per source</h2>" + _source_tables(metrics, baseline)
    if metrics.get("thresholds"):
        tables += _thresholds_table(metrics)
    if metrics.get("images"):
        tables += _images_section(metrics["images"])
    if examples:
        tables += examples_html(examples, metrics.get("evidence"))
    if metrics.get("quality"):
        sections, quality_images = _quality_sections(metrics["quality"], out_dir, title)
        tables += sections
        images = {**quality_images, **images}
        paths.update({caption: path for caption, path in quality_images.items()})
    page = _html_page(title, tables, images, with_lift=bool(baseline))
    paths["report"] = out_dir / "report.html"
    paths["report"].write_text(page, encoding="utf-8")
    return paths
