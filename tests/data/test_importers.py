"""Importers: real public files, hand-written fixtures, and every kind of bad input."""

import gzip
import re
from pathlib import Path

import pandas as pd
import pytest

from components.data.canonical import load_taxonomy, read_dataset, write_dataset
from components.data.importers import FORMATS, ColumnMapping, import_dataset
from components.errors import ModpipeError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
OPENAI_SAMPLE = FIXTURES / "openai_moderation_sample.jsonl"
GENERIC_CSV = FIXTURES / "generic_labels.csv"
GENERIC_JSONL = FIXTURES / "generic_labels.jsonl"

CSV_MAPPING = ColumnMapping(
    text="body",
    id="post_id",
    labels={"spam": "is_spam", "hate": "is_hate", "off_topic": "is_off_topic"},
)
JSONL_MAPPING = ColumnMapping(
    text="message", labels={"spam": "scam", "rude": "rude"}, source="forum"
)
FILE_FORMATS = [
    ("davidson", None),
    ("jigsaw", None),
    ("openai-moderation", None),
    ("csv", CSV_MAPPING),
    ("jsonl", JSONL_MAPPING),
    ("sms-spam", None),
    ("bias-madlibs", None),
]
CSV_FORMATS = [(fmt, m) for fmt, m in FILE_FORMATS if fmt in ("davidson", "jigsaw", "csv")]
JSONL_FORMATS = [(fmt, m) for fmt, m in FILE_FORMATS if fmt in ("openai-moderation", "jsonl")]
JIGSAW_HEADER = "id,comment_text,toxic,severe_toxic,obscene,threat,insult,identity_hate\n"
# The published files' column names only (an unnamed index column first); the rows are made up.
DAVIDSON_COLUMNS = ["", "count", "hate_speech", "offensive_language", "neither", "class", "tweet"]
DAVIDSON_HEADER = ",".join(DAVIDSON_COLUMNS) + "\n"


def labels(frame: pd.DataFrame, category: str) -> list:
    """A label column as a list with None for unknown, to compare against expectations."""
    return [None if pd.isna(v) else int(v) for v in frame[f"label_{category}"]]


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def expect_error(fmt: str, path: Path, mapping: ColumnMapping | None, *fragments: str) -> str:
    with pytest.raises(ModpipeError) as caught:
        import_dataset(fmt, path, mapping)
    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in the error message: {message}"
    return message


# --- real files -------------------------------------------------------------------------------


def test_davidson_rows_labels_and_agreement(davidson_csv):
    card, frame = import_dataset("davidson", davidson_csv)
    assert len(frame) == 24_783
    assert card.names == ["hate", "offensive"]
    assert card.source == "davidson" and not card.synthetic
    assert frame["label_hate"].sum() == 1430
    assert frame["label_offensive"].sum() == 19190
    assert not frame[["label_hate", "label_offensive"]].isna().any().any()
    assert not ((frame["label_hate"] == 1) & (frame["label_offensive"] == 1)).any()
    assert frame["agreement"].between(0, 1).all()
    hate_share = frame["soft_labels"].map(lambda shares: shares["hate"])
    hate_rows = frame["label_hate"] == 1  # the class most annotators chose: its share agrees
    assert (hate_share[hate_rows] - frame.loc[hate_rows, "agreement"]).abs().max() < 1e-4
    assert frame["soft_labels"].map(lambda shares: shares["hate"] + shares["offensive"]).le(1).all()
    assert frame["id"].is_unique and frame["id"].str.fullmatch(r"davidson-\d+").all()
    assert frame["id"].iloc[0] == "davidson-0"
    assert (frame["source"] == "davidson").all()


def test_davidson_texts_are_kept_verbatim(davidson_csv):
    _, frame = import_dataset("davidson", davidson_csv)
    original = pd.read_csv(davidson_csv, dtype=str, na_filter=False)["tweet"]
    assert frame["text"].tolist() == original.tolist()


def test_jigsaw_rows_and_labels(jigsaw_csv):
    card, frame = import_dataset("jigsaw", jigsaw_csv)
    assert len(frame) == 282
    assert card.names == ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
    assert all(c.description for c in card.categories)
    assert frame["label_toxic"].sum() == 28
    assert not frame[[f"label_{n}" for n in card.names]].isna().any().any()
    original = pd.read_csv(jigsaw_csv, dtype=str, na_filter=False)
    assert frame["id"].tolist() == original["id"].tolist()
    assert frame["text"].tolist() == original["comment_text"].tolist()


# --- the OpenAI moderation eval format --------------------------------------------------------


def test_openai_absent_codes_are_unknown_not_zero():
    card, frame = import_dataset("openai-moderation", OPENAI_SAMPLE)
    assert len(frame) == 10
    assert card.names == [
        "sexual",
        "hate",
        "violence",
        "harassment",
        "self_harm",
        "sexual_minors",
        "hate_threatening",
        "violence_graphic",
    ]
    # line 4 carries only SH=1; line 3 lacks SH, S3, H2, V2
    assert labels(frame, "self_harm")[3] == 1
    assert all(labels(frame, name)[3] is None for name in card.names if name != "self_harm")
    assert labels(frame, "violence")[2] == 1 and labels(frame, "harassment")[2] == 0
    assert [labels(frame, n)[2] for n in ("self_harm", "sexual_minors", "violence_graphic")] == [
        None,
        None,
        None,
    ]
    assert labels(frame, "violence_graphic") == [0, 0, None, None, None, None, 0, None, 1, 0]
    assert frame["label_sexual_minors"].isna().sum() == 5


def test_openai_ids_texts_and_descriptions():
    card, frame = import_dataset("openai-moderation", OPENAI_SAMPLE)
    assert frame["id"].tolist() == [f"openai-moderation-{n}" for n in range(1, 11)]
    assert frame["text"].iloc[6] == "NA"
    assert "\u2028" in frame["text"].iloc[9]
    policy = {c.name: c for c in load_taxonomy().categories}
    described = {c.name: c for c in card.categories}
    assert described["hate"] == policy["hate"]
    assert described["sexual_minors"].severity == "critical"
    assert "hate_threatening" not in policy and described["hate_threatening"].description


def test_openai_reads_the_gzipped_release_file(tmp_path):
    packed = write(tmp_path, "samples.jsonl.gz", gzip.compress(OPENAI_SAMPLE.read_bytes()))
    _, from_gzip = import_dataset("openai-moderation", packed)
    _, from_plain = import_dataset("openai-moderation", OPENAI_SAMPLE)
    pd.testing.assert_frame_equal(from_gzip, from_plain)


def test_openai_code_absent_from_every_line_is_all_unknown(tmp_path):
    path = write(tmp_path, "partial.jsonl", '{"prompt": "hello", "S": 0}\n{"prompt": "hi"}\n')
    card, frame = import_dataset("openai-moderation", path)
    assert len(card.names) == 8
    assert labels(frame, "sexual") == [0, None]
    assert frame["label_violence_graphic"].isna().all()
    assert frame["label_violence_graphic"].dtype == "Int8"


# --- generic csv / jsonl ----------------------------------------------------------------------


def test_generic_csv_keeps_texts_and_reads_label_spellings():
    card, frame = import_dataset("csv", GENERIC_CSV, CSV_MAPPING)
    assert frame["id"].tolist() == ["p1", "p2", "p3", "p4", "p5", "p6", "p7"]
    assert frame["text"].tolist() == [
        "Buy cheap watches now, limited offer!",
        "NA",
        "null",
        'A quoted "word", and a comma',
        "Two\nlines of text",
        "  leading spaces are kept",
        "Have a nice day",
    ]
    assert labels(frame, "spam") == [1, 0, 0, 1, None, 1, 0]
    assert labels(frame, "hate") == [0, 0, 0, 0, None, None, 0]
    assert labels(frame, "off_topic") == [0, 0, 1, 0, 1, None, None]
    assert (frame["source"] == "generic_labels").all()
    assert card.name == "generic_labels"


def test_generic_categories_come_from_the_policy_else_a_generic_description():
    card, _ = import_dataset("csv", GENERIC_CSV, CSV_MAPPING)
    policy = {c.name: c for c in load_taxonomy().categories}
    described = {c.name: c for c in card.categories}
    assert card.names == ["spam", "hate", "off_topic"]
    assert described["spam"] == policy["spam"] and described["hate"] == policy["hate"]
    assert "off topic" in described["off_topic"].description


def test_generic_categories_from_a_taxonomy_file(tmp_path):
    taxonomy = write(
        tmp_path,
        "tax.yaml",
        "categories:\n"
        "  - {name: spam, description: Adverts., severity: low, threshold: 0.7}\n"
        "  - {name: rude, description: Rude remarks.}\n"
        "  - {name: unused, description: Not mapped.}\n",
    )
    mapping = JSONL_MAPPING.model_copy(update={"taxonomy": taxonomy})
    card, _ = import_dataset("jsonl", GENERIC_JSONL, mapping)
    assert card.names == ["spam", "rude"]
    assert card.categories[0].threshold == 0.7 and card.categories[1].description == "Rude remarks."


def test_generic_jsonl_ids_from_row_numbers_and_unknown_labels():
    card, frame = import_dataset("jsonl", GENERIC_JSONL, JSONL_MAPPING)
    assert frame["id"].tolist() == [f"forum-{n}" for n in range(1, 6)]
    assert frame["text"].tolist()[2:] == ["null", "You are a bit of a pain sometimes.", ""]
    assert labels(frame, "spam") == [1, 0, 0, 0, 0]
    assert labels(frame, "rude") == [0, None, None, 1, 1]
    assert (frame["source"] == "forum").all()
    assert "rude" in card.categories[1].description


@pytest.mark.parametrize(
    "fmt, path, mapping",
    [
        ("openai-moderation", OPENAI_SAMPLE, None),
        ("csv", GENERIC_CSV, CSV_MAPPING),
        ("jsonl", GENERIC_JSONL, JSONL_MAPPING),
    ],
)
def test_round_trip_keeps_unknown_labels_unknown(tmp_path, fmt, path, mapping):
    card, frame = import_dataset(fmt, path, mapping)
    assert frame[[c for c in frame if c.startswith("label_")]].isna().any().any()
    card_back, frame_back = read_dataset(write_dataset(tmp_path / "ds", card, frame))
    assert card_back == card
    pd.testing.assert_frame_equal(frame_back, frame)


def test_round_trip_of_a_real_file(tmp_path, jigsaw_csv):
    card, frame = import_dataset("jigsaw", jigsaw_csv)
    _, frame_back = read_dataset(write_dataset(tmp_path / "ds", card, frame))
    pd.testing.assert_frame_equal(frame_back, frame)


# --- bad input: every format ------------------------------------------------------------------


def test_unknown_format_names_the_choices():
    expect_error("parquet", GENERIC_CSV, None, "'parquet'", *FORMATS)


@pytest.mark.parametrize("fmt, mapping", FILE_FORMATS)
def test_missing_file(tmp_path, fmt, mapping):
    expect_error(fmt, tmp_path / "absent.data", mapping, "absent.data", "no such file")


@pytest.mark.parametrize("fmt, mapping", FILE_FORMATS)
def test_directory_instead_of_a_file(tmp_path, fmt, mapping):
    expect_error(fmt, tmp_path, mapping, "is a directory")


@pytest.mark.parametrize("fmt, mapping", FILE_FORMATS)
def test_empty_file(tmp_path, fmt, mapping):
    expect_error(fmt, write(tmp_path, "empty.data", ""), mapping, "empty.data")


@pytest.mark.parametrize("fmt, mapping", JSONL_FORMATS)
def test_jsonl_with_only_blank_lines(tmp_path, fmt, mapping):
    expect_error(fmt, write(tmp_path, "blank.jsonl", "\n  \n\n"), mapping, "no rows")


@pytest.mark.parametrize(
    "fmt, mapping, header",
    [
        ("davidson", None, DAVIDSON_HEADER),
        ("jigsaw", None, JIGSAW_HEADER),
        ("csv", CSV_MAPPING, "post_id,body,is_spam,is_hate,is_off_topic\n"),
    ],
)
def test_csv_with_a_header_but_no_rows(tmp_path, fmt, mapping, header):
    expect_error(fmt, write(tmp_path, "header.csv", header), mapping, "no rows")


@pytest.mark.parametrize("fmt, mapping", FILE_FORMATS)
def test_invalid_utf8_names_the_line(tmp_path, fmt, mapping):
    path = write(tmp_path, "latin1.data", b"first\nsecond\nbad \xe9 byte\n")
    expect_error(fmt, path, mapping, "line 3", "UTF-8")


def test_damaged_gzip(tmp_path):
    packed = gzip.compress(OPENAI_SAMPLE.read_bytes())
    expect_error("openai-moderation", write(tmp_path, "cut.jsonl.gz", packed[:40]), None, "gzip")


@pytest.mark.parametrize("fmt, mapping", JSONL_FORMATS)
def test_malformed_json_names_the_line(tmp_path, fmt, mapping):
    path = write(tmp_path, "broken.jsonl", '{"prompt": "a", "message": "a"}\n\n{"prompt": oops}\n')
    expect_error(fmt, path, mapping, "line 3", "not valid JSON")


@pytest.mark.parametrize(
    "fmt, mapping, content, missing",
    [
        (
            "davidson",
            None,
            ",count,hate_speech,offensive_language,neither,tweet\n0,3,0,0,3,hi\n",
            ["'class'"],
        ),
        ("jigsaw", None, "id,comment_text,toxic\n1,hi,0\n", ["'severe_toxic'", "'identity_hate'"]),
        ("csv", CSV_MAPPING, "post_id,text,is_spam\np1,hi,0\n", ["'body'", "'is_hate'"]),
        ("openai-moderation", None, '{"text": "hi", "S": 0}\n', ["'prompt'"]),
        ("jsonl", JSONL_MAPPING, '{"message": "hi", "scam": 0}\n', ["'rude'"]),
    ],
)
def test_missing_columns_are_named(tmp_path, fmt, mapping, content, missing):
    expect_error(fmt, write(tmp_path, "cols.data", content), mapping, "no column", *missing)


@pytest.mark.parametrize(
    "content, problem",
    [
        ('body,is_spam\n"never closed,1\n', "not a readable CSV"),
        ("body,is_spam\nfine,0\nextra,1,field\n", "Expected 2 fields"),
        ("body,is_spam\nextra,1,field\nfine,0\n", "more fields than the header"),
    ],
)
def test_csv_that_does_not_parse(tmp_path, content, problem):
    path = write(tmp_path, "broken.csv", content)
    expect_error("csv", path, ColumnMapping(text="body", labels={"spam": "is_spam"}), problem)


def test_unknown_label_value_in_csv_names_column_line_and_value(tmp_path):
    # the multi-line text on line 3-4 makes data row 3 start on line 5
    path = write(tmp_path, "odd.csv", 'body,is_spam\nfine,1\n"two\nlines",0\nthird,maybe\n')
    mapping = ColumnMapping(text="body", labels={"spam": "is_spam"})
    expect_error("csv", path, mapping, "'is_spam'", "line 5", "'maybe'")


@pytest.mark.parametrize("value", ["2", '"sometimes"', "[1]", "-1"])
def test_unknown_label_value_in_jsonl(tmp_path, value):
    content = f'{{"prompt": "a", "H": 0}}\n\n{{"prompt": "b", "H": {value}}}\n'
    path = write(tmp_path, "odd.jsonl", content)
    message = expect_error("openai-moderation", path, None, "'H'", "line 3")
    assert re.search(re.escape(value.strip('"')), message)


def test_unknown_label_value_in_jigsaw(tmp_path):
    path = write(tmp_path, "odd.csv", JIGSAW_HEADER + "a1,hello,0,0,0,0,0,0\na2,hi,0,0,0,0.5,0,0\n")
    expect_error("jigsaw", path, None, "'threat'", "line 3", "'0.5'")


@pytest.mark.parametrize(
    "fmt, mapping, content, repeated",
    [
        (
            "jigsaw",
            None,
            JIGSAW_HEADER + "a1,x,0,0,0,0,0,0\na2,y,0,0,0,0,0,0\na1,z,0,0,0,0,0,0\n",
            "'a1'",
        ),
        ("davidson", None, DAVIDSON_HEADER + "7,3,0,0,3,2,x\n7,3,0,3,0,1,y\n", "'7'"),
        (
            "csv",
            CSV_MAPPING,
            "post_id,body,is_spam,is_hate,is_off_topic\np9,x,0,0,0\np9,y,1,0,0\n",
            "'p9'",
        ),
    ],
)
def test_duplicate_ids_are_named(tmp_path, fmt, mapping, content, repeated):
    expect_error(fmt, write(tmp_path, "dup.csv", content), mapping, "duplicate ids", repeated)


def test_many_duplicate_ids_name_only_a_few(tmp_path):
    rows = "".join(f"d{n % 8},text {n},0\n" for n in range(16))
    path = write(tmp_path, "dup.csv", "id,body,flag\n" + rows)
    mapping = ColumnMapping(text="body", id="id", labels={"flag": "flag"})
    message = expect_error("csv", path, mapping, "duplicate ids", "'d0'", "and 3 more")
    assert "'d7'" not in message


def test_empty_id_names_the_line(tmp_path):
    path = write(tmp_path, "noid.csv", "id,body,flag\na,x,0\n,y,1\n")
    mapping = ColumnMapping(text="body", id="id", labels={"flag": "flag"})
    expect_error("csv", path, mapping, "line 3", "no id")


@pytest.mark.parametrize(
    "row, problem",
    [
        ("5,3,0,0,3,7,x", "expected 0, 1 or 2"),
        ("5,0,0,0,0,2,x", "out of a count of 0"),
        ("5,three,0,0,3,2,x", "whole number"),
    ],
)
def test_davidson_bad_counts_name_the_line(tmp_path, row, problem):
    path = write(tmp_path, "bad.csv", DAVIDSON_HEADER + "4,3,0,3,0,1,fine\n" + row + "\n")
    expect_error("davidson", path, None, "line 3", problem)


def test_davidson_without_the_row_number_column(tmp_path):
    path = write(tmp_path, "noindex.csv", DAVIDSON_HEADER[1:] + "3,0,0,3,2,x\n")
    expect_error("davidson", path, None, "row number")


@pytest.mark.parametrize(
    "line, problem",
    [
        ('{"message": null, "scam": 0}', "no text"),
        ('{"scam": 0}', "no text"),
        ('{"message": 42, "scam": 0}', "not a string"),
    ],
)
def test_jsonl_text_missing_or_not_a_string(tmp_path, line, problem):
    path = write(tmp_path, "t.jsonl", '{"message": "ok", "scam": 1}\n' + line + "\n")
    mapping = ColumnMapping(text="message", labels={"spam": "scam"})
    expect_error("jsonl", path, mapping, "line 2", problem, "'message'")


def test_generic_without_label_columns_lists_the_columns():
    expect_error("csv", GENERIC_CSV, ColumnMapping(text="body"), "label", "'is_spam'", "'lang'")


def test_generic_bad_category_name():
    mapping = ColumnMapping(text="body", labels={"Spam Posts": "is_spam"})
    expect_error("csv", GENERIC_CSV, mapping, "'Spam Posts'", "lowercase")


def test_generic_taxonomy_file_without_the_category(tmp_path):
    taxonomy = write(tmp_path, "tax.yaml", "categories:\n  - {name: spam, description: Adverts.}\n")
    mapping = JSONL_MAPPING.model_copy(update={"taxonomy": taxonomy})
    expect_error("jsonl", GENERIC_JSONL, mapping, "'rude'")


@pytest.mark.parametrize("fmt", ["davidson", "jigsaw", "openai-moderation"])
def test_a_column_mapping_is_refused_by_the_named_formats(fmt):
    expect_error(fmt, OPENAI_SAMPLE, ColumnMapping(text="body"), "csv and jsonl")


def test_a_default_mapping_is_accepted_by_the_named_formats():
    _, frame = import_dataset("openai-moderation", OPENAI_SAMPLE, ColumnMapping())
    assert len(frame) == 10
