"""Report sections beyond the metrics: the behavioural suite and identity-term bias.

Each section is an HTML fragment (an ``<h2>`` and what follows) and a figure for the page in
:mod:`components.model.report`, which imports this module, so nothing here imports it back.
"""

import html

from matplotlib import colormaps
from matplotlib.figure import Figure  # figures without pyplot render with the Agg canvas
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from components.model.bias import by_bpsn

BEHAVIOUR_TARGET = 0.70  # accuracy each functionality should reach
BIAS_AUC_TARGET = 0.90
GROUP_ORDER = ("explicit", "obfuscation", "hard negative", "invariance", "directional")
KIND_NAMES = {"mft": "MFT", "inv": "INV", "dir": "DIR"}
SHOWN_FAILURES = 3
# (metric key, header, marker) of the bias figure and table.
BIAS_AUCS = (
    ("subgroup_auc", "Subgroup AUC", "o"),
    ("bpsn_auc", "BPSN AUC", "s"),
    ("bnsp_auc", "BNSP AUC", "^"),
)
LEFT = ' style="text-align: left"'  # the metrics table right-aligns all but the first column


def format_number(value) -> str:
    """A table cell's figure: "–" when undefined, counts with separators, else 3 decimals."""
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.3f}"


def _below(value: float | None, target: float) -> str:
    """The figure, bold when it misses its target so the eye finds it in a long table."""
    text = format_number(value)
    return f"<strong>{text}</strong>" if value is not None and value < target else text


def _table(headers: list[str], rows: list[list[str]], left: tuple[int, ...] = ()) -> str:
    """A ``metrics`` table of already escaped cells; columns in ``left`` hold text."""
    head = "".join(f"<th{LEFT if i in left else ''}>{h}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>"
        + "".join(f"<td{LEFT if i in left else ''}>{cell}</td>" for i, cell in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f'<table class="metrics"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _empty(title: str, message: str) -> Figure:
    figure = Figure(figsize=(7, 1.5), layout="constrained")
    axes = figure.subplots()
    axes.text(0.5, 0.5, message, ha="center", va="center")
    axes.set_axis_off()
    figure.suptitle(title)
    return figure


# --- behavioural suite ------------------------------------------------------------------------


def _group_rank(group: str) -> tuple:
    return (GROUP_ORDER.index(group), "") if group in GROUP_ORDER else (len(GROUP_ORDER), group)


def _ordered_functionalities(result: dict) -> list[tuple[str, dict]]:
    """By group (in GROUP_ORDER), then accuracy ascending: the weakest of each group first."""
    return sorted(
        result["functionalities"].items(),
        key=lambda item: (_group_rank(item[1]["group"]), item[1]["accuracy"], item[0]),
    )


def _group_colors(groups) -> dict:
    ordered = sorted(set(groups), key=_group_rank)
    return {group: colormaps["tab10"](i % 10) for i, group in enumerate(ordered)}


def plot_behaviour(result: dict, title: str) -> Figure:
    """Accuracy per functionality as horizontal bars, coloured by group, with the target."""
    items = _ordered_functionalities(result)
    if not items:
        return _empty(f"{title}: behavioural tests", "no functionality was tested")
    figure = Figure(figsize=(9, 0.26 * len(items) + 1.6), layout="constrained")
    axes = figure.subplots()
    colors = _group_colors(f["group"] for _, f in items)
    positions = range(len(items))
    axes.barh(
        positions,
        [f["accuracy"] for _, f in items],
        color=[colors[f["group"]] for _, f in items],
        height=0.7,
    )
    for position, (_, figures) in zip(positions, items, strict=True):
        axes.text(
            1.01, position, f"{figures['passed']}/{figures['cases']}", va="center", fontsize=7
        )
    axes.set_yticks(list(positions), [name for name, _ in items], fontsize=8)
    axes.axvline(BEHAVIOUR_TARGET, ls="--", color="black", lw=1)
    handles = [Patch(color=color, label=group) for group, color in colors.items()]
    handles.append(
        Line2D([], [], ls="--", color="black", lw=1, label=f"target {BEHAVIOUR_TARGET:.2f}")
    )
    figure.legend(handles=handles, loc="outside lower center", ncols=6, fontsize="small")
    overall = result["overall"]
    axes.set(
        xlim=(0, 1.1),
        ylim=(len(items) - 0.5, -0.5),  # the first group on top, as in the table
        xlabel="Accuracy (passed / cases at the right)",
    )
    axes.set_xticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    axes.grid(axis="x", alpha=0.3)
    figure.suptitle(
        f"{title}: behavioural tests, overall accuracy {overall['accuracy']:.3f} "
        f"({overall['passed']:,}/{overall['cases']:,} cases)"
    )
    return figure


def _failure(failure: dict) -> str:
    text = f"<q>{html.escape(failure['text'])}</q>"
    if failure.get("variant"):
        text += f" → <q>{html.escape(failure['variant'])}</q>"
    return f"<li>{text}<br><small>{html.escape(failure['detail'])}</small></li>"


def _failures_cell(figures: dict) -> str:
    """Up to SHOWN_FAILURES failing cases, folded away so the table stays one line a row."""
    failures = figures["failures"]
    if not failures:
        return ""
    shown = "".join(_failure(f) for f in failures[:SHOWN_FAILURES])
    failed = figures["cases"] - figures["passed"]
    more = f"<li>… {failed - SHOWN_FAILURES:,} more</li>" if failed > SHOWN_FAILURES else ""
    return f"<details><summary>{failed:,} failed</summary><ul>{shown}{more}</ul></details>"


def behaviour_html(result: dict) -> str:
    """The behavioural suite's section: overall accuracy, one row per functionality."""
    items = _ordered_functionalities(result)
    rows = [
        [
            html.escape(figures["group"]),
            html.escape(name),
            html.escape(KIND_NAMES.get(figures["kind"], figures["kind"])),
            format_number(figures["cases"]),
            format_number(figures["passed"]),
            _below(figures["accuracy"], BEHAVIOUR_TARGET),
            _failures_cell(figures),
        ]
        for name, figures in items
    ]
    headers = ["Group", "Functionality", "Kind", "Cases", "Passed", "Accuracy", "Failing cases"]
    overall = result["overall"]
    below = sum(figures["accuracy"] < BEHAVIOUR_TARGET for _, figures in items)
    skipped = result.get("skipped_categories") or []
    skipped_note = (
        f'<p class="note">Skipped categories: {html.escape(", ".join(skipped))}.</p>'
        if skipped
        else ""
    )
    return (
        "<h2>Behavioural tests</h2>"
        f"<p>Overall accuracy <strong>{overall['accuracy']:.3f}</strong> "
        f"({overall['passed']:,} of {overall['cases']:,} cases); {below} of {len(items)} "
        f"functionalities below the {BEHAVIOUR_TARGET:.2f} target (in bold).</p>"
        '<p class="note">The cases are synthetic sentences, generated deterministically (the same '
        "cases every run, so runs compare), and scored at the model's chosen thresholds. MFT: "
        "minimum functionality test, a sentence with a known answer; INV: invariance, a change "
        "that must not change the decision; DIR: directional, a change that must move the score "
        "the expected way.</p>" + _table(headers, rows, left=(1, 2, 6)) + skipped_note
    )


# --- identity-term bias -----------------------------------------------------------------------


def plot_bias(result: dict, title: str) -> Figure:
    """Per identity term (worst BPSN first): its three AUCs as dots, and its FPR as a bar."""
    terms = by_bpsn(result["identities"])
    if not terms:
        return _empty(f"{title}: identity-term bias", "no identity term has enough rows")
    per_term = result["identities"]
    figure = Figure(figsize=(10, 0.32 * len(terms) + 1.8), layout="constrained")
    auc_axes, fpr_axes = figure.subplots(1, 2, sharey=True, width_ratios=(3, 1))
    positions = range(len(terms))
    # Offsets keep equal AUCs (often all 1.0) from hiding one another.
    for offset, (key, header, marker) in zip((-0.2, 0, 0.2), BIAS_AUCS, strict=True):
        defined = [(p + offset, per_term[t][key]) for p, t in zip(positions, terms, strict=True)]
        defined = [(y, x) for y, x in defined if x is not None]
        auc_axes.plot(
            [x for _, x in defined], [y for y, _ in defined], marker, ls="", ms=5, label=header
        )
    aucs = [per_term[t][key] for t in terms for key, _, _ in BIAS_AUCS]
    lowest = min((a for a in aucs if a is not None), default=0.5)
    auc_axes.axvline(BIAS_AUC_TARGET, ls="--", color="black", lw=1)
    auc_axes.set(
        xlim=(min(0.5, lowest - 0.02), 1.01),
        ylim=(len(terms) - 0.5, -0.5),  # the worst term on top
        xlabel="AUC",
    )
    auc_axes.set_yticks(list(positions), [f"{t} (n={per_term[t]['rows']:,})" for t in terms])
    auc_axes.grid(alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize="small")
    fpr_axes.barh(
        list(positions), [per_term[t]["fpr"] or 0.0 for t in terms], color="tab:red", height=0.6
    )
    fpr_axes.set(xlim=(0, 1), xlabel=f"FPR at {result['threshold']:.2f}")
    fpr_axes.grid(axis="x", alpha=0.3)
    figure.suptitle(f"{title}: identity-term bias (dashed: AUC {BIAS_AUC_TARGET:.2f})")
    return figure


def _worst_list(result: dict) -> str:
    per_term = result["identities"]
    named = [
        f"<strong>{html.escape(t)}</strong> (BPSN AUC {format_number(per_term[t]['bpsn_auc'])}, "
        f"FPR {format_number(per_term[t]['fpr'])})"
        for t in result["worst"]
    ]
    return f"<p>Worst identity terms: {', '.join(named)}.</p>" if named else ""


def bias_html(result: dict, heading: str = "Identity-term bias") -> str:
    """The identity-term bias section: what was measured, the worst terms, a table per term.

    ``heading`` tells the sections apart when there is one per category."""
    per_term = result["identities"]
    rows = [
        [
            html.escape(term),
            format_number(per_term[term]["rows"]),
            format_number(per_term[term]["positives"]),
        ]
        + [_below(per_term[term][key], BIAS_AUC_TARGET) for key, _, _ in BIAS_AUCS]
        + [format_number(per_term[term]["fpr"])]
        for term in by_bpsn(per_term)
    ]
    headers = ["Identity term", "Rows", "Toxic"] + [h for _, h, _ in BIAS_AUCS] + ["FPR"]
    summary = result["summary"]
    too_few = result["too_few_rows"]
    too_few_note = (
        f'<p class="note">Too few rows (under {result["min_rows"]:,}) to measure: '
        f"{html.escape(', '.join(too_few))}.</p>"
        if too_few
        else ""
    )
    return (
        f"<h2>{html.escape(heading)}</h2>"
        '<p class="note">After Borkan et al. 2019, per identity term over '
        f"{result['rows']:,} sentences: the subgroup AUC (toxic against non-toxic sentences "
        "about the term), BPSN AUC (its non-toxic sentences against toxic ones about anything "
        "else; low: mentions are over-flagged), BNSP AUC (its toxic sentences against non-toxic "
        "ones elsewhere; low: attacks are missed), and the false positive rate: the share of "
        f"its non-toxic sentences scored at or above the threshold {result['threshold']:.3f}. "
        f"AUCs under {BIAS_AUC_TARGET:.2f} in bold; worst BPSN first.</p>"
        + _worst_list(result)
        + f"<p>Lowest BPSN AUC {format_number(summary['min_bpsn_auc'])} (mean "
        f"{format_number(summary['mean_bpsn_auc'])}); "
        f"highest FPR {format_number(summary['max_fpr'])} "
        f"(mean {format_number(summary['mean_fpr'])}).</p>" + _table(headers, rows) + too_few_note
    )


def bias_skipped_html(reason: str) -> str:
    """The bias section when there are no figures, saying why."""
    return f'<h2>Identity-term bias</h2><p class="note">Not measured: {html.escape(reason)}</p>'
