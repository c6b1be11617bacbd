"""The recall report: one HTML page with what a reviewer lead looks at first.

How the queue splits by category and by recalling channel, how risk falls along it, and the
queue's head with each item's reasons. Texts are escaped and cut; the full queue is the
dataset beside it.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure

from components.model.report import REPORT_STYLE

ROWS_SHOWN = 100
TEXT_CHARS = 160
SHOWN_COLUMNS = [
    ("rank", "#"),
    ("risk", "Risk"),
    ("category", "Category"),
    ("score", "Score"),
    ("channels", "Recalled by"),
    ("nearest_similarity", "Nearest known"),
    ("term", "Term"),
    ("cluster_size", "Cluster"),
    ("id", "Id"),
    ("text", "Text"),
]


def _png(figure: Figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _overview(queue: pd.DataFrame) -> Figure:
    figure = Figure(figsize=(11, 3.2), layout="constrained")
    by_category, by_channel, risk = figure.subplots(1, 3)
    queue["category"].value_counts().sort_index().plot.barh(ax=by_category, color="#4c72b0")
    by_category.set_title("Queue items by top category")
    channels = queue["channels"].replace("", "none (risk only)").str.split(",").explode()
    channels.value_counts().plot.barh(ax=by_channel, color="#dd8452")
    by_channel.set_title("Recalled by (an item may have several)")
    risk.plot(queue["rank"], queue["risk"], color="#55a868")
    risk.set(title="Fused risk along the queue", xlabel="rank", ylabel="risk")
    return figure


def _cell(column: str, value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    text = str(value)
    if column == "text" and len(text) > TEXT_CHARS:
        text = text[:TEXT_CHARS] + "…"
    return html.escape(text)


def _table(queue: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title in SHOWN_COLUMNS)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_cell(c, row[c])}</td>" for c, _ in SHOWN_COLUMNS) + "</tr>"
        for _, row in queue.head(ROWS_SHOWN).iterrows()
    )
    return f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def write_recall_report(queue: pd.DataFrame, metrics: dict, title: str, path: Path) -> Path:
    summary = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:g}</td></tr>"
        for name, value in metrics.items()
    )
    page = (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{REPORT_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
        f'<table class="metrics"><tbody>{summary}</tbody></table>'
        f'<img alt="queue overview" src="data:image/png;base64,{_png(_overview(queue))}">'
        f"<h2>The first {min(ROWS_SHOWN, len(queue))} of {len(queue)} items</h2>"
        '<p class="note">Nearest known: cosine similarity to the closest known violation of the '
        "item's category. Cluster: pool items folded into this one (copies and paraphrases).</p>"
        f"{_table(queue)}</body></html>"
    )
    Path(path).write_text(page, encoding="utf-8")
    return Path(path)
