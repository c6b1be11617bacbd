"""ConvAbuse (Cercas Curry et al., EMNLP 2021) -> the canonical form: one row per user message
to a conversational agent, majority labels of its annotators, and the turns before it as its
context.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from components.data.annotated import (
    IDENTITY_ATTACK,
    MAJORITY,
    agreement,
    dataset_folder,
    majority_labels,
    oddities_note,
    soft_labels,
)
from components.data.canonical import Category, DatasetCard
from components.data.tables import Table, canonical_frame, coded, read_csv_table

CONVABUSE_FILE = "ConvAbuseEMNLPfull.csv"  # one row per (example, annotator)
RATINGS = {f"is_abuse.{rating}": rating for rating in (1, 0, -1, -2, -3)}
BINARY = {"0": 0, "1": 1}
# An example is its conversation and turns: example_no numbers the file's rows, not examples.
EXAMPLE = ["conv_id", "prev_agent", "prev_user", "agent", "user"]
TURNS = {"prev_agent": "agent", "prev_user": "user", "agent": "agent"}  # before `user`, in order
# ConvAbuse's abuse types -> this dataset's categories (an annotator ticks types only after
# rating a message abusive).
CONVABUSE_TYPES = {
    "sexual_harassment": ["type.sex_harassment"],
    "identity_attack": [
        "type.ableism",
        "type.homophobic",
        "type.racist",
        "type.sexist",
        "type.transphobic",
    ],
    "intellectual_insult": ["type.intellectual"],
}
CONVABUSE_CATEGORIES = [
    Category(
        name="abuse",
        description="Abusive language: a message that insults, demeans, harasses or threatens "
        "the conversational agent or other people, mildly, strongly or very strongly.",
        severity="medium",
    ),
    Category(
        name="severe_abuse",
        description="Strongly or very strongly abusive language: a message that viciously "
        "insults, degrades, sexually harasses or threatens the agent or other people.",
        severity="high",
    ),
    Category(
        name="sexual_harassment",
        description="Sexual harassment: unwanted sexual remarks, requests, advances or "
        "sexualised insults aimed at the agent or a person.",
        severity="high",
    ),
    IDENTITY_ATTACK,
    Category(
        name="intellectual_insult",
        description="An insult to someone's intelligence or competence: calling the agent or a "
        "person stupid, dumb, useless or ignorant.",
        severity="low",
    ),
]
CONVABUSE_DESCRIPTION = (
    "Users' messages to two conversational agents (CarbonBot and E.L.I.Z.A.), each rated by "
    "several annotators from 1 (not abusive) through 0 (ambiguous) to -1..-3 (mildly to very "
    "strongly abusive), with the agent and user turns before it in context (Cercas Curry et "
    "al., EMNLP 2021). One row per example (a conversation's turns); its id is the example_no "
    "of its first annotation. abuse: most annotators rated it -1 to -3 (ambiguous counts as not "
    "abusive; half is a majority); severe_abuse: most rated it -2 or -3. Annotators typed only "
    "the messages they rated abusive, so a type is 0 where most found the message not abusive, "
    "else the majority of the abusive raters: sexual_harassment (sex_harassment), "
    "identity_attack (ableism, homophobic, racist, sexist or transphobic), intellectual_insult "
    "(intellectual). soft_labels: the share of all the example's annotators (for a type, those "
    "who rated it abusive and gave that type); agreement: the share on the majority side of "
    "abuse."
)


def _ratings(table: Table) -> pd.Series:
    """Each row's is_abuse rating (1 .. -3): exactly one of the five columns holds a 1."""
    ticks = pd.DataFrame({column: coded(table, column, BINARY) for column in RATINGS})
    count = ticks.sum(axis=1)
    table.raise_first(count == 0, lambda index: f"no is_abuse rating ({', '.join(RATINGS)})")
    table.raise_first(count > 1, lambda index: "more than one is_abuse rating")
    return ticks.idxmax(axis=1).map(RATINGS)


def _convabuse_votes(table: Table) -> pd.DataFrame:
    """Per annotation row: its example and annotator, and a 0/1 vote per category."""
    ratings = _ratings(table)
    ticked = {
        name: pd.concat([coded(table, c, BINARY) for c in columns], axis=1).any(axis=1)
        for name, columns in CONVABUSE_TYPES.items()
    }
    return pd.DataFrame(
        {
            # numbered in order of first appearance: example k starts at the k-th new example
            "example": table.frame.groupby(EXAMPLE, sort=False).ngroup(),
            "annotator": table.frame["annotator_id"],
            "abuse": ratings <= -1,
            "severe_abuse": ratings <= -2,
            **ticked,
        }
    )


def _convabuse_decisions(votes: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per example: the shares (soft labels) and the shares the labels are decided on."""
    categories = [c.name for c in CONVABUSE_CATEGORIES]
    types = list(CONVABUSE_TYPES)
    counted = votes[categories].astype(float)
    counted[types] = counted[types].mul(counted["abuse"], axis=0)  # only ticks after "abusive"
    by_example = counted.groupby(votes["example"])
    shares = by_example.mean()
    among_abusive = by_example[types].sum().div(by_example["abuse"].sum(), axis=0)
    decided = shares[["abuse", "severe_abuse"]].join(
        among_abusive.where(shares["abuse"] >= MAJORITY, 0.0)
    )
    return shares, decided


def _context(row: dict) -> list[dict[str, str]]:
    return [
        {"speaker": speaker, "text": row[column]}
        for column, speaker in TURNS.items()
        if row[column].strip()
    ]


def import_convabuse(folder: Path) -> tuple[DatasetCard, pd.DataFrame]:
    table = read_csv_table(dataset_folder(folder, (CONVABUSE_FILE,)) / CONVABUSE_FILE)
    type_columns = [column for columns in CONVABUSE_TYPES.values() for column in columns]
    table.require(["example_no", "annotator_id", *EXAMPLE, *RATINGS, *type_columns])
    votes = _convabuse_votes(table)
    repeated = votes.duplicated(["example", "annotator"])  # an annotator's first rating counts
    ignored_ticks = votes.loc[~repeated & ~votes["abuse"], list(CONVABUSE_TYPES)].any(axis=1)
    shares, decided = _convabuse_decisions(votes[~repeated])
    first_rows = [table.rows[i] for i in np.flatnonzero(~votes["example"].duplicated())]
    frame = canonical_frame(
        [f"convabuse-{row['example_no']}" for row in first_rows],
        [row["user"] for row in first_rows],
        majority_labels(decided),
        "convabuse",
        agreement=agreement(shares[["abuse"]]),
        soft_labels=soft_labels(shares),
        context=[_context(row) or None for row in first_rows],
    )
    oddities = {
        "repeated ratings of an example by one annotator (the first counts)": repeated.sum(),
        "type ticks by annotators who did not rate the message abusive (not counted)": (
            ignored_ticks.sum()
        ),
    }
    card = DatasetCard(
        name="convabuse",
        source="convabuse",
        description=CONVABUSE_DESCRIPTION + oddities_note(oddities),
        categories=CONVABUSE_CATEGORIES,
    )
    return card, frame
