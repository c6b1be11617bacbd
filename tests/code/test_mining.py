"""Hard-example mining on small synthetic arrays: each strategy's defining behaviour, the batch
that combines them, and the bandit that shares the budget."""

import numpy as np
import pytest

from components.errors import ModpipeError
from components.mining import strategies
from components.mining.bandit import (
    Pick,
    allocate,
    load_state,
    new_state,
    probabilities,
    save_state,
    start_round,
    update,
)
from components.mining.batch import MiningInputs, assemble, check_request
from components.mining.rewards import pick_yield, round_rewards

NOTHING = np.zeros(6, dtype=bool)


def unit(vectors) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=float)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_uncertainty_picks_the_item_at_its_threshold_fairly_for_a_low_threshold():
    # column 1's threshold is 0.05: 0.06 there is nearer a decision than 0.6 against 0.5
    scores = np.array([[0.9, 0.0], [0.6, 0.0], [0.1, 0.06], [0.99, 0.9], [0.5, 0.0], [0.0, 0.0]])
    ranking = strategies.uncertainty(scores, np.array([0.5, 0.05]), 3, NOTHING)
    assert ranking.indices.tolist() == [4, 2, 1]
    assert ranking.values[0] == pytest.approx(0.0, abs=1e-6)
    assert ranking.categories.tolist() == [0, 1, 0]


def test_uncertainty_shares_the_batch_between_categories():
    # column 0's boundary holds many items nearer than column 1's nearest: each still gets half
    scores = np.array([[0.5, 0.0], [0.51, 0.0], [0.52, 0.0], [0.53, 0.0], [0.1, 0.3], [0.1, 0.2]])
    ranking = strategies.uncertainty(scores, np.array([0.5, 0.5]), 4, NOTHING)
    assert ranking.indices.tolist() == [0, 4, 1, 5]
    assert ranking.categories.tolist() == [0, 1, 0, 1]


def test_spreading_out_skips_a_near_copy_of_an_item_already_picked():
    vectors = unit([[1, 0, 0], [1, 0.01, 0], [0, 1, 0], [0, 0, 1]])
    nearest = strategies.Ranking(np.array([0, 1, 2]), np.array([0.0, 0.1, 0.2]), np.zeros(3, int))
    centres = np.array([False, False, False, True])  # item 3 is labelled already
    spread = strategies.spread_out(nearest, vectors, centres, 2)
    assert 2 in spread.indices and len({0, 1} & set(spread.indices.tolist())) == 1
    assert spread.values.tolist() == [nearest.values[i] for i in spread.indices]


def test_uncertainty_never_picks_an_excluded_item():
    scores = np.array([[0.5], [0.51], [0.9]])
    exclude = np.array([True, False, False])
    assert strategies.uncertainty(scores, np.array([0.5]), 3, exclude).indices.tolist() == [1, 2]


def test_disagreement_puts_opposite_decisions_before_a_larger_gap():
    model = np.array([[0.9], [0.55], [0.1], [0.3]])
    baseline = np.array([[0.95], [0.45], [0.1], [0.0]])  # item 1 flips, item 3 gaps by 0.3
    ranking = strategies.disagreement(model, baseline, np.array([0.5]), 4, np.zeros(4, bool))
    assert ranking.indices.tolist()[:2] == [1, 3]
    assert ranking.values[:2] == pytest.approx([0.1, 0.3])


def two_clusters(rng, size=60):
    """Embeddings in two separable clusters, labelled by cluster."""
    centres = np.zeros((2, 8))
    centres[0, 0], centres[1, 1] = 1.0, 1.0
    truth = np.repeat([0, 1], size // 2)
    return unit(centres[truth] + 0.15 * rng.normal(size=(size, 8))), truth


def test_label_errors_finds_planted_flipped_labels():
    rng = np.random.default_rng(0)
    embeddings, truth = two_clusters(rng)
    flipped = [3, 41]
    labels = truth.astype(float)
    labels[flipped] = 1 - labels[flipped]
    ranking = strategies.label_errors(embeddings, labels[:, None], 2, np.zeros(60, bool))
    assert sorted(ranking.indices.tolist()) == flipped
    assert (ranking.values > 0).all()


def test_label_errors_skips_unknown_labels_and_one_class_categories():
    rng = np.random.default_rng(1)
    embeddings, truth = two_clusters(rng)
    labels = np.column_stack([truth.astype(float), np.zeros(60)])  # column 1: one class only
    labels[:10, 0] = np.nan
    ranking = strategies.label_errors(embeddings, labels, 60, np.zeros(60, bool))
    assert not set(ranking.indices.tolist()) & set(range(10))
    assert set(ranking.categories.tolist()) == {0}


def test_confident_errors_uses_per_class_mean_self_confidence():
    labels = np.array([1, 1, 0, 0, 0])
    probabilities = np.array([0.9, 0.3, 0.1, 0.2, 0.7])
    # thresholds: class 1 mean(0.9, 0.3) = 0.6, class 0 mean(0.9, 0.8, 0.3) = 2/3
    margins = strategies.confident_errors(labels, probabilities)
    assert margins == pytest.approx([0.1 - 2 / 3, 0.7 - 2 / 3, -0.5, -0.4, 0.1])


def test_diversity_spreads_away_from_the_labelled_set_and_from_its_own_picks():
    # items 0-2 near x (item 0 labelled), 3-4 near y, 5 alone on z
    embeddings = unit([[1, 0, 0], [1, 0.1, 0], [1, 0, 0.1], [0, 1, 0], [0.1, 1, 0], [0, 0, 1]])
    labelled = np.array([True, False, False, False, False, False])
    ranking = strategies.diversity(embeddings, labelled, 3, labelled)
    assert set(ranking.indices[:2].tolist()) == {3, 5}  # one per uncovered direction first
    assert ranking.values[0] == pytest.approx(1.0)
    assert len(set(ranking.indices.tolist())) == 3


def test_diversity_with_no_centres_starts_far_from_the_mean():
    embeddings = unit([[1, 0.1], [1, 0], [1, -0.1], [0, 1]])
    ranking = strategies.diversity(embeddings, np.zeros(4, bool), 2, np.zeros(4, bool))
    assert ranking.indices.tolist()[0] == 3


def test_near_misses_wants_similar_to_a_violation_yet_below_every_threshold():
    similarity = np.array([0.95, 0.9, 0.2, 0.8])
    scores = np.array([[0.9], [0.1], [0.1], [0.2]])  # item 0 is already flagged
    ranking = strategies.near_misses(similarity, scores, np.array([0.5]), 3, np.zeros(4, bool))
    assert ranking.indices.tolist() == [1, 3, 2]


def small_inputs(labels=None, similarity=None) -> MiningInputs:
    rng = np.random.default_rng(2)
    return MiningInputs(
        scores=rng.uniform(size=(40, 2)),
        thresholds=np.array([0.5, 0.3]),
        embeddings=unit(rng.normal(size=(40, 5))),
        baseline=rng.uniform(size=(40, 2)),
        labels=labels,
        similarity=similarity,
    )


def test_a_batch_never_picks_an_item_twice_nor_a_labelled_one_but_to_review_it():
    labels = np.full((40, 2), np.nan)
    labels[:20] = np.random.default_rng(3).integers(0, 2, size=(20, 2))
    inputs = small_inputs(labels, similarity=np.linspace(0, 1, 40))
    allocation = {"uncertainty": 4, "disagreement": 4, "diversity": 4, "near_misses": 4}
    batch = assemble(inputs, {**allocation, "label_errors": 4})
    assert len(batch.indices) == len(set(batch.indices.tolist())) == 20
    labelled = [name for i, name in zip(batch.indices, batch.strategies, strict=True) if i < 20]
    assert labelled == ["label_errors"] * 4
    assert set(batch.strategies) == {*allocation, "label_errors"}


def test_a_strategy_short_of_candidates_leaves_its_share_to_the_others():
    labels = np.full((40, 2), np.nan)
    labels[:8] = np.tile([[0, 1], [1, 0]], (4, 1))  # only eight items to review
    batch = assemble(small_inputs(labels), {"label_errors": 10, "uncertainty": 5})
    assert len(batch.indices) == 15
    assert batch.strategies.count("label_errors") == 8


def test_unknown_strategies_and_missing_inputs_are_clear_errors():
    with pytest.raises(ModpipeError, match="unknown strategy luck"):
        check_request(["luck"], 5, None, 40)
    with pytest.raises(ModpipeError, match="label_errors needs labelled items"):
        check_request(["label_errors"], 5, None, 40)
    with pytest.raises(ModpipeError, match="near_misses needs known violations"):
        assemble(small_inputs(), {"near_misses": 5})
    with pytest.raises(ModpipeError, match="a batch of 41 is more than the 40 items"):
        check_request(["uncertainty"], 41, None, 40)


def play(state, budget, reward_of):
    """One round: allocate, pick (a fake id per pick), reward each pick by its strategy."""
    allocation = allocate(state, budget)
    picks = [
        Pick(id=f"{name}{i}", strategy=name) for name, n in allocation.items() for i in range(n)
    ]
    state = start_round(state, picks)
    picked = {name: n for name, n in allocation.items() if n}
    return update(state, picked, {name: reward_of[name] for name in picked})


def test_the_bandit_shifts_budget_toward_the_strategy_that_pays():
    state = new_state(["uncertainty", "diversity", "near_misses"], ["spam"], seed=7)
    for _ in range(8):
        state = play(state, 100, {"uncertainty": 0.1, "diversity": 0.2, "near_misses": 0.8})
    shares = probabilities(state)
    assert shares["near_misses"] > 0.7
    assert min(shares.values()) >= state.exploration / 3  # the exploration floor holds
    assert state.rounds[-1].allocation["near_misses"] > 60


def test_the_bandit_state_round_trips_through_json_and_is_reproducible(tmp_path):
    def run(seed):
        state = new_state(["uncertainty", "diversity"], ["spam"], seed=seed)
        for _ in range(3):
            state = play(state, 50, {"uncertainty": 0.3, "diversity": 0.6})
        return state

    state = run(5)
    path = save_state(state, tmp_path / "state.json")
    assert load_state(path) == state
    assert run(5) == state
    assert [r.allocation for r in run(6).rounds] != [r.allocation for r in state.rounds]
    assert load_state(tmp_path / "none.json") is None


def test_a_broken_state_file_is_a_clear_error(tmp_path):
    path = tmp_path / "state.json"
    path.write_text('{"strategies": []}', encoding="utf-8")
    with pytest.raises(ModpipeError, match="not a mining state"):
        load_state(path)


def test_a_pick_yields_violations_and_model_errors_not_already_known():
    fresh = Pick(id="a", strategy="uncertainty", flagged=[])
    both = "violations_and_errors"
    assert pick_yield(fresh, {"spam": 1.0}, both) == 1.0  # a violation the model missed
    assert pick_yield(fresh, {"spam": 0.0}, both) == 0.0
    assert pick_yield(Pick(id="b", strategy="x", flagged=["spam"]), {"spam": 0.0}, both) == 0.5
    reviewed = Pick(id="c", strategy="label_errors", flagged=["spam"], known={"spam": 0})
    assert pick_yield(reviewed, {"spam": 0.0}, both) == 0.0  # confirmed: nothing new learnt
    assert pick_yield(reviewed, {"spam": 1.0}, both) == 1.0  # a label error found
    assert pick_yield(fresh, {"spam": np.nan}, both) is None
    counts, rewards = round_rewards(
        [fresh, reviewed], {"a": {"spam": 1.0}}, "violations_and_errors"
    )
    assert counts == {"uncertainty": 1} and rewards == {"uncertainty": 1.0}


def test_an_errors_reward_counts_model_errors_only():
    flagged = Pick(id="a", strategy="uncertainty", flagged=["spam"])
    assert pick_yield(flagged, {"spam": 1.0}) == 0.0  # a violation the model had: the default
    assert pick_yield(flagged, {"spam": 1.0}, "violations_and_errors") == 0.5
    assert pick_yield(flagged, {"spam": 0.0}) == 1.0  # a false positive
    assert new_state(["uncertainty"], ["spam"], reward="violations_and_errors").reward != (
        new_state(["uncertainty"], ["spam"]).reward
    )
