"""A uniform model soup (Wortsman et al. 2022, "Model soups: averaging weights of multiple
fine-tuned models improves accuracy without increasing inference time").

Models fine-tuned from one base model on the same rows, with different seeds, stay close enough
that the mean of their weights is itself a good model, and it costs what one of them costs to
serve. On the starter preset a soup of two seeds ranked and passed the behavioural suite better
than either seed alone, but its lower hate cut-off flagged more kind sentences about groups
(BENCHMARKS.md); it costs one training run per seed.
"""

from pathlib import Path

import torch

from components.errors import ModpipeError
from components.model.modeling import ModerationModel, read_model_card


def _weights(model: ModerationModel) -> list[torch.nn.Module]:
    """The modules whose weights a soup averages: the classifier and its evidence head."""
    return [model.model] + ([model.evidence_head] if model.evidence_head is not None else [])


def _check_cards(directories: list[Path]) -> None:
    """Before any weights are read: the saved models must be alike on their cards."""
    cards = [read_model_card(d).model_dump() for d in directories]
    for directory, card in zip(directories[1:], cards[1:], strict=True):
        differing = sorted(k for k in card if card[k] != cards[0][k])
        if differing:
            raise ModpipeError(
                f"{directory} cannot join a soup with {directories[0]}: their "
                f"{', '.join(differing)} differ"
            )


def _check_rows(models: list[ModerationModel]) -> None:
    lexicons = [m.evidence_lexicon.scores if m.evidence_lexicon else None for m in models]
    if any(lexicon != lexicons[0] for lexicon in lexicons[1:]):
        raise ModpipeError(
            "the models' evidence lexicons differ, so they were trained on different rows: "
            "a soup averages models of the same rows"
        )


def uniform_soup(directories: list[Path], output_dir: Path) -> Path:
    """Save into ``output_dir`` the model whose every weight is the mean of the saved models'
    in ``directories`` (same base model, categories, window, pooling and head; same rows)."""
    if len(directories) < 2:
        raise ModpipeError(f"a soup needs two models or more; got {len(directories)}")
    _check_cards(directories)
    models = [ModerationModel.load(d, device="cpu") for d in directories]
    _check_rows(models)
    soup = models[0]
    with torch.no_grad():
        for position, module in enumerate(_weights(soup)):
            states = [_weights(model)[position].state_dict() for model in models]
            for name, tensor in module.state_dict().items():
                if tensor.is_floating_point():  # not integer buffers such as position ids
                    tensor.copy_(torch.stack([state[name] for state in states]).mean(dim=0))
    return soup.save(output_dir)
