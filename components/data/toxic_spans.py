"""Toxic Spans (Pavlopoulos et al., SemEval-2021 Task 5 and ACL 2022) -> the canonical form: one
row per post, majority labels of its annotators, and the typed toxic spans they marked as the
row's rationale.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from components.data.annotated import (
    IDENTITY_ATTACK,
    INSULT,
    PROFANITY,
    THREAT,
    TOXIC,
    agreement,
    dataset_folder,
    majority_labels,
    oddities_note,
    soft_labels,
)
from components.data.canonical import DatasetCard
from components.data.tables import Table, canonical_frame, coded, read_csv_table

TOXIC_SPANS_FILES = ("comments.csv", "annotations.csv", "spans.csv")
TOXIC_SPANS_TYPES = ("insult", "profanity", "identity_attack", "threat")
# The annotation tool's span types (and the paper's spelling) -> this dataset's categories.
SPAN_TYPES = {
    "Insult": "insult",
    "Profane/Obscene": "profanity",
    "Identity based Attack": "identity_attack",
    "Identity-based Attack": "identity_attack",
    "Threat": "threat",
    "Other Toxicity": "other",  # evidence of toxic only
}
UNTYPED_SPAN = "toxic"  # a span without a type is evidence of toxic only
BOOLEAN = {"True": True, "False": False}
TOXIC_SPANS_CATEGORIES = [TOXIC, INSULT, PROFANITY, IDENTITY_ATTACK, THREAT]
TOXIC_SPANS_DESCRIPTION = (
    "Civil Comments posts in which crowd annotators marked the character spans that make them "
    "toxic, each span typed insult, profane/obscene, identity-based attack, threat or other "
    "toxicity (Pavlopoulos et al., SemEval-2021 Task 5 and ACL 2022). One row per post. An "
    "annotator found the post toxic by marking a span or by ticking 'all toxic' (the whole "
    "post, no one span); 'not toxic' with no span is a 0; marked spans outweigh a 'not toxic' "
    "tick. insult, profanity, identity_attack and threat: the annotator marked a span of that "
    "type ('other toxicity' counts for toxic only); 'all toxic' alone names no type and is not "
    "counted there. Each label is the majority of the post's annotators (a share of 0.5 or "
    "more), soft_labels the shares, agreement the mean over categories of the share on the "
    "majority side. rationale.evidence: the typed spans, identical ones merged with the number "
    "of annotators who marked them; rationale.annotators: how many of the post's annotators "
    "judged it (marked a span or ticked a box); offsets index the text as Python slices, "
    "text[start:end], end exclusive."
)


def _span_kind(name: str) -> str | None:
    """The category of a span type; a cut-off name ("Insu") is read as the one type it begins."""
    if name == "":
        return UNTYPED_SPAN
    kinds = {kind for full, kind in SPAN_TYPES.items() if full.startswith(name)}
    return kinds.pop() if len(kinds) == 1 else None


def _posts(comments: Table) -> pd.Series:
    """comment_id -> text."""
    ids = comments.frame["comment_id"]
    comments.raise_first(ids == "", lambda index: "no comment_id")
    comments.raise_first(
        ids.duplicated(), lambda index: f"comment_id {ids.iloc[index]!r} appears twice"
    )
    return pd.Series(comments.frame["comment_text"].to_numpy(), index=ids)


def _annotations(table: Table, posts: pd.Series) -> pd.DataFrame:
    """One row per annotation (indexed by its id): the post, the worker and the two ticks."""
    frame = table.frame
    ids, post_ids = frame["annotation"], frame["comment_id"]
    table.raise_first(ids.duplicated(), lambda index: f"annotation {ids.iloc[index]!r} repeats")
    table.raise_first(
        ~post_ids.isin(posts.index),
        lambda index: (
            f"annotation {ids.iloc[index]!r} is of comment_id "
            f"{post_ids.iloc[index]!r}, which comments.csv lacks"
        ),
    )
    return pd.DataFrame(
        {
            "comment_id": post_ids.to_numpy(),
            "worker": frame["worker"].to_numpy(),
            "all_toxic": coded(table, "all toxic", BOOLEAN).to_numpy(dtype=bool),
            "not_toxic": coded(table, "not toxic", BOOLEAN).to_numpy(dtype=bool),
        },
        index=ids.to_numpy(),
    )


def _offsets(table: Table, column: str) -> pd.Series:
    cells = table.frame[column]
    table.raise_first(
        ~cells.str.fullmatch(r"\d+"),
        lambda index: f"{column} {cells.iloc[index]!r} is not a character offset",
    )
    return cells.astype(int)


def _span_bounds(table: Table) -> tuple[pd.Series, pd.Series]:
    """Each span's start and end, kept as given.

    `end` is exclusive: text[start:end] is the span. On the real files 99.6% of spans end
    (text[end - 1]) on a letter or digit and are followed by a space, punctuation or the end of
    the text; and the SemEval-2021 gold offsets (the characters most annotators marked) match
    range(start, end) for far more posts than range(start, end + 1).
    """
    start, end = _offsets(table, "start"), _offsets(table, "end")
    table.raise_first(
        start >= end,
        lambda index: (
            f"the span of annotation {table.frame['annotation'].iloc[index]!r} starts at "
            f"{start.iloc[index]}, not before its end {end.iloc[index]}"
        ),
    )
    return start, end


def _spans(table: Table, annotations: pd.DataFrame, posts: pd.Series) -> pd.DataFrame:
    """One row per span: its annotation, post, kind, offsets and whether it lies in the text.

    The real files hold spans that reach past the end of their post (94; perhaps marked on a
    longer version of it): rather than raised, they are counted on the card.
    """
    frame = table.frame
    ids = frame["annotation"]
    table.raise_first(
        ~ids.isin(annotations.index),
        lambda index: f"a span of annotation {ids.iloc[index]!r}, which annotations.csv lacks",
    )
    kinds = frame["type"].map({name: _span_kind(name) for name in frame["type"].unique()})
    table.raise_first(
        kinds.isna(),
        lambda index: (
            f"span type {frame['type'].iloc[index]!r} is not one of {', '.join(SPAN_TYPES)}"
        ),
    )
    start, end = _span_bounds(table)
    post_ids = ids.map(annotations["comment_id"])
    return pd.DataFrame(
        {
            "annotation": ids,
            "comment_id": post_ids,
            "type": frame["type"],
            "kind": kinds,
            "start": start,
            "end": end,
            "in_text": end <= post_ids.map(posts.str.len()),
        }
    )


def _judged(annotations: pd.DataFrame, spans: pd.DataFrame) -> pd.Series:
    """Per annotation: did it judge the post (mark a span, or tick either box)?"""
    ticked = annotations["all_toxic"] | annotations["not_toxic"]
    return ticked | annotations.index.isin(spans["annotation"])


def _toxic_spans_shares(annotations: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """Per post and category, the share of its annotators who found the category.

    An annotator found a post toxic by marking a span, or by ticking "all toxic" (no one span
    is to blame: the whole post is) without ticking "not toxic"; "not toxic" without a span is
    a 0 for every category. Marked spans win over a "not toxic" tick. Someone who ticked only
    "all toxic" named no type, and someone who marked and ticked nothing said nothing at all:
    they are not counted where they gave no judgement.
    """
    has_span = annotations.index.isin(spans["annotation"])
    not_toxic = annotations["not_toxic"].to_numpy() & ~has_span
    all_toxic = annotations["all_toxic"].to_numpy() & ~annotations["not_toxic"].to_numpy()
    all_toxic &= ~has_span
    typed = pd.get_dummies(spans["kind"]).groupby(spans["annotation"]).any()
    votes = typed.reindex(index=annotations.index, columns=TOXIC_SPANS_TYPES, fill_value=False)
    votes.insert(0, "toxic", has_span | all_toxic)
    judged_types = has_span | not_toxic
    counted = pd.DataFrame(
        {
            "toxic": _judged(annotations, spans).to_numpy(),
            **dict.fromkeys(TOXIC_SPANS_TYPES, judged_types),
        },
        index=annotations.index,
    )
    return votes.astype(float).where(counted).groupby(annotations["comment_id"]).mean()


def _evidence(spans: pd.DataFrame, judges: pd.Series) -> dict[str, dict]:
    """comment_id -> rationale: the spans in the text, identical ones merged and counted, and
    ``judges``' count of the post's annotators who judged it (the spans' shares are of them)."""
    merged = (
        spans[spans["in_text"]]
        .groupby(["comment_id", "start", "end", "kind"])["annotation"]
        .nunique()
        .reset_index()
    )
    evidence = {post: [] for post in judges.index}
    for span in merged.itertuples(index=False):
        evidence[span.comment_id].append(
            {"start": span.start, "end": span.end, "type": span.kind, "annotators": span.annotation}
        )
    return {
        post: {"evidence": found} | ({"annotators": int(judges[post])} if judges[post] else {})
        for post, found in evidence.items()
    }


def _read_toxic_spans(folder: Path) -> tuple[pd.Series, pd.DataFrame, pd.DataFrame]:
    """The posts (comment_id -> text), every annotation and every span, each checked."""
    folder = dataset_folder(folder, TOXIC_SPANS_FILES)
    comments, annotations, spans = (read_csv_table(folder / name) for name in TOXIC_SPANS_FILES)
    comments.require(["comment_id", "comment_text"])
    annotations.require(["annotation", "comment_id", "worker", "all toxic", "not toxic"])
    spans.require(["annotation", "type", "start", "end"])
    posts = _posts(comments)
    annotations = _annotations(annotations, posts)
    return posts, annotations, _spans(spans, annotations, posts)


def _toxic_spans_oddities(
    annotations: pd.DataFrame, spans: pd.DataFrame, repeated: int, unannotated: int
) -> dict[str, int]:
    untyped = spans["type"] == ""
    no_tick = ~annotations[["all_toxic", "not_toxic"]].any(axis=1)
    return {
        "repeated annotations of a post by one worker (the first counts)": repeated,
        "annotations with no span and no tick (not counted)": (
            no_tick & ~annotations.index.isin(spans["annotation"])
        ).sum(),
        "posts without annotations (left out)": unannotated,
        "spans with no type (evidence of toxic only)": untyped.sum(),
        "spans with a cut-off type name (read as the one type it begins)": (
            ~untyped & ~spans["type"].isin(list(SPAN_TYPES))
        ).sum(),
        "spans that reach past the end of their post (they count in the labels but are left "
        "out of the evidence)": (~spans["in_text"]).sum(),
    }


def import_toxic_spans(folder: Path) -> tuple[DatasetCard, pd.DataFrame]:
    posts, annotations, spans = _read_toxic_spans(folder)
    repeated = annotations.duplicated(["comment_id", "worker"])  # a worker's first judgement
    annotations = annotations[~repeated]
    spans = spans[spans["annotation"].isin(annotations.index)]
    shares = _toxic_spans_shares(annotations, spans)
    annotated_posts = posts.index[posts.index.isin(shares.index)]
    shares = shares.loc[annotated_posts]
    judges = _judged(annotations, spans).groupby(annotations["comment_id"]).sum()
    evidence = _evidence(spans, judges.loc[annotated_posts])
    frame = canonical_frame(
        [f"toxic-spans-{post}" for post in annotated_posts],
        posts.loc[annotated_posts].tolist(),
        majority_labels(shares),
        "toxic-spans",
        agreement=agreement(shares),
        soft_labels=soft_labels(shares),
        rationale=[evidence[post] for post in annotated_posts],
    )
    oddities = _toxic_spans_oddities(
        annotations, spans, repeated.sum(), len(posts) - len(annotated_posts)
    )
    card = DatasetCard(
        name="toxic-spans",
        source="toxic-spans",
        description=TOXIC_SPANS_DESCRIPTION + oddities_note(oddities),
        categories=TOXIC_SPANS_CATEGORIES,
    )
    return card, frame
