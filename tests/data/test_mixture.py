"""Training mixtures: sources mapped onto one taxonomy, unknown labels kept unknown, duplicates
across sources removed, evaluation-only sources kept out of training, every source versioned."""

import pandas as pd
import pytest
from conftest import SHARED_DATA, require

from components.config import parse_config
from components.data.canonical import Category, DatasetCard, read_dataset, write_dataset
from components.data.source import SOURCES_DIR, check_mixture, fetch_dataset
from components.data.split import split_dataset
from components.errors import ModpipeError

TOXIC = Category(name="toxic", description="Rude or disrespectful content.")


def _dataset(folder, name, categories, rows):
    """``rows``: (text, {category: label}) pairs."""
    card = DatasetCard(name=name, source=name, categories=categories)
    frame = pd.DataFrame(
        {
            "id": [f"{name}-{i}" for i in range(len(rows))],
            "text": [text for text, _ in rows],
            "source": name,
            **{
                f"label_{c.name}": pd.array([labels.get(c.name) for _, labels in rows], "Int8")
                for c in categories
            },
        }
    )
    write_dataset(folder / name, card, frame)
    return folder / name


@pytest.fixture
def sources(tmp_path):
    """Three small sources: ads (spam), forum (insult, profanity, toxic) and a bias set."""
    spam = Category(name="spam", description="Ads.")
    insult = Category(name="insult", description="Insults a person.")
    profanity = Category(name="profanity", description="Swearing.")
    ads = [(f"buy cheap watches number {i} now", {"spam": 1}) for i in range(30)]
    ads += [(f"meeting moved to room {i}", {"spam": 0}) for i in range(30)]
    ads += [("you are a clown", {"spam": 0})]  # also in the forum and in the bias set
    forum = [
        (f"thread {i}: you fool", {"insult": 1, "profanity": i % 2, "toxic": 1}) for i in range(30)
    ]
    forum += [
        (f"thread {i}: nice photo", {"insult": 0, "profanity": 0, "toxic": 0}) for i in range(30)
    ]
    forum += [("You are a CLOWN!!", {"insult": 1, "profanity": 0, "toxic": 1})]
    bias = [(f"group {i} people are great", {"toxic": 0}) for i in range(10)]
    bias += [("you are a clown", {"toxic": 1})]
    _dataset(tmp_path, "ads", [spam], ads)
    _dataset(tmp_path, "forum", [insult, profanity, TOXIC], forum)
    _dataset(tmp_path, "bias", [TOXIC], bias)
    return tmp_path


def _config(folder, **changes):
    raw = {
        "sources": [
            {"directory": str(folder / "ads")},
            {
                "directory": str(folder / "forum"),
                "categories": {"insult": "harassment", "profanity": "toxic", "toxic": "toxic"},
            },
            {"directory": str(folder / "bias"), "role": "evaluation"},
        ],
        "categories": [TOXIC.model_dump()],
    }
    raw.update(changes)
    return parse_config({"data": raw}).data


def test_a_mixture_masks_what_a_source_does_not_label(sources, tmp_path):
    info = fetch_dataset(_config(sources), tmp_path / "out")
    card, frame = read_dataset(tmp_path / "out")
    assert sorted(card.names) == sorted(info["categories"]) == ["harassment", "spam", "toxic"]
    ads = frame["source"] == "ads"
    assert frame.loc[ads, ["label_toxic", "label_harassment"]].isna().all().all()
    assert frame.loc[~ads, "label_spam"].isna().all()
    # profanity and toxic merge into toxic: 1 where either is, 0 where both are 0.
    forum = frame[frame["source"] == "forum"]
    assert set(forum["label_toxic"]) == {0, 1} and not forum["label_toxic"].isna().any()
    assert {"ads", "forum", "bias"} == {s["name"] for s in info["sources"]}
    assert (tmp_path / "out" / SOURCES_DIR / "forum" / "rows.jsonl").is_file()


def test_duplicates_across_sources_leave_training_not_evaluation(sources, tmp_path):
    info = fetch_dataset(_config(sources), tmp_path / "out")
    removed = {s["name"]: s["duplicates_removed"] for s in info["sources"]}
    # "you are a clown" is in all three; its evaluation copy stays, the training copies go.
    assert removed == {"ads": 1, "forum": 1, "bias": 0}
    frame = read_dataset(tmp_path / "out")[1]
    clown = frame["text"].str.lower().str.contains("you are a clown")
    assert frame.loc[clown, "source"].tolist() == ["bias"]
    assert (frame.loc[frame["source"] == "bias", "split"] == "test").all()


def test_the_split_keeps_evaluation_rows_in_test_and_stratifies_sources(sources, tmp_path):
    fetch_dataset(_config(sources), tmp_path / "out")
    frame = read_dataset(tmp_path / "out")[1]
    split = split_dataset(frame, 0.15, 0.2, seed=1)
    assert (split.loc[split["source"] == "bias", "split"] == "test").all()
    for name in ("ads", "forum"):
        assert set(split.loc[split["source"] == name, "split"]) == {"train", "validation", "test"}


def test_the_version_names_every_source_md5_and_rev(sources, tmp_path):
    info = fetch_dataset(_config(sources, max_rows=None), tmp_path / "out")
    parts = info["version"].split(", ")
    assert [p.split("=")[0] for p in parts] == ["ads", "forum", "bias"]
    assert all(p.split("=")[1].endswith(".dir") for p in parts)


def test_a_row_cap_samples_a_source(sources, tmp_path):
    config = _config(sources)
    config.sources[0].max_rows = 20
    info = fetch_dataset(config, tmp_path / "out")
    assert next(s for s in info["sources"] if s["name"] == "ads")["rows"] <= 20


BAD_MIXTURES = {
    "map names a category the source lacks": (
        lambda c: c.sources[1].categories.update({"threat": "violence"}),
        ["'forum' has no category 'threat'", "insult"],
    ),
    "map names a category the target lacks": (
        lambda c: c.sources[1].categories.update({"insult": "bullying"}),
        ["'bullying'", "define it under data.categories"],
    ),
    "an unmapped category": (
        lambda c: c.sources[1].categories.pop("profanity"),
        ["'profanity' is not in the run's taxonomy", "profanity: null"],
    ),
    "every category dropped": (
        lambda c: c.sources[0].categories.update({"spam": None}),
        ["'ads' contributes no labels"],
    ),
    "clashing descriptions": (
        lambda c: (
            c.categories.clear(),
            c.sources[1].categories.update({"toxic": "toxic", "profanity": None}),
            c.sources[2].categories.update({"toxic": "toxic"}),
        ),
        ["both keep category 'toxic' with different descriptions"],
    ),
}


@pytest.mark.parametrize("case", BAD_MIXTURES)
def test_bad_mixtures_fail_before_anything_is_written(sources, tmp_path, case):
    change, phrases = BAD_MIXTURES[case]
    config = _config(sources)
    if case == "clashing descriptions":  # the bias set's toxic says something else
        _dataset(sources, "bias", [Category(name="toxic", description="Other.")], [("hi", {})])
    change(config)
    with pytest.raises(ModpipeError) as raised:
        check_mixture(config)
    for phrase in phrases:
        assert phrase in str(raised.value)
    with pytest.raises(ModpipeError):
        fetch_dataset(config, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_empty_source_fails_in_one_line(sources, tmp_path):
    (sources / "bias" / "rows.jsonl").write_text("")
    with pytest.raises(ModpipeError, match="'bias'.*has no rows"):
        check_mixture(_config(sources))


def test_sources_and_a_directory_exclude_each_other(sources):
    with pytest.raises(ModpipeError, match="not both"):
        _config(sources, directory="elsewhere")


def test_a_catalogue_source_missing_from_the_workspace_is_fetched(tmp_path, monkeypatch):
    monkeypatch.setenv("MODPIPE_DATA_MIRROR", str(require(SHARED_DATA)))
    monkeypatch.chdir(tmp_path)  # no datasets/jigsaw-sample here
    kept = {"toxic": "toxic", "insult": "insult", "identity_hate": "identity_hate"}
    dropped = {"severe_toxic": None, "obscene": None, "threat": None}
    source = {"catalogue": "jigsaw-sample", "categories": {**kept, **dropped}}
    config = parse_config({"data": {"sources": [source]}}).data
    info = fetch_dataset(config, tmp_path / "out")
    assert info["rows"] == 282 and info["version"].startswith("jigsaw-sample=")
    assert set(info["categories"]) == {"toxic", "insult", "identity_hate"}
