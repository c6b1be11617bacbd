"""The Great Expectations validation stage: each check passes clean data and fails its defect."""

import json

import numpy as np
import pandas as pd
import pytest

from components.data import validate
from components.data.canonical import (
    Category,
    DatasetCard,
    frame_from_records,
    label_column,
    near_duplicate_key,
    write_dataset,
)
from components.data.validate import (
    EXCERPT_CHARS,
    REPORT_CAP_BYTES,
    ValidationSettings,
    validate_dataset,
    validate_frame,
)

CARD = DatasetCard(
    name="validation-fixture",
    source="tests",
    synthetic=True,
    categories=[
        Category(name="hate", description="Hateful content."),
        Category(name="spam", description="Unsolicited advertising."),
    ],
)
SETTINGS = ValidationSettings(min_positives=5)
SPLIT_CYCLE = ("train", "validation", "test")  # row i is in SPLIT_CYCLE[i % 3]


def clean_records(count: int = 40) -> list[dict]:
    return [
        {
            "id": f"r{i:03d}",
            "text": f"message number {i} about topic {i * 7 % 11}",
            "labels": {"hate": int(i % 3 == 0), "spam": None if i % 10 == 9 else int(i % 4 == 0)},
            "source": "tests",
            "split": SPLIT_CYCLE[i % 3],
        }
        for i in range(count)
    ]


def failing_checks(report) -> set[tuple[str, str | None]]:
    return {(f.expectation, f.column) for f in report.failures}


def failure_on(report, expectation: str, column: str | None):
    return next(f for f in report.failures if (f.expectation, f.column) == (expectation, column))


def test_clean_dataset_passes_and_writes_json_and_data_docs(tmp_path):
    frame = frame_from_records(clean_records())
    directory = write_dataset(tmp_path / "dataset", CARD, frame)

    report = validate_dataset(directory, tmp_path / "reports", SETTINGS)

    assert report.success, report.summary()
    assert report.failures == []
    assert report.rows == 40
    assert "passed" in report.summary()
    saved = json.loads(report.json_path.read_text())
    assert saved["success"] is True
    assert saved["great_expectations"]["statistics"]["unsuccessful_expectations"] == 0
    assert report.docs_path.name == "index.html" and report.docs_path.is_file()
    assert report.docs_path.is_relative_to(tmp_path / "reports")


def test_validation_is_quiet_and_writes_only_under_reports_dir(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)
    validate_frame(CARD, frame_from_records(clean_records()), tmp_path / "reports", SETTINGS)

    assert capfd.readouterr().out == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]


def duplicate_id(records):
    records[5]["id"] = records[4]["id"]


def blank_texts(records):
    records[3]["text"], records[4]["text"], records[6]["text"] = "", " \t\n ", None


def too_long_text(records):
    records[8]["text"] = "x" * 10_001


def label_two(records):
    records[2]["labels"]["hate"] = 2


def label_maybe(records):
    records[7]["labels"]["spam"] = "maybe"


def unexpected_label(records):
    records[1]["labels"]["foo"] = 1


def too_few_positives(records):
    for record in records:
        record["labels"]["hate"] = 0
    records[0]["labels"]["hate"] = 1


def exact_duplicate(records):
    records[10]["text"] = records[7]["text"]  # same split: only the duplicate check may fail


def near_duplicates(records):
    # 3 of 40 rows (7.5%) repeat row 1 once normalised; all four stay in one split.
    base = records[1]["text"]
    records[4]["text"] = f"RT @someone: {base.upper()}!!"
    records[7]["text"] = f"{base} https://example.com/x"
    records[10]["text"] = f"@a @b {base}..."


def shared_between_splits(records):
    records[2]["text"] = records[1]["text"].title() + "?"  # row 1 is train, row 2 validation


@pytest.mark.parametrize(
    ("defect", "expectation", "column", "ids"),
    [
        (duplicate_id, "expect_column_values_to_be_unique", "id", {"r004"}),
        (blank_texts, "expect_column_values_to_not_be_null", "text", {"r003", "r004", "r006"}),
        (too_long_text, "expect_column_values_to_be_between", "text", {"r008"}),
        (label_two, "expect_column_values_to_be_in_set", "label_hate", {"r002"}),
        (label_maybe, "expect_column_values_to_be_in_set", "label_spam", {"r007"}),
        (unexpected_label, "expect_table_columns_to_match_set", None, set()),
        (too_few_positives, "expect_column_sum_to_be_between", "label_hate", set()),
        (exact_duplicate, "expect_column_values_to_be_unique", "text", {"r007", "r010"}),
        (near_duplicates, "expect_column_values_to_be_in_set", "text", {"r004", "r007", "r010"}),
        (shared_between_splits, "expect_column_values_to_be_in_set", "split", {"r001", "r002"}),
    ],
    ids=lambda value: value.__name__ if callable(value) else None,
)
def test_each_check_fails_on_its_own_defect(tmp_path, defect, expectation, column, ids):
    records = clean_records()
    defect(records)

    report = validate_frame(CARD, frame_from_records(records), tmp_path, SETTINGS)

    assert not report.success
    assert failing_checks(report) == {(expectation, column)}, report.summary()
    failure = failure_on(report, expectation, column)
    assert set(failure.sample_ids) == ids
    assert f"{expectation} [{column or 'table'}]" in report.summary()
    assert all(sample in report.summary() for sample in ids)


def test_unexpected_label_column_is_named(tmp_path):
    records = clean_records()
    unexpected_label(records)

    report = validate_frame(CARD, frame_from_records(records), tmp_path, SETTINGS)

    assert "label_foo" in report.summary()


def test_too_few_positives_reports_the_count(tmp_path):
    records = clean_records()
    too_few_positives(records)

    report = validate_frame(CARD, frame_from_records(records), tmp_path, SETTINGS)

    assert "at least 5 hate positives; observed 1" in report.summary()


def test_null_labels_are_unknown_not_defects(tmp_path):
    records = clean_records()
    for record in records[:20]:
        record["labels"]["spam"] = None

    assert validate_frame(CARD, frame_from_records(records), tmp_path, SETTINGS).success


def test_near_duplicate_limit_is_configurable(tmp_path):
    records = clean_records()
    near_duplicates(records)
    lenient = SETTINGS.model_copy(update={"max_near_duplicate_fraction": 0.1})

    assert validate_frame(CARD, frame_from_records(records), tmp_path, lenient).success


def test_near_duplicate_key_normalises_retweets_mentions_urls_and_punctuation():
    texts = pd.Series(
        ["RT @bob: Hello,   World!! http://t.co/x", "hello world", "@ann www.x.org", "rtfm now"],
        dtype="string",
    )

    keys = near_duplicate_key(texts)

    assert keys.tolist()[:2] == ["hello world", "hello world"]
    assert keys.isna().tolist()[2]  # nothing left to compare
    assert keys.tolist()[3] == "rtfm now"


def test_many_empty_texts_and_an_unknown_label_value_both_named(tmp_path):
    records = clean_records(120)
    for record in records[:50]:
        record["text"] = ""
    records[60]["labels"]["hate"] = 2
    directory = write_dataset(tmp_path / "dataset", CARD, frame_from_records(records))

    report = validate_dataset(directory, tmp_path / "reports", SETTINGS)

    summary = report.summary()
    assert not report.success
    assert "expect_column_values_to_not_be_null [text]: 50 rows" in summary
    assert "expect_column_values_to_be_in_set [label_hate]: 1 row (ids r060)" in summary
    assert failure_on(report, "expect_column_values_to_not_be_null", "text").sample_ids[:2] == [
        "r000",
        "r001",
    ]


def test_25k_rows_validate(tmp_path):
    rows = 25_000
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(rows)],
            "text": [f"RT @user{i % 97}: synthetic post {i} http://t.co/{i}" for i in range(rows)],
            "source": "synthetic",
            "split": rng.choice(SPLIT_CYCLE, rows),
        }
    )
    for name in CARD.names:
        labels = rng.integers(0, 2, rows).astype(float)
        labels[rng.random(rows) < 0.05] = np.nan
        frame[label_column(name)] = pd.array(labels, dtype="Int8")

    report = validate_frame(CARD, frame, tmp_path)

    assert report.success, report.summary()
    assert report.rows == rows


def test_real_davidson_near_duplicates_stay_under_the_default_limit(tmp_path, davidson_csv):
    tweets = pd.read_csv(davidson_csv, index_col=0)
    frame = pd.DataFrame(
        {
            "id": tweets.index.astype(str),
            "text": tweets["tweet"],
            "source": "davidson",
            "label_hate": pd.array(tweets["class"].eq(0).astype(int), dtype="Int8"),
        }
    )
    card = DatasetCard(name="davidson", source="davidson", categories=CARD.categories[:1])

    report = validate_frame(card, frame, tmp_path)

    assert report.success, report.summary()


def test_wordless_text_shared_between_splits_is_caught(tmp_path):
    # Emoji-only texts normalise to nothing, so only the exact comparison can link them.
    records = clean_records()
    records[1]["text"] = records[2]["text"] = "\U0001f602\U0001f602"

    report = validate_frame(CARD, frame_from_records(records), tmp_path, SETTINGS)

    assert failure_on(report, "expect_column_values_to_be_in_set", "split").sample_ids == [
        "r001",
        "r002",
    ]


def report_bytes(folder) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_huge_text_gives_a_small_report_without_it(tmp_path):
    huge = " ".join(f"word{i}" for i in range(400_000))  # 3.7 MB
    records = clean_records()
    records[8]["text"] = records[9]["text"] = huge  # too long, and an exact duplicate
    prefix = "u" * 200
    records[3]["id"], records[4]["id"] = prefix + "-a", prefix + "-b"  # still unique ids
    records[2]["labels"]["hate"] = "maybe " * 20 + "not a label " * 100_000

    report = validate_frame(CARD, frame_from_records(records), tmp_path, SETTINGS)

    assert failing_checks(report) == {
        ("expect_column_values_to_be_between", "text"),
        ("expect_column_values_to_be_unique", "text"),
        ("expect_column_values_to_be_in_set", "split"),  # r008 and r009 are in two splits
        ("expect_column_values_to_be_in_set", "label_hate"),
    }, report.summary()
    failure = failure_on(report, "expect_column_values_to_be_unique", "text")
    assert failure.sample_ids == ["r008", "r009"]
    assert failure.excerpts["r008"].startswith("word0 word1 ")
    assert all(len(text) <= EXCERPT_CHARS for text in failure.excerpts.values())
    assert report.cut_values == 5 and "5 values longer than 80 characters" in report.summary()
    assert report_bytes(tmp_path) < REPORT_CAP_BYTES
    assert (tmp_path / "validation.json").stat().st_size < 100_000
    for path in (p for p in tmp_path.rglob("*") if p.suffix in (".json", ".html")):
        content = path.read_text(encoding="utf-8")
        assert "word2000 word2001" not in content and "not a label" not in content
        assert prefix not in content


def test_a_report_past_its_cap_keeps_only_the_summary(tmp_path, monkeypatch):
    monkeypatch.setattr(validate, "REPORT_CAP_BYTES", 1 << 20)  # below Data Docs' own assets
    records = clean_records()
    duplicate_id(records)

    report = validate_frame(CARD, frame_from_records(records), tmp_path, SETTINGS)

    assert report.docs_path is None and not (tmp_path / "data_docs").exists()
    saved = json.loads(report.json_path.read_text())
    assert saved["failures"][0]["sample_ids"] == ["r004"]
    assert saved["great_expectations"].startswith("left out")
    assert report_bytes(tmp_path) < 1 << 20
