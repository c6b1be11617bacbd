"""Zero/few-shot embedding baseline with the bundled all-MiniLM-L6-v2 (CPU, a few dozen texts)."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from components.data.canonical import load_taxonomy
from components.errors import ModpipeError
from components.model.baseline import EmbeddingBaseline, SentenceEncoder

TAXONOMY = load_taxonomy().subset(["violence", "spam"])
VIOLENT = [
    "I am going to smash {x}'s face in with a hammer",
    "someone should stab {x} on the way home",
    "we will burn down {x}'s house with the family inside",
    "I'll break every bone in {x}'s body",
    "let's beat {x} with bats until he stops moving",
]
SPAM = [
    "Congratulations {x}! You won a $1000 gift card, click the link to claim",
    "{x}, your account is locked, send your password to unlock it",
    "Earn $5000 a week from home, {x}, no experience needed, DM now",
    "Cheap watches and pills, {x}, 90% off, buy today only",
    "{x}, verify your bank details at this site or lose your funds",
]
# Harmless texts that share words with the categories: zero-shot trips over them.
LOOKALIKES = [
    "{x} killed it at the concert last night",
    "the game where {x} shoots zombies is so much fun",
    "{x} has to kill the server process before the deploy",
    "your parcel for {x} was delivered today, no action needed",
    "{x}'s bank statement for March is available in the app",
    "{x} smashed the exam, what a legend",
    "chop the onions and beat the eggs, said {x}",
    "{x} won the chess tournament and got a trophy",
]


def synthetic_split(names: list[str]) -> pd.DataFrame:
    rows = [(t.format(x=n), 1, 0) for n in names for t in VIOLENT]
    rows += [(t.format(x=n), 0, 1) for n in names for t in SPAM]
    rows += [(t.format(x=n), 0, 0) for n in names for t in LOOKALIKES]
    texts, violence, spam = zip(*rows, strict=True)
    return pd.DataFrame(
        {
            "text": list(texts),
            "label_violence": pd.array(violence, dtype="Int8"),
            "label_spam": pd.array(spam, dtype="Int8"),
        }
    )


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


@pytest.fixture(scope="module")
def zero_shot(encoder) -> EmbeddingBaseline:
    return EmbeddingBaseline(load_taxonomy(), encoder=encoder).fit()


def test_zero_shot_scores_violence_above_a_neutral_sentence(zero_shot):
    texts = [
        "I will find you and beat you until you bleed.",
        "The library opens at nine and has a nice reading room.",
    ]
    scores = zero_shot.predict_scores(texts)
    violence = zero_shot.categories.index("violence")
    assert scores.shape == (2, len(zero_shot.categories))
    assert np.all((scores >= 0) & (scores <= 1))
    assert scores[0, violence] > scores[1, violence] + 0.2


def test_scores_do_not_depend_on_batch_neighbours_or_order(zero_shot):
    texts = [
        "Nice weather today.",
        "Buy cheap followers now!!!",
        "You are an idiot.",
        "A much longer sentence that needs a lot more padding than the others do here.",
    ]
    alone = np.vstack([zero_shot.predict_scores([text]) for text in texts])
    together = zero_shot.predict_scores(texts)
    reversed_order = zero_shot.predict_scores(texts[::-1])[::-1]
    repeated = zero_shot.predict_scores(texts + texts[:2])
    np.testing.assert_allclose(together, alone, atol=1e-6)
    np.testing.assert_allclose(reversed_order, together, atol=1e-6)
    np.testing.assert_allclose(repeated[:4], together, atol=1e-6)
    np.testing.assert_allclose(repeated[4:], together[:2], atol=1e-6)


def macro_pr_auc(baseline: EmbeddingBaseline, split: pd.DataFrame) -> float:
    scores = baseline.predict_scores(split["text"].tolist())
    labels = split[["label_violence", "label_spam"]].to_numpy(dtype=float)
    return float(np.mean([average_precision_score(labels[:, j], scores[:, j]) for j in (0, 1)]))


def test_few_shot_examples_improve_pr_auc_over_zero_shot(encoder):
    train = synthetic_split(["Tom", "Anna", "Raj", "Maria"])
    test = synthetic_split(["Lee", "Olga", "Sam"])
    zero = EmbeddingBaseline(TAXONOMY, encoder=encoder).fit()
    few = EmbeddingBaseline(TAXONOMY, encoder=encoder, shots=4).fit(train)
    assert macro_pr_auc(few, test) > macro_pr_auc(zero, test) + 0.1


def test_few_shot_never_samples_unknown_labels_as_negatives(encoder):
    known = synthetic_split(["Tom"])
    unknown = synthetic_split(["Anna"]).assign(
        label_violence=pd.array([None] * 18, dtype="Int8"),
        label_spam=pd.array([None] * 18, dtype="Int8"),
    )
    # More shots than rows: every known example is used, so the result cannot depend on sampling.
    with_unknown = EmbeddingBaseline(TAXONOMY, encoder=encoder, shots=50).fit(
        pd.concat([unknown, known], ignore_index=True)
    )
    without = EmbeddingBaseline(TAXONOMY, encoder=encoder, shots=50).fit(known)
    np.testing.assert_allclose(
        with_unknown.negative_prototypes, without.negative_prototypes, atol=1e-6
    )
    np.testing.assert_allclose(
        with_unknown.positive_prototypes, without.positive_prototypes, atol=1e-6
    )


def test_few_shot_sampling_follows_the_seed(encoder):
    train = synthetic_split(["Tom", "Anna", "Raj", "Maria"])
    first, second, other = (
        EmbeddingBaseline(TAXONOMY, encoder=encoder, shots=2, seed=seed).fit(train)
        for seed in (7, 7, 8)
    )
    np.testing.assert_array_equal(first.positive_prototypes, second.positive_prototypes)
    assert not np.allclose(first.positive_prototypes, other.positive_prototypes)


def test_misuse_is_a_user_error(encoder, tmp_path):
    with pytest.raises(ModpipeError, match="needs labelled training rows"):
        EmbeddingBaseline(TAXONOMY, encoder=encoder, shots=2).fit()
    with pytest.raises(ModpipeError, match="not fitted"):
        EmbeddingBaseline(TAXONOMY, encoder=encoder).predict_scores(["hello"])
    with pytest.raises(ModpipeError, match="no-such-model"):
        EmbeddingBaseline(TAXONOMY, encoder=str(tmp_path / "no-such-model"))
