"""Identity-term bias (Borkan et al. 2019) on hand-built rows whose answers are known."""

import numpy as np
import pytest

from components.errors import ModpipeError
from components.model.bias import identity_bias
from components.model.quality import flat_bias_metrics
from components.model.quality import metric_slug as slug

THRESHOLD = 0.5


def rows(term, toxic: int, non_toxic: int, toxic_score: float, non_toxic_score: float):
    """``toxic`` + ``non_toxic`` rows about ``term``, each class at one score."""
    return (
        [term] * (toxic + non_toxic),
        [1] * toxic + [0] * non_toxic,
        [toxic_score] * toxic + [non_toxic_score] * non_toxic,
    )


def combine(*parts):
    """Parts made by :func:`rows` (or by ``combine``) as one set of rows."""
    identities, labels, scores = [], [], []
    for part_identities, part_labels, part_scores in parts:
        identities += part_identities
        labels += part_labels
        scores += part_scores
    return identities, labels, scores


def fair(term, toxic: int = 10, non_toxic: int = 10):
    return rows(term, toxic, non_toxic, 0.9, 0.1)


def test_an_unbiased_scorer_gets_perfect_aucs_and_no_false_positives():
    result = identity_bias(*combine(fair("gay"), fair("muslim"), fair(None)), THRESHOLD)
    assert list(result["identities"]) == ["gay", "muslim"]
    for figures in result["identities"].values():
        assert figures == {
            "rows": 20,
            "positives": 10,
            "subgroup_auc": 1.0,
            "bpsn_auc": 1.0,
            "bnsp_auc": 1.0,
            "fpr": 0.0,
        }
    assert result["rows"] == 60
    assert result["threshold"] == THRESHOLD


def test_a_scorer_biased_against_one_term_gives_it_a_low_bpsn_auc_and_high_fpr():
    # Non-toxic sentences about "muslim" score above every toxic sentence elsewhere, yet
    # below the toxic ones about "muslim": only BPSN and the FPR see it.
    biased = rows("muslim", 10, 10, 0.99, 0.95)
    result = identity_bias(*combine(fair("christian"), fair("jewish"), biased), THRESHOLD)
    muslim = result["identities"]["muslim"]
    assert muslim["bpsn_auc"] == 0.0
    assert muslim["fpr"] == 1.0
    assert muslim["subgroup_auc"] == 1.0
    assert muslim["bnsp_auc"] == 1.0
    assert result["worst"][0] == "muslim"
    assert result["summary"]["min_bpsn_auc"] == 0.0
    assert result["summary"]["max_fpr"] == 1.0
    # The fair terms' BPSN sees muslim's toxic rows (0.99) as background positives: still
    # above their 0.1 negatives, so still perfect.
    assert result["identities"]["christian"]["bpsn_auc"] == 1.0


def test_half_over_flagged_negatives_give_bpsn_one_half():
    over_flagged = rows("deaf", 0, 10, 0.0, 0.95)
    scored_low = rows("deaf", 10, 10, 0.99, 0.1)
    result = identity_bias(*combine(fair("blind"), over_flagged, scored_low), THRESHOLD)
    deaf = result["identities"]["deaf"]
    assert deaf["fpr"] == pytest.approx(0.5)
    assert deaf["bpsn_auc"] == pytest.approx(0.5)
    assert result["summary"]["mean_fpr"] == pytest.approx(0.25)
    assert result["summary"]["mean_bpsn_auc"] == pytest.approx(0.75)


def test_rows_about_no_identity_are_background_and_never_a_term():
    # The only toxic rows are about no identity: BPSN is defined only if they count.
    no_identity = [rows(blank, 5, 0, 0.9, 0) for blank in (None, np.nan, "", "  ")]
    result = identity_bias(*combine(*no_identity, rows("elderly", 0, 10, 0, 0.2)), THRESHOLD)
    assert list(result["identities"]) == ["elderly"]
    elderly = result["identities"]["elderly"]
    assert elderly["bpsn_auc"] == 1.0
    assert elderly["positives"] == 0
    assert elderly["subgroup_auc"] is None  # one class only
    assert elderly["bnsp_auc"] is None  # no subgroup positives
    assert result["summary"]["min_subgroup_auc"] is None
    assert result["too_few_rows"] == []


def test_terms_under_min_rows_are_only_listed():
    result = identity_bias(*combine(fair("gay"), fair("sikh", 2, 1)), THRESHOLD, min_rows=5)
    assert list(result["identities"]) == ["gay"]
    assert result["too_few_rows"] == ["sikh"]
    assert result["min_rows"] == 5


def test_worst_orders_by_bpsn_with_undefined_last_and_is_capped():
    parts = [
        fair("asian"),
        rows("black", 10, 10, 0.99, 0.95),  # BPSN 0.0
        combine(rows("white", 10, 5, 0.99, 0.1), rows("white", 0, 5, 0, 0.95)),  # 0.5
        rows("trans", 10, 0, 0.9, 0),  # no subgroup negatives: BPSN undefined
    ]
    result = identity_bias(*combine(*parts), THRESHOLD)
    assert result["identities"]["trans"]["bpsn_auc"] is None
    assert result["identities"]["trans"]["fpr"] is None
    assert result["worst"] == ["black", "white", "asian", "trans"]
    assert identity_bias(*combine(*parts), THRESHOLD, worst=2)["worst"] == ["black", "white"]


def test_flat_names_use_slugs_and_leave_out_undefined_figures():
    parts = combine(fair("African American"), rows("Middle-Eastern ", 0, 10, 0, 0.1))
    flat = flat_bias_metrics(identity_bias(*parts, THRESHOLD))
    assert flat["bias.african_american.bnsp_auc"] == 1.0
    assert flat["bias.african_american.rows"] == 20.0
    assert flat["bias.middle_eastern.bpsn_auc"] == 1.0
    assert flat["bias.middle_eastern.fpr"] == 0.0
    # Undefined: no toxic row outside "African American", no toxic one about "Middle-Eastern".
    assert "bias.african_american.bpsn_auc" not in flat
    assert "bias.middle_eastern.subgroup_auc" not in flat
    assert flat["bias.summary.min_bpsn_auc"] == 1.0
    assert all(isinstance(value, float) for value in flat.values())
    assert slug("  LGBTQ+ / queer!") == "lgbtq_queer"


def test_mismatched_inputs_are_refused():
    identities, labels, scores = combine(fair("gay"))
    with pytest.raises(ModpipeError, match="one identity, label and score"):
        identity_bias(identities[:-1], labels, scores, THRESHOLD)
    with pytest.raises(ModpipeError, match="0/1"):
        identity_bias(identities, np.array(labels) * 2, scores, THRESHOLD)
