"""Counterfactual logit pairing (Garg et al. 2019): a benign training row and a copy of it that
lacks what might wrongly flag it should score alike on the categories the row is known not to
violate. Training reads the copies in the batch's own forward pass and adds
``train.counterfactual_pairing`` times :func:`paired_logit_gap` to the loss.

``train.pairing_copies`` picks the copy:
- ``neutral_identities``: each identity group term of a list replaced by a neutral word
  (components.data.identity_swap); only rows naming a listed group get one.
- ``masked_token``: the one token whose gradient x input raises the row's known-negative logits
  most, replaced by the tokenizer's mask token (:func:`mask_most_raising_token`). The model finds
  what it leans on itself, so a group the list lacks, a homonym ("this set killed it") or a
  swear word in praise is paired too; every row with a known 0 gets one.
"""

import torch


def paired_logit_gap(
    logits: torch.Tensor, copies: torch.Tensor, pairs: torch.Tensor
) -> torch.Tensor:
    """Mean absolute gap between the rows' logits and their copies' where ``pairs`` is 1."""
    gaps = (logits - copies).abs() * pairs
    return gaps.sum() / pairs.sum().clamp(min=1.0)


def mask_most_raising_token(
    module: torch.nn.Module, inputs: dict, pairs: torch.Tensor, tokenizer
) -> torch.Tensor:
    """``inputs``' ids with, in each row, the token whose gradient x input raises the logits
    ``pairs`` marks most replaced by ``tokenizer``'s mask token; special tokens and padding are
    never chosen. The module is read with dropout off (as it scores), and its gradients are left
    as they were."""
    embedded = []
    hook = module.get_input_embeddings().register_forward_hook(
        lambda _layer, _args, output: embedded.append(output)
    )
    was_training = module.training
    module.eval()
    try:
        logits = module(**inputs).logits
    finally:
        hook.remove()
        module.train(was_training)
    (gradient,) = torch.autograd.grad((logits * pairs).sum(), embedded[0])
    attribution = (gradient * embedded[0]).sum(-1)

    ids = inputs["input_ids"]
    special = torch.isin(ids, torch.tensor(tokenizer.all_special_ids, device=ids.device))
    candidate = inputs["attention_mask"].bool() & ~special
    chosen = attribution.masked_fill(~candidate, float("-inf")).argmax(dim=1)
    rows = torch.arange(len(ids), device=ids.device)
    masked = ids.clone()
    # A text with no ordinary token (empty) keeps its ids.
    masked[rows, chosen] = torch.where(
        candidate[rows, chosen], tokenizer.mask_token_id, ids[rows, chosen]
    )
    return masked
