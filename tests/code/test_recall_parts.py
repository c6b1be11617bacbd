"""The recall library's parts on small inputs: pools, term lists, the known-violation index,
fusion and near-duplicate clusters."""

import json

import numpy as np
import pandas as pd
import pytest

from components.config import RecallConfig
from components.data.canonical import Category, Taxonomy
from components.errors import ModpipeError
from components.model.neighbours import Entry, ViolationIndex
from components.recall.clusters import cluster
from components.recall.fusion import fuse
from components.recall.pool import read_pool, write_shards
from components.recall.scan import nearest_column, score_column, similarity_column, term_column
from components.recall.terms import compile_terms, load_terms, write_starter_terms

CATEGORIES = ["insult", "threat", "scam"]


def unit(rows: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(rows, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# --- pools


def test_a_pool_reads_jsonl_csv_and_parquet_with_ids_as_written(tmp_path):
    csv = tmp_path / "pool.csv"
    csv.write_text("id,text,source\n007,hello,forum\n008,NA,chat\n", encoding="utf-8")
    frame = read_pool(csv)
    assert frame["id"].tolist() == ["007", "008"] and frame["text"].tolist() == ["hello", "NA"]
    jsonl = tmp_path / "pool.jsonl"
    jsonl.write_text('{"id": 1, "text": "a"}\n{"id": 2, "text": "b", "lang": "en"}\n')
    assert read_pool(jsonl)["id"].tolist() == ["1", "2"]
    write_shards(frame, tmp_path / "shards", shard_size=1)
    assert read_pool(tmp_path / "shards" / "shard-00001.parquet")["id"].tolist() == ["008"]


@pytest.mark.parametrize(
    "name, content, problem",
    [
        ("no-id.csv", b"id,text\n1,a\n,b\n", "1 item without an id (rows 2)"),
        ("twice.csv", b"id,text\n1,a\n2,b\n1,c\n", "2 items share an id, e.g. '1' (rows 1, 3)"),
        ("empty.jsonl", b'{"id": 1, "text": " "}\n{"id": 2, "text": null}\n', "2 items with an"),
        ("latin1.csv", b"id,text\n1,caf\xe9\n", "not UTF-8 text (line 2)"),
        ("latin1.jsonl", b'{"id": 1, "text": "caf\xe9"}\n', "not UTF-8 text (line 1)"),
        ("no-text.csv", b"id,body\n1,a\n", "no text column"),
        ("pool.txt", b"hello\n", "a pool is .jsonl, .csv or .parquet"),
    ],
)
def test_a_bad_pool_is_refused_whole_naming_the_rows(tmp_path, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModpipeError, match="^" + str(path)) as error:
        read_pool(path)
    assert problem in str(error.value)


# --- term lists


def test_terms_match_whole_words_after_the_models_normalisation():
    terms = compile_terms(
        {"scam": ["claim your prize"], "threat": ["re:\\bkill+ you\\b"]}, CATEGORIES, "t"
    )
    assert terms.matches("Claim   your PRIZE now") == {"scam": "Claim   your PRIZE"}
    assert terms.matches("cl\u0430im your prize") == {"scam": "claim your prize"}  # Cyrillic a
    assert terms.matches("reclaim your prizes") == {}
    assert terms.matches("i will killll you") == {"threat": "killll you"}


@pytest.mark.parametrize(
    "raw, problem",
    [
        ({"scam": ["re:(unclosed"]}, "scam: invalid pattern 're:(unclosed'"),
        ({"spam": ["buy"]}, "'spam' is not a category of the model"),
        ({"scam": "buy now"}, "expected a list of non-empty strings"),
        (["buy"], "expected {category: [terms]}"),
    ],
)
def test_a_bad_term_list_is_an_error_naming_the_entry(raw, problem):
    with pytest.raises(ModpipeError, match="^lists.yaml: ") as error:
        compile_terms(raw, CATEGORIES, "lists.yaml")
    assert problem in str(error.value)


def test_the_starter_lists_are_written_byte_for_byte_the_same(tmp_path):
    write_starter_terms(tmp_path / "a")
    write_starter_terms(tmp_path / "b")
    assert (tmp_path / "a/terms.yaml").read_bytes() == (tmp_path / "b/terms.yaml").read_bytes()
    lists = load_terms(tmp_path / "a/terms.yaml", ["spam", "self_harm", "violence"])
    assert lists.matches("WINNER! you have won a cash prize")["spam"]


# --- the known-violation index


@pytest.mark.parametrize("backend", ["faiss", "qdrant"])
def test_the_index_finds_each_categorys_nearest_known_violation(tmp_path, backend):
    vectors = unit(40)
    entries = [
        Entry(f"k{i}", ("insult",) if i % 2 else ("scam", "insult"), f"t{i}") for i in range(40)
    ]
    index = ViolationIndex.build(
        tmp_path / "index", vectors, entries, CATEGORIES, "enc@1", backend=backend
    )
    nearest = index.nearest_by_category(vectors[[2, 3]], k=40)
    assert nearest.position[:, 0].tolist() == [2, 3]  # itself, for insult
    assert nearest.position[0, 2] == 2 and 0 < nearest.similarity[1, 2] < 0.999  # scam: even only
    assert nearest.position[:, 1].tolist() == [-1, -1] and not nearest.similarity[:, 1].any()
    index.close()
    reloaded = ViolationIndex.load(tmp_path / "index", "enc@1")
    assert reloaded.entries[3] == entries[3]
    reloaded.close()


def test_an_index_from_another_encoder_is_refused_naming_both(tmp_path):
    ViolationIndex.build(
        tmp_path / "i",
        unit(3),
        [Entry(str(i), ("scam",), "") for i in range(3)],
        CATEGORIES,
        "minilm@aaa",
    )
    with pytest.raises(
        ModpipeError, match="built with encoder 'minilm@aaa', the model's is 'minilm@bbb'"
    ):
        ViolationIndex.load(tmp_path / "i", "minilm@bbb")
    manifest = json.loads((tmp_path / "i/manifest.json").read_text())
    assert manifest["count"] == 3 and manifest["backend"] == "faiss"


# --- fusion


TAXONOMY = Taxonomy(
    categories=[
        Category(name="insult", description="d", severity="medium"),
        Category(name="threat", description="d", severity="critical"),
        Category(name="scam", description="d", severity="low"),
    ]
)


def scanned(rows: list[dict]) -> pd.DataFrame:
    """Rows of channel values: {category: (score, similarity, term)}."""
    records = []
    for number, row in enumerate(rows):
        record = {"id": str(number), "text": f"text {number}"}
        for category in CATEGORIES:
            score, similarity, term = row.get(category, (0.0, 0.0, ""))
            record |= {
                score_column(category): score,
                similarity_column(category): similarity,
                nearest_column(category): "k1" if similarity else "",
                term_column(category): term,
            }
        records.append(record)
    return pd.DataFrame(records)


def test_fusion_lets_any_channel_raise_an_item_and_agreeing_channels_raise_it_more():
    frame = scanned(
        [
            {"insult": (0.05, 0.0, "")},  # nothing
            {"insult": (0.05, 0.99, "")},  # a re-upload the classifier misses
            {"insult": (0.05, 0.0, "idiot")},  # a listed term
            {"insult": (0.9, 0.0, "")},  # the classifier alone
            {"insult": (0.9, 0.99, "idiot")},  # all three
        ]
    )
    cutoffs = dict.fromkeys(CATEGORIES, 0.8)
    fused = fuse(frame, TAXONOMY, dict.fromkeys(CATEGORIES, 0.5), RecallConfig(), cutoffs)
    risk = fused["risk"].to_numpy()
    assert risk[0] < min(risk[1], risk[2]) and risk[4] > max(risk[1:4])
    assert fused["channels"].tolist() == [
        "",
        "similarity",
        "terms",
        "classifier",
        "classifier,similarity,terms",
    ]
    assert fused.loc[1, "nearest_id"] == "k1" and fused.loc[
        1, "nearest_similarity"
    ] == pytest.approx(0.99)


def test_severity_ranks_a_critical_category_over_a_low_one_at_the_same_evidence():
    fused = fuse(
        scanned([{"scam": (0.8, 0, "")}, {"threat": (0.8, 0, "")}]),
        TAXONOMY,
        {c: 0.5 for c in CATEGORIES},
        RecallConfig(),
    )
    assert fused["category"].tolist() == ["scam", "threat"]
    assert fused.loc[1, "risk"] > fused.loc[0, "risk"]


# --- near-duplicate clusters


def test_copies_and_near_copies_fold_into_one_cluster_led_by_the_riskiest():
    texts = pd.Series(
        ["WIN cash now!!", "win cash now", "buy cheap pills", "buy cheap pills #deal", "hi", "x"]
    )
    vectors = unit(6)
    vectors[3] = vectors[2]  # a near copy: a tag appended
    risk = np.array([0.8, 0.9, 0.7, 0.75, 0.5, 0.1])
    found = cluster(risk, texts, vectors, limit=3, candidates=100, similarity=0.95)
    assert found.leaders.tolist() == [1, 3, 4]  # riskiest of each, riskiest first
    assert found.size.tolist() == [2, 2, 1]
    assert sorted(found.members[0].tolist()) == [0, 1] and sorted(found.members[1].tolist()) == [
        2,
        3,
    ]


def test_texts_alike_by_embedding_but_not_by_words_stay_apart():
    """A fine-tuned encoder puts distinct texts of a category close together."""
    texts = pd.Series(["you are a worthless idiot", "go back to where you came from"])
    vectors = unit(2)
    vectors[1] = vectors[0]
    found = cluster(np.array([0.9, 0.8]), texts, vectors, limit=2, candidates=10, similarity=0.95)
    assert found.leaders.tolist() == [0, 1] and found.size.tolist() == [1, 1]


def test_without_a_cut_off_the_similarity_channel_stays_silent():
    """An index without calibrated cut-offs, and no setting: no similarity is a match."""
    frame = scanned([{"insult": (0.05, 0.999, "")}])
    fused = fuse(frame, TAXONOMY, dict.fromkeys(CATEGORIES, 0.5), RecallConfig())
    assert fused.loc[0, "channels"] == "" and fused.loc[0, "risk"] < 0.05
