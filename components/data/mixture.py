"""Training mixtures: several canonical datasets mapped onto one taxonomy and merged.

No public dataset labels every policy category, so each source contributes the categories it
labels and leaves the rest unknown (<NA>, masked in training and metrics), never 0. A source's
categories are mapped onto the run's taxonomy (several may merge into one, or be dropped); a
text that appears several times, in one source or in several (exactly or as a near-duplicate),
is kept once, and never in training when an evaluation-only source holds it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from components.config import DataConfig, SourceConfig
from components.data.canonical import (
    DEFAULT_TAXONOMY,
    Category,
    DatasetCard,
    Taxonomy,
    label_column,
    label_columns,
    load_taxonomy,
    near_duplicate_key,
)
from components.errors import ModpipeError

SAMPLE_SEED = 0


@dataclass(frozen=True)
class LoadedSource:
    config: SourceConfig
    card: DatasetCard
    frame: pd.DataFrame
    md5: str  # DVC's md5 of the source folder, before sampling


def version_of(sources: list[LoadedSource]) -> str:
    """The mixture's dataset version: each source's name, md5 and (if pinned) rev."""
    return ", ".join(
        f"{s.config.name}={s.md5}" + (f"@{s.config.rev}" if s.config.rev else "") for s in sources
    )


def _category_map(
    source: SourceConfig, card: DatasetCard, base: dict[str, Category]
) -> dict[str, str | None]:
    """Every category of the source -> a run category or None (dropped), checked."""
    name, own = source.name, card.names
    unknown = [c for c in source.categories if c not in own]
    if unknown:
        raise ModpipeError(
            f"source {name!r} has no category {', '.join(map(repr, unknown))} "
            f"(it has: {', '.join(own)})"
        )
    mapping = {}
    for category in own:
        target = source.categories.get(category, category if category in base else "")
        if target == "":
            raise ModpipeError(
                f"source {name!r}: category {category!r} is not in the run's taxonomy; map it "
                f"(categories: {{{category}: TARGET}}), keep it ({category}: {category}) or drop "
                f"it ({category}: null)"
            )
        if target is not None and target not in base and target != category:
            raise ModpipeError(
                f"source {name!r} maps {category!r} to {target!r}, which the run's taxonomy "
                f"lacks (it has: {', '.join(base)}); define it under data.categories"
            )
        mapping[category] = target
    if not any(mapping.values()):
        raise ModpipeError(f"source {name!r} contributes no labels: every category is dropped")
    return mapping


def run_taxonomy(config: DataConfig, cards: dict[str, DatasetCard]) -> Taxonomy:
    """The configured taxonomy and extra categories, plus the categories sources keep as
    their own; two sources keeping one name with different descriptions is an error. Only
    the sources' cards are read, so a run checks its mixture before it starts."""
    base = {c.name: c for c in load_taxonomy(config.taxonomy or DEFAULT_TAXONOMY).categories}
    base.update({c.name: c for c in config.categories})
    kept: dict[str, tuple[str, Category]] = {}
    used = set()
    for source in config.sources:
        if source.name not in cards:
            continue
        own = {c.name: c for c in cards[source.name].categories}
        for category, target in _category_map(source, cards[source.name], base).items():
            used.add(target)
            if target is None or target in base:
                continue
            first = kept.setdefault(target, (source.name, own[category]))
            if first[1].description != own[category].description:
                raise ModpipeError(
                    f"sources {first[0]!r} and {source.name!r} both keep category "
                    f"{target!r} with different descriptions; define it once under "
                    "data.categories"
                )
    categories = [c for c in base.values() if c.name in used]
    return Taxonomy(categories=categories + [c for _, c in kept.values()])


def _merged_labels(frame: pd.DataFrame, categories: list[str]) -> pd.Series:
    """1 if any merged category is 1; else unknown if any is unknown; else 0."""
    labels = frame[[label_column(c) for c in categories]]
    merged = labels.max(axis=1, skipna=True).astype("Int8")
    return merged.where((merged == 1) | labels.notna().all(axis=1), pd.NA).astype("Int8")


def _map_soft_labels(shares, mapping: dict[str, str | None]):
    """Soft labels on the run's categories; merged categories take the highest share."""
    if not isinstance(shares, dict):
        return shares
    mapped: dict[str, float] = {}
    for category, share in shares.items():
        if (target := mapping.get(category)) is not None:
            mapped[target] = max(share, mapped.get(target, 0.0))
    return mapped


def _map_evidence(rationale, mapping: dict[str, str | None]):
    """Evidence spans typed by the run's categories; a dropped category's spans go with it,
    spans of a type that is no category (e.g. "other") stay as they are."""
    if not isinstance(rationale, dict) or "evidence" not in rationale:
        return rationale
    evidence = []
    for span in rationale["evidence"]:
        kind = mapping.get(span["type"], span["type"])
        if kind is not None:
            evidence.append({**span, "type": kind})
    return {**rationale, "evidence": evidence}


def map_source(source: LoadedSource, taxonomy: Taxonomy) -> tuple[DatasetCard, pd.DataFrame]:
    """The source's rows with labels on the run's categories, sampled to ``max_rows``; the
    card lists only the categories this source labels."""
    base = {c.name: c for c in taxonomy.categories}
    mapping = _category_map(source.config, source.card, base)
    frame = source.frame
    if source.config.max_rows and len(frame) > source.config.max_rows:
        frame = frame.sample(n=source.config.max_rows, random_state=SAMPLE_SEED).sort_index()
    mapped = frame.drop(columns=label_columns(frame) + ["split"], errors="ignore").copy()
    targets = list(dict.fromkeys(t for t in mapping.values() if t))
    for target in targets:
        merged_from = [c for c, t in mapping.items() if t == target]
        mapped[label_column(target)] = _merged_labels(frame, merged_from)
    if "soft_labels" in mapped:
        mapped["soft_labels"] = mapped["soft_labels"].map(lambda s: _map_soft_labels(s, mapping))
    if "rationale" in mapped:
        mapped["rationale"] = mapped["rationale"].map(lambda r: _map_evidence(r, mapping))
    mapped["source"] = source.config.name
    if source.config.role == "evaluation":
        mapped["split"] = "test"
    card = source.card.model_copy(
        update={"name": source.config.name, "categories": [base[t] for t in targets]}
    )
    return card, _first_copies(mapped).reset_index(drop=True)


def _first_copies(frame: pd.DataFrame) -> pd.DataFrame:
    """The first row of each text within one source (exact and near-duplicates: ConvAbuse's
    "hi" in a thousand conversations, a spam campaign's copies) is the one a mixture keeps."""
    keys = _text_keys(frame)
    return frame[~(keys.duplicated() & keys.notna()).to_numpy()]


def _text_keys(frame: pd.DataFrame) -> pd.Series:
    """The near-duplicate key, or the text itself where that key is empty (":)", "?")."""
    texts = frame["text"].astype("string")
    return near_duplicate_key(texts).fillna(texts)


def _drop_repeats(frames: list[tuple[str, pd.DataFrame]]) -> tuple[list, dict[str, int]]:
    """Each text (by near-duplicate key) kept in the first source that has it; the rows
    removed from each source. Callers put evaluation-only sources first."""
    seen: set[str] = set()
    kept, removed = [], {}
    for name, frame in frames:
        keys = _text_keys(frame)
        repeat = keys.isin(seen).to_numpy()
        seen.update(keys.dropna())
        kept.append(frame[~repeat])
        removed[name] = int(repeat.sum())
    return kept, removed


@dataclass(frozen=True)
class Mixture:
    card: DatasetCard
    frame: pd.DataFrame  # the merged rows
    sources: dict[str, tuple[DatasetCard, pd.DataFrame]]  # each as it entered, by name
    # By name: rows kept, repeats of a text within the source and texts of an earlier source
    # removed.
    report: dict[str, dict[str, int]]


def build_mixture(config: DataConfig, sources: list[LoadedSource]) -> Mixture:
    taxonomy = run_taxonomy(config, {s.config.name: s.card for s in sources})
    mapped = {s.config.name: map_source(s, taxonomy) for s in sources}
    # Evaluation-only sources first, so a text they share with a training source leaves training.
    order = sorted(sources, key=lambda s: s.config.role != "evaluation")
    kept, removed = _drop_repeats([(s.config.name, mapped[s.config.name][1]) for s in order])
    merged = pd.concat(kept, ignore_index=True)
    for category in taxonomy.names:
        merged[label_column(category)] = merged[label_column(category)].astype("Int8")
    report = {
        name: {
            "rows": int((merged["source"] == name).sum()),
            "repeats_removed": _sampled_rows(source) - len(mapped[name][1]),
            "duplicates_removed": removed[name],
        }
        for name, source in zip(mapped, sources, strict=True)
    }
    card = DatasetCard(
        name="mixture",
        source="mixture",
        description="Merged from: " + version_of(sources),
        categories=taxonomy.categories,
    )
    return Mixture(card, merged, mapped, report)


def _sampled_rows(source: LoadedSource) -> int:
    return min(len(source.frame), source.config.max_rows or len(source.frame))
