"""The toxic-spans, convabuse, sms-spam and bias-madlibs formats: hand-made fixtures (made-up,
benign texts), the real files where ../shared/data has them, and every kind of bad input.

Assertions on the real files compare ids and counts, never texts: the texts are real abuse.
"""

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
from importer_fixtures import write_fixtures

from components.config import ValidationSettings
from components.data.canonical import REPO_ROOT, read_dataset, write_dataset
from components.data.importers import FORMATS, import_dataset
from components.data.validate import validate_frame
from components.errors import ModpipeError

FIXTURES = write_fixtures(Path(tempfile.mkdtemp(prefix="importer-fixtures-")))
atexit.register(shutil.rmtree, FIXTURES, ignore_errors=True)
FIXTURE_SOURCES = {
    "toxic-spans": FIXTURES / "toxic_spans",
    "convabuse": FIXTURES / "convabuse",
    "sms-spam": FIXTURES / "SMSSpamCollection",
    "bias-madlibs": FIXTURES / "bias_madlibs_sample.csv",
}
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"
REAL_SOURCES = {
    "toxic-spans": SHARED_DATA / "toxic-spans",
    "convabuse": SHARED_DATA / "convabuse",
    "sms-spam": SHARED_DATA / "sms-spam" / "SMSSpamCollection",
    "bias-madlibs": SHARED_DATA / "bias-madlibs" / "bias_madlibs_77k.csv",
}
CONVABUSE_FILE = "ConvAbuseEMNLPfull.csv"


def labels(frame: pd.DataFrame, category: str) -> list:
    return [None if pd.isna(v) else int(v) for v in frame[f"label_{category}"]]


def imported(fmt: str) -> tuple:
    return import_dataset(fmt, FIXTURE_SOURCES[fmt])


def copy_fixture(tmp_path: Path, fmt: str) -> Path:
    """A copy of the format's fixture (file or folder) in tmp_path, to break."""
    source = FIXTURE_SOURCES[fmt]
    target = tmp_path / source.name
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy(source, target)
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"the fixture {path.name} has no {old!r}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def expect_error(fmt: str, source: Path, *fragments: str) -> str:
    with pytest.raises(ModpipeError) as caught:
        import_dataset(fmt, source)
    message = str(caught.value)
    assert "\n" not in message, f"not one line: {message!r}"
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the error message: {message}"
    return message


def test_the_four_formats_are_offered():
    assert {"toxic-spans", "convabuse", "sms-spam", "bias-madlibs"} <= set(FORMATS)


# --- toxic-spans -------------------------------------------------------------------------------


def test_toxic_spans_one_row_per_annotated_post_with_majority_labels():
    card, frame = imported("toxic-spans")
    assert card.names == ["toxic", "insult", "profanity", "identity_attack", "threat"]
    assert frame["id"].tolist() == [f"toxic-spans-{n}" for n in (101, 102, 103, 104, 105)]
    assert labels(frame, "toxic") == [1, 1, 1, 1, 1]  # 102: a tie (2 of 4) is a 1
    assert labels(frame, "insult") == [1, 0, 0, 0, None]
    assert labels(frame, "profanity") == [0, 0, 0, 0, None]
    assert labels(frame, "identity_attack") == [0, 0, 1, 0, None]
    assert labels(frame, "threat") == [0, 0, 0, 0, None]
    assert frame["soft_labels"][0] == {
        "toxic": 0.6667,
        "insult": 0.6667,
        "profanity": 0.3333,
        "identity_attack": 0.0,
        "threat": 0.0,
    }
    assert frame["agreement"].tolist() == [0.8, 0.8333, 0.8667, 0.9333, 1.0]


def test_toxic_spans_ticks_and_silences():
    _, frame = imported("toxic-spans")
    soft = frame.set_index("id")["soft_labels"]
    # 102: "all toxic" counts for toxic only; two "not toxic" ticks and a threat span
    assert soft["toxic-spans-102"]["toxic"] == 0.5 and soft["toxic-spans-102"]["threat"] == 0.3333
    # 103: both boxes ticked is not toxic; the worker's second annotation is not counted
    assert soft["toxic-spans-103"]["toxic"] == 0.6667 and soft["toxic-spans-103"]["insult"] == 0
    # 104: the annotator who marked and ticked nothing is left out (3 judges, not 4)
    assert soft["toxic-spans-104"]["insult"] == 0.3333
    # 105: only "all toxic" ticks, so no one named a type: the types are unknown
    assert soft["toxic-spans-105"] == {"toxic": 1.0}


def test_toxic_spans_evidence_is_merged_typed_and_exact():
    _, frame = imported("toxic-spans")
    rows = frame.set_index("id")
    evidence = {post: rows.loc[post, "rationale"]["evidence"] for post in rows.index}
    assert evidence["toxic-spans-101"] == [
        {"start": 10, "end": 21, "type": "insult", "annotators": 2},  # one worker marked it twice
        {"start": 31, "end": 38, "type": "profanity", "annotators": 1},
    ]
    # the tool's and the paper's spellings of the type are one type
    assert evidence["toxic-spans-103"] == [
        {"start": 0, "end": 37, "type": "identity_attack", "annotators": 2}
    ]
    # an untyped span is evidence of toxic, a cut-off "Insu" is an insult, one past the end is out
    assert evidence["toxic-spans-104"] == [
        {"start": 16, "end": 29, "type": "toxic", "annotators": 1},
        {"start": 23, "end": 29, "type": "insult", "annotators": 1},
    ]
    assert evidence["toxic-spans-105"] == []
    # the annotators who judged each post, of whom the spans' annotators are a share: 103's
    # repeated worker is left out, and so is 104's who marked and ticked nothing
    judged = {post[-3:]: rows.loc[post, "rationale"]["annotators"] for post in rows.index}
    assert judged == {"101": 3, "102": 4, "103": 3, "104": 3, "105": 2}
    assert rows.loc["toxic-spans-101", "text"][10:21] == "silly goose"
    assert rows.loc["toxic-spans-102", "text"][29:61] == "I will throw this soggy sandwich"


def test_toxic_spans_card_counts_what_it_handles():
    card, frame = imported("toxic-spans")
    for counted in (
        "repeated annotations of a post by one worker (the first counts): 1",
        "annotations with no span and no tick (not counted): 1",
        "posts without annotations (left out): 1",
        "spans with no type (evidence of toxic only): 1",
        "spans with a cut-off type name (read as the one type it begins): 1",
        "left out of the evidence): 1",
    ):
        assert counted in card.description
    assert "end exclusive" in card.description
    severities = {c.name: c.severity for c in card.categories}
    assert severities["identity_attack"] == severities["threat"] == "high"
    assert all(len(c.description) > 40 for c in card.categories)
    assert frame["text"][1].startswith('He said "lunch" twice,\nthen')  # a quoted multi-line cell


# --- convabuse ---------------------------------------------------------------------------------


def test_convabuse_one_row_per_example_with_majority_labels():
    card, frame = imported("convabuse")
    assert card.names == [
        "abuse",
        "severe_abuse",
        "sexual_harassment",
        "identity_attack",
        "intellectual_insult",
    ]
    # an example is its conversation turns, its id the example_no of its first row
    assert frame["id"].tolist() == ["convabuse-0", "convabuse-2", "convabuse-4", "convabuse-8"]
    assert frame["text"].tolist() == [
        "you are a bit slow today",
        "tell me a cheeky secret",
        'people from the moon say "hi" too much',
        "yes",
    ]
    assert labels(frame, "abuse") == [1, 1, 0, 0]  # 2 of 3; a tie (ambiguous and -3); 1 of 3
    assert labels(frame, "severe_abuse") == [0, 1, 0, 0]
    assert labels(frame, "intellectual_insult") == [1, 0, 0, 0]
    assert frame["agreement"].tolist() == [0.6667, 0.5, 0.6667, 1.0]
    assert frame["soft_labels"][0] == {
        "abuse": 0.6667,
        "severe_abuse": 0.3333,
        "sexual_harassment": 0.0,
        "identity_attack": 0.0,
        "intellectual_insult": 0.6667,
    }


def test_convabuse_types_count_only_after_an_abusive_rating():
    card, frame = imported("convabuse")
    # example 0: a non-abusive rater ticked sexual harassment; example 4: abuse is no majority
    assert labels(frame, "sexual_harassment") == [0, 1, 0, 0]
    assert labels(frame, "identity_attack") == [0, 1, 0, 0]
    assert frame["soft_labels"][2]["identity_attack"] == 0.3333
    assert "the first counts): 1" in card.description  # Annotator1 rated example 4 twice
    assert "did not rate the message abusive (not counted): 1" in card.description
    assert "ambiguous counts as not abusive" in card.description


def test_convabuse_context_is_the_earlier_turns_in_order():
    _, frame = imported("convabuse")
    assert frame["context"][0] == [
        {"speaker": "agent", "text": "Hello, how can I help?"},
        {"speaker": "user", "text": "what time is it"},
        {"speaker": "agent", "text": "I do not know the time."},
    ]
    assert frame["context"][1] == [{"speaker": "agent", "text": "Hi, I am a chatbot."}]


# --- sms-spam and bias-madlibs -----------------------------------------------------------------


def test_sms_every_line_is_one_row_quotes_and_all():
    card, frame = imported("sms-spam")
    assert card.names == ["spam"] and card.categories[0].severity == "low"
    assert frame["id"].tolist() == [f"sms-spam-{n}" for n in range(1, 7)]
    assert labels(frame, "spam") == [0, 1, 0, 0, 1, 0]
    assert frame["text"][0] == 'See you at the "usual" place at 6'
    assert frame["text"][2] == '"Quoted start without an end'
    assert frame["text"][5] == "  leading spaces are kept"


@pytest.mark.parametrize("line_end", ["\n", "\r\n"])
def test_sms_reads_the_original_headerless_file_alike(tmp_path, line_end):
    lines = FIXTURE_SOURCES["sms-spam"].read_text(encoding="utf-8").splitlines()[1:]
    original = tmp_path / "SMSSpamCollection"
    original.write_bytes(line_end.join(lines).encode("utf-8"))  # and no newline at the end
    _, frame = import_dataset("sms-spam", original)
    pd.testing.assert_frame_equal(frame, imported("sms-spam")[1])


def test_madlibs_identity_terms_longest_match_and_labels():
    card, frame = imported("bias-madlibs")
    assert card.names == ["toxic"] and "evaluation only" in card.description.lower()
    assert frame["id"].tolist() == [f"bias-madlibs-{n}" for n in range(1, 9)]
    assert labels(frame, "toxic") == [0, 1, 0, 0, 0, 1, 0, 0]
    identities = [None if pd.isna(i) else i for i in frame["identity"]]
    assert identities == [
        "african american",
        "american",
        "millennial",  # spelt "millenial" in the set
        None,  # an occupation sentence
        "middle eastern",
        "transgender",
        "lgbtq",
        "older",
    ]
    assert "with no identity term: 1" in card.description


# --- the new row fields on disk ----------------------------------------------------------------


@pytest.mark.parametrize("fmt", FIXTURE_SOURCES)
def test_round_trip_keeps_every_field(tmp_path, fmt):
    card, frame = imported(fmt)
    card_back, frame_back = read_dataset(write_dataset(tmp_path / "ds", card, frame))
    assert card_back == card
    pd.testing.assert_frame_equal(frame_back, frame)
    for field in ("rationale", "context", "soft_labels", "identity"):
        if field in frame:
            assert frame_back[field].tolist() == frame[field].tolist()


def test_rows_keep_a_fixed_key_order(tmp_path):
    card, frame = imported("toxic-spans")
    first = (write_dataset(tmp_path / "spans", card, frame) / "rows.jsonl").open().readline()
    assert list(json.loads(first)) == [
        "id",
        "text",
        "labels",
        "source",
        "agreement",
        "soft_labels",
        "rationale",
    ]
    card, frame = imported("convabuse")
    first = (write_dataset(tmp_path / "conv", card, frame) / "rows.jsonl").open().readline()
    assert list(json.loads(first))[-2:] == ["soft_labels", "context"]
    card, frame = imported("bias-madlibs")
    lines = (write_dataset(tmp_path / "bias", card, frame) / "rows.jsonl").read_text().split("\n")
    assert list(json.loads(lines[0]))[-1] == "identity"
    assert "identity" not in json.loads(lines[3])  # the occupation sentence has none


# --- bad input ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["toxic-spans", "convabuse"])
def test_folder_formats_want_a_folder(tmp_path, fmt):
    expect_error(fmt, tmp_path / "absent", "absent", "no such folder")
    expect_error(fmt, FIXTURE_SOURCES["sms-spam"], "is a file", "expected a folder")


@pytest.mark.parametrize(
    "fmt, name",
    [
        ("toxic-spans", "comments.csv"),
        ("toxic-spans", "annotations.csv"),
        ("toxic-spans", "spans.csv"),
        ("convabuse", CONVABUSE_FILE),
    ],
)
def test_a_missing_file_of_the_folder_is_named(tmp_path, fmt, name):
    folder = copy_fixture(tmp_path, fmt)
    (folder / name).unlink()
    expect_error(fmt, folder, name, "no such file")


@pytest.mark.parametrize(
    "fmt, name",
    [("toxic-spans", "comments.csv"), ("toxic-spans", "spans.csv"), ("convabuse", CONVABUSE_FILE)],
)
def test_an_empty_file_of_the_folder(tmp_path, fmt, name):
    """(test_importers.py tries an empty file on the single-file formats.)"""
    folder = copy_fixture(tmp_path, fmt)
    (folder / name).write_text("")
    expect_error(fmt, folder, name, "empty")


@pytest.mark.parametrize(
    "fmt, name, column",
    [
        ("toxic-spans", "comments.csv", "comment_text"),
        ("toxic-spans", "annotations.csv", "not toxic"),
        ("toxic-spans", "spans.csv", "end"),
        ("convabuse", CONVABUSE_FILE, "is_abuse.-2"),
        ("convabuse", CONVABUSE_FILE, "type.sex_harassment"),
        ("bias-madlibs", None, "Template"),
    ],
)
def test_a_missing_column_is_named(tmp_path, fmt, name, column):
    source = copy_fixture(tmp_path, fmt)
    path = source / name if name else source
    edit(path, column, "renamed")
    expect_error(fmt, source, path.name, "no column", repr(column))


@pytest.mark.parametrize(
    "name, old, new, problem",
    [
        ("spans.csv", "11,Insult,29,48", "99,Insult,29,48", ["line 9", "'99'", "annotations.csv"]),
        ("spans.csv", "11,Insult,29,48", "11,Sarcasm,29,48", ["line 9", "'Sarcasm'", "Threat"]),
        ("spans.csv", "11,Insult,29,48", "11,Insult,2x,48", ["line 9", "'2x'", "offset"]),
        ("spans.csv", "11,Insult,29,48", "11,Insult,,48", ["line 9", "start ''"]),
        ("spans.csv", "11,Insult,29,48", "11,Insult,48,29", ["line 9", "'11'", "48", "29"]),
        ("spans.csv", "11,Insult,29,48", "11,Insult,29,29", ["line 9", "not before"]),
        ("annotations.csv", "11,103,12", "11,999,12", ["line 12", "'999'", "comments.csv"]),
        ("annotations.csv", "11,103,12", "10,103,12", ["line 12", "'10'", "repeats"]),
        ("annotations.csv", "10,103,13,BBB,True", "10,103,13,BBB,yes", ["line 11", "'yes'"]),
        ("comments.csv", "104,Well", "103,Well", ["line 6", "'103'", "twice"]),
    ],
)
def test_bad_toxic_spans_rows_name_file_and_line(tmp_path, name, old, new, problem):
    folder = copy_fixture(tmp_path, "toxic-spans")
    edit(folder / name, old, new)
    expect_error("toxic-spans", folder, name, *problem)


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ("E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,1", "E.L.I.Z.A.,0,0,0,0,0,0,0,0,0,0,1", "no is_abuse"),
        ("E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,1", "E.L.I.Z.A.,1,1,0,0,0,0,0,0,0,0,1", "more than one"),
        ("E.L.I.Z.A.,1,0,0,0,0,0,0,0,0,0,1", "E.L.I.Z.A.,,0,0,0,0,0,0,0,0,0,1", "'is_abuse.1'"),
    ],
)
def test_bad_convabuse_ratings_name_the_line(tmp_path, old, new, problem):
    folder = copy_fixture(tmp_path, "convabuse")
    edit(folder / CONVABUSE_FILE, old, new)
    expect_error("convabuse", folder, CONVABUSE_FILE, "line 12", problem)


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ("ham\tOkay then", "ham Okay then", "no tab"),
        ("ham\tOkay then", "maybe\tOkay then", "'maybe'"),
        ("ham\tOkay then", "\nham\tOkay then", "no tab"),  # a blank line is no message
    ],
)
def test_bad_sms_lines_are_named(tmp_path, old, new, problem):
    path = copy_fixture(tmp_path, "sms-spam")
    edit(path, old, new)
    expect_error("sms-spam", path, "SMSSpamCollection", "line 5", problem)


def test_sms_header_without_messages(tmp_path):
    path = tmp_path / "SMSSpamCollection"
    path.write_text("Label\tSMS\n")
    expect_error("sms-spam", path, "SMSSpamCollection", "no rows")


@pytest.mark.parametrize(
    "old, new, problem",
    [
        ('is nice.",NOT_BAD', 'is nice.",MAYBE', ["'MAYBE'", "'BAD' or 'NOT_BAD'"]),
        ("african american is nice", "a person is nice", ["none of the identity terms"]),
        ("african american is nice", "gay and deaf is nice", ["more than one", "deaf, gay"]),
    ],
)
def test_bad_madlibs_rows_name_the_line(tmp_path, old, new, problem):
    path = copy_fixture(tmp_path, "bias-madlibs")
    edit(path, old, new)
    expect_error("bias-madlibs", path, path.name, "line 2", *problem)


# --- the real files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real():
    """import_dataset of a real file, read once per module; skips where the file is absent."""
    done = {}

    def load(fmt: str):
        source = REAL_SOURCES[fmt]
        if not source.exists():
            pytest.skip(f"real data not found at {source} (it lives in ../shared/data)")
        if fmt not in done:
            done[fmt] = import_dataset(fmt, source)
        return done[fmt]

    return load


def label_frame(card, frame) -> pd.DataFrame:
    return frame[[f"label_{name}" for name in card.names]]


def positives(card, frame) -> dict[str, int]:
    return {name: int(frame[f"label_{name}"].sum()) for name in card.names}


def test_real_toxic_spans_rows_and_labels(real):
    card, frame = real("toxic-spans")
    annotations = pd.read_csv(REAL_SOURCES["toxic-spans"] / "annotations.csv", dtype=str)
    assert len(frame) == annotations["comment_id"].nunique() == 16_100
    assert frame["id"].is_unique
    assert label_frame(card, frame).notna().all().all()
    assert positives(card, frame) == {
        "toxic": 11_627,
        "insult": 8_454,
        "profanity": 523,
        "identity_attack": 396,
        "threat": 131,
    }
    assert frame["agreement"].between(0.5, 1).all()
    assert frame["agreement"].mean() == pytest.approx(0.887, abs=0.001)
    assert "past the end of their post" in card.description and ": 94." in card.description


def test_real_toxic_spans_evidence_keeps_the_offsets(real):
    _, frame = real("toxic-spans")
    folder = REAL_SOURCES["toxic-spans"]
    texts = dict(zip(frame["id"], frame["text"], strict=True))
    evidence = dict(zip(frame["id"], frame["rationale"], strict=True))
    empty = [
        (i, e)
        for i, r in evidence.items()
        for e in r["evidence"]
        if not texts[i][e["start"] : e["end"]].strip()
    ]
    assert empty == []
    spans = pd.read_csv(folder / "spans.csv", dtype={"annotation": str}, keep_default_na=False)
    annotations = pd.read_csv(
        folder / "annotations.csv", dtype=str, usecols=["annotation", "comment_id"]
    )
    spans = spans.merge(annotations, on="annotation").sample(n=500, random_state=0)
    missing = []
    for span in spans.itertuples():
        post = f"toxic-spans-{span.comment_id}"
        if span.end > len(texts[post]):
            continue  # past the end of the post: counted on the card, not evidence
        marked = {(e["start"], e["end"]) for e in evidence[post]["evidence"]}
        if (span.start, span.end) not in marked:
            missing.append((post, span.start, span.end))
    assert missing == []


def test_real_convabuse_examples_and_labels(real):
    card, frame = real("convabuse")
    folder = REAL_SOURCES["convabuse"]
    split_examples = sum(
        len(pd.read_csv(folder / f"ConvAbuseEMNLP{split}.csv", usecols=["example_id"]))
        for split in ("train", "valid", "test")
    )
    assert len(frame) == split_examples == 4_185  # the paper's examples; the file has 12,768 rows
    assert frame["id"].is_unique
    assert label_frame(card, frame).notna().all().all()
    assert positives(card, frame) == {
        "abuse": 717,
        "severe_abuse": 409,
        "sexual_harassment": 217,
        "identity_attack": 146,
        "intellectual_insult": 138,
    }
    assert frame["agreement"].mean() == pytest.approx(0.9515, abs=0.001)
    assert frame["context"].map(len).eq(3).all()
    speakers = {tuple(turn["speaker"] for turn in context) for context in frame["context"]}
    assert speakers == {("agent", "user", "agent")}


def test_real_sms_every_line_is_a_row(real):
    card, frame = real("sms-spam")
    lines = REAL_SOURCES["sms-spam"].read_text(encoding="utf-8").split("\n")[1:-1]
    assert len(frame) == len(lines) == 5_574
    assert positives(card, frame) == {"spam": 747}
    differing = [
        i
        for i, (line, text) in enumerate(zip(lines, frame["text"], strict=True))
        if line.partition("\t")[2] != text
    ]
    assert differing == []


def test_real_madlibs_every_identity_sentence_names_one_term(real):
    card, frame = real("bias-madlibs")
    assert len(frame) == 76_564
    assert positives(card, frame) == {"toxic": 38_282}
    templates = pd.read_csv(REAL_SOURCES["bias-madlibs"], usecols=["Template"])["Template"]
    without = frame["identity"].isna()
    assert set(templates[without]) == {"you_occupation"} and without.sum() == 864
    assert frame["identity"].nunique() == 50


@pytest.mark.parametrize(
    "fmt, repeats_texts",
    [("toxic-spans", True), ("convabuse", True), ("sms-spam", True), ("bias-madlibs", False)],
)
def test_real_imports_pass_validation(real, tmp_path, fmt, repeats_texts):
    """Every expectation holds but, where the source repeats texts, the duplicate checks: the
    same post twice (toxic-spans), short replies ("yes") in many conversations (convabuse),
    the same message sent many times (sms-spam)."""
    card, frame = real(fmt)
    settings = ValidationSettings(max_near_duplicate_fraction=1.0 if repeats_texts else 0.03)
    report = validate_frame(card, frame, tmp_path / "reports", settings)
    failing = {(f.expectation, f.column) for f in report.failures}
    assert failing == ({("expect_column_values_to_be_unique", "text")} if repeats_texts else set())
