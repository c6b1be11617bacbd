"""Public datasets with one given label per text -> the canonical form: the SMS Spam Collection
and the identity-term bias madlibs (an evaluation set).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from components.data.annotated import TOXIC, oddities_note
from components.data.canonical import Category, DatasetCard, load_taxonomy, read_text
from components.data.tables import Table, canonical_frame, coded, read_csv_table
from components.errors import ModpipeError

# --- SMS Spam Collection ----------------------------------------------------------------------

SMS_LABELS = {"ham": 0, "spam": 1}


def _policy_spam() -> Category:
    """configs/taxonomy.yaml's spam: the collection's spam is the policy's."""
    return load_taxonomy().subset(["spam"]).categories[0]


def _sms_lines(path: Path) -> tuple[list[str], int]:
    """The message lines and the line number of the first (2 after a header row)."""
    text = read_text(path)
    if not text.strip():
        raise ModpipeError(f"{path}: the file is empty")
    # split on \n only: splitlines() would also break a message at U+2028 or a form feed
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    if lines[0].partition("\t")[0].strip().lower() != "label":  # the UCI original: no header
        return lines, 1
    if len(lines) == 1:
        raise ModpipeError(f"{path}: a header but no rows")
    return lines[1:], 2


def import_sms_spam(path: Path) -> tuple[DatasetCard, pd.DataFrame]:
    lines, first = _sms_lines(Path(path))
    labels, texts = [], []
    for number, line in enumerate(lines, start=first):
        label, tab, text = line.partition("\t")
        if not tab:
            raise ModpipeError(f"{path}, line {number}: no tab between the label and the text")
        if label not in SMS_LABELS:
            raise ModpipeError(f"{path}, line {number}: label {label!r}, expected 'ham' or 'spam'")
        labels.append(SMS_LABELS[label])
        texts.append(text)
    # ids number the messages, i.e. the lines of the original file, with or without a header
    ids = [f"sms-spam-{n}" for n in range(1, len(texts) + 1)]
    card = DatasetCard(
        name="sms-spam",
        source="sms-spam",
        description="SMS messages labelled spam or ham (legitimate), one a line, tab-separated "
        "(the SMS Spam Collection v1, Almeida, Gomez Hidalgo and Yamakami 2011, UCI Machine "
        "Learning Repository). Ids number the messages: sms-spam-N is line N of the original "
        "file, which has no header row.",
        categories=[_policy_spam()],
    )
    return card, canonical_frame(ids, texts, {"spam": labels}, "sms-spam")


# --- identity-term bias madlibs ---------------------------------------------------------------

MADLIBS_LABELS = {"BAD": 1, "NOT_BAD": 0}
# Dixon et al. 2018's identity terms (the generator's adjectives_people list); the generator
# spells one "millenial".
IDENTITY_TERMS = (
    "lesbian", "gay", "bisexual", "transgender", "trans", "queer", "lgbt", "lgbtq", "homosexual",
    "straight", "heterosexual", "male", "female", "nonbinary", "african", "african american",
    "black", "white", "european", "hispanic", "latino", "latina", "latinx", "mexican",
    "canadian", "american", "asian", "indian", "middle eastern", "chinese", "japanese",
    "christian", "muslim", "jewish", "buddhist", "catholic", "protestant", "sikh", "taoist",
    "old", "older", "young", "younger", "teenage", "millennial", "millenial", "middle aged",
    "elderly", "blind", "deaf", "paralyzed",
)  # fmt: skip
SPELLINGS = {"millenial": "millennial"}
# Longest first, so "african american" wins over "american"; whole words only.
IDENTITY_PATTERN = re.compile(
    r"\b(?:" + "|".join(map(re.escape, sorted(IDENTITY_TERMS, key=len, reverse=True))) + r")\b",
    re.IGNORECASE,
)
# "You are a {adjective} {occupation}": sentences about an occupation, with no identity term.
TEMPLATES_WITHOUT_IDENTITY = ("you_occupation",)


def _identity(table: Table, index: int) -> str | None:
    row = table.rows[index]
    terms = {m.lower() for m in IDENTITY_PATTERN.findall(row["Text"])}
    terms = sorted({SPELLINGS.get(term, term) for term in terms})
    if len(terms) > 1:
        raise table.error(index, f"the text names more than one identity term ({', '.join(terms)})")
    if not terms and row["Template"] not in TEMPLATES_WITHOUT_IDENTITY:
        raise table.error(index, "the text names none of the identity terms")
    return terms[0] if terms else None


def import_bias_madlibs(path: Path) -> tuple[DatasetCard, pd.DataFrame]:
    table = read_csv_table(path)
    table.require(["Text", "Label", "Template"])
    labels = coded(table, "Label", MADLIBS_LABELS).tolist()
    identities = [_identity(table, index) for index in range(len(table.rows))]
    ids = [f"bias-madlibs-{n}" for n in range(1, len(table.rows) + 1)]
    without = sum(identity is None for identity in identities)
    card = DatasetCard(
        name="bias-madlibs",
        source="bias-madlibs",
        description="For evaluation only, never for training: templated sentences that differ "
        "only in an identity term, to measure identity-term bias (Dixon et al., AIES 2018; "
        "subgroup, BPSN and BNSP AUCs of Borkan et al. 2019). toxic: the set's BAD label. "
        "identity: the identity term the sentence names (the longest match, e.g. 'african "
        "american' over 'american')."
        + oddities_note({"sentences about an occupation, with no identity term": without}),
        categories=[TOXIC],
    )
    frame = canonical_frame(
        ids, table.frame["Text"].tolist(), {"toxic": labels}, "bias-madlibs", identity=identities
    )
    return card, frame
