"""The promotion gate: may a candidate replace the champion? A pure function of their metrics.

With a champion (scored on the same test data) the macro PR-AUC over the shared categories may
drop by at most ``max_pr_auc_drop`` and each shared category's recall by at most
``max_recall_drop``; the first model must clear the absolute floors.
"""

import numpy as np
from pydantic import BaseModel

from components.config import GateConfig

_TOLERANCE = 1e-9  # metric drops equal to the allowance pass despite float rounding


class GateDecision(BaseModel):
    passed: bool
    reasons: list[str]
    candidate_version: str | None = None
    champion_version: str | None = None
    candidate: dict
    champion: dict | None = None


def _check(ok: bool, text: str) -> tuple[bool, str]:
    return ok, f"{'PASS' if ok else 'FAIL'}: {text}"


def _floor_check(label: str, value: float | None, floor: float) -> tuple[bool, str]:
    if value is None:
        return _check(floor <= 0, f"macro {label} undefined, floor {floor:.4f}")
    ok = value >= floor - _TOLERANCE
    return _check(ok, f"macro {label} {value:.4f} {'>=' if ok else '<'} floor {floor:.4f}")


def _floor_checks(candidate: dict, config: GateConfig) -> list[tuple[bool, str]]:
    macro = candidate["macro"]
    return [
        (True, "no champion yet: the first model must meet the absolute floors"),
        _floor_check("PR-AUC", macro.get("pr_auc"), config.min_macro_pr_auc),
        _floor_check("F1", macro.get("f1"), config.min_macro_f1),
    ]


def _drop_check(label: str, ours: float, theirs: float, allowed: float) -> tuple[bool, str]:
    drop = theirs - ours
    ok = drop <= allowed + _TOLERANCE
    return _check(
        ok,
        f"{label} {ours:.4f} vs champion {theirs:.4f} "
        f"(drop {drop:.4f} {'<=' if ok else '>'} allowed {allowed:.4f})",
    )


def _defined_pairs(candidate: dict, champion: dict, categories: list[str], metric: str) -> dict:
    pairs = {}
    for category in categories:
        ours = candidate["per_category"][category][metric]
        theirs = champion["per_category"][category][metric]
        if ours is not None and theirs is not None:
            pairs[category] = (ours, theirs)
    return pairs


def _champion_checks(candidate: dict, champion: dict, config: GateConfig) -> list[tuple[bool, str]]:
    ours, theirs = set(candidate["per_category"]), set(champion["per_category"])
    shared = [c for c in candidate["per_category"] if c in theirs]
    if not shared:
        return [_check(False, "no category in common with the champion, nothing to compare")]
    checks = []
    if ours != theirs:
        checks.append(
            (
                True,
                f"compared on the {len(shared)} shared categories only "
                f"(candidate only: {sorted(ours - theirs)}, "
                f"champion only: {sorted(theirs - ours)})",
            )
        )
    pr_aucs = _defined_pairs(candidate, champion, shared, "pr_auc")
    if pr_aucs:
        macro_ours, macro_theirs = np.mean(list(pr_aucs.values()), axis=0)
        checks.append(
            _drop_check(
                f"macro PR-AUC over {len(pr_aucs)} categories",
                macro_ours,
                macro_theirs,
                config.max_pr_auc_drop,
            )
        )
    else:
        checks.append(
            _check(
                False,
                "PR-AUC is undefined for every shared category "
                "(the test split needs positives and negatives)",
            )
        )
    recalls = _defined_pairs(candidate, champion, shared, "recall")
    checks += [
        _drop_check(f"recall of {category}", ours_recall, theirs_recall, config.max_recall_drop)
        for category, (ours_recall, theirs_recall) in recalls.items()
    ]
    return checks


def gate(candidate: dict, champion: dict | None, config: GateConfig) -> GateDecision:
    """Whether ``candidate`` may replace ``champion``; both are compute_metrics() dicts.

    With a champion (scored on the same test data): the macro PR-AUC over the shared
    categories may drop by at most ``max_pr_auc_drop``, and each shared category's recall by
    at most ``max_recall_drop``. Without one: the macro PR-AUC and F1 floors. Each reason
    says PASS or FAIL with the numbers.
    """
    checks = (
        _champion_checks(candidate, champion, config)
        if champion is not None
        else _floor_checks(candidate, config)
    )
    return GateDecision(
        passed=all(ok for ok, _ in checks),
        reasons=[reason for _, reason in checks],
        candidate=candidate,
        champion=champion,
    )
