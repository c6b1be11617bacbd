"""Counterfactual pairing's parts: the gap counts only paired logits, and the masked copy hides
the token the model leans on most for the paired categories, never a special token, with the
model's gradients and mode left as they were. Training with it: test_train."""

from types import SimpleNamespace

import pytest
import torch
from transformers import AutoTokenizer

from components.model.base_model import minilm_path
from components.model.counterfactual_pairing import mask_most_raising_token, paired_logit_gap

TEXT = "i love the white cats"


class BagOfWords(torch.nn.Module):
    """Two logits: the sum of the text's token embeddings, behind dropout. A token's gradient x
    input for the paired logits is then its embedding summed over them."""

    def __init__(self, tokenizer, leanings: dict[str, list[float]]):
        super().__init__()
        weights = torch.zeros(tokenizer.vocab_size, 2)
        for token, values in leanings.items():
            weights[tokenizer.convert_tokens_to_ids(token)] = torch.tensor(values)
        self.embeddings = torch.nn.Embedding.from_pretrained(weights, freeze=False)
        self.dropout = torch.nn.Dropout(0.5)

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embeddings

    def forward(self, input_ids, attention_mask, **_inputs) -> SimpleNamespace:
        vectors = self.embeddings(input_ids) * attention_mask[..., None]
        return SimpleNamespace(logits=self.dropout(vectors.sum(dim=1)))


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(minilm_path())


@pytest.fixture
def model(tokenizer):
    # "white" raises the first logit, "love" the second; special tokens would raise both most,
    # and the other words lower them, so padding (attribution 0) would beat them if allowed.
    leanings = {"white": [2.0, 0.0], "love": [0.0, 2.0], "[CLS]": [5.0, 5.0]}
    leanings |= {"[SEP]": [5.0, 5.0], "[PAD]": [5.0, 5.0], "i": [-1.0, -1.0]}
    leanings |= {"the": [-1.0, -1.0], "cats": [-1.0, -1.0]}
    return BagOfWords(tokenizer, leanings).train()


def words(tokenizer, ids: torch.Tensor) -> list[str]:
    return [token for token in tokenizer.convert_ids_to_tokens(ids) if token != "[PAD]"]


def test_the_masked_copy_hides_the_token_raising_the_paired_category(tokenizer, model):
    inputs = dict(tokenizer([TEXT, TEXT, TEXT], return_tensors="pt"))
    pairs = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    masked = mask_most_raising_token(model, inputs, pairs, tokenizer)
    assert [words(tokenizer, row) for row in masked] == [
        ["[CLS]", "i", "love", "the", "[MASK]", "cats", "[SEP]"],
        ["[CLS]", "i", "[MASK]", "the", "white", "cats", "[SEP]"],
        ["[CLS]", "i", "[MASK]", "the", "white", "cats", "[SEP]"],  # 2 + 0 ties 0 + 2: first
    ]


def test_special_tokens_and_padding_are_never_masked_and_an_empty_text_keeps_its_ids(
    tokenizer, model
):
    inputs = dict(tokenizer(["", "the cats", TEXT], padding=True, return_tensors="pt"))
    masked = mask_most_raising_token(model, inputs, torch.ones(3, 2), tokenizer)
    assert torch.equal(masked[0], inputs["input_ids"][0])
    assert words(tokenizer, masked[1]) == ["[CLS]", "[MASK]", "cats", "[SEP]"]  # "the" ties
    assert (masked != inputs["input_ids"]).sum(dim=1).tolist() == [0, 1, 1]


def test_masking_reads_the_model_without_dropout_and_leaves_its_mode_and_gradients(
    tokenizer, model
):
    inputs = dict(tokenizer([TEXT] * 8, return_tensors="pt"))
    pairs = torch.tensor([[1.0, 0.0]]).repeat(8, 1)
    first = mask_most_raising_token(model, inputs, pairs, tokenizer)
    assert torch.equal(first, mask_most_raising_token(model, inputs, pairs, tokenizer))
    assert (first[:, 4] == tokenizer.mask_token_id).all()  # dropout would have scattered it
    assert model.training
    assert model.embeddings.weight.grad is None


def test_the_pairing_gap_counts_only_the_paired_logits():
    logits = torch.tensor([[2.0, -1.0], [0.0, 3.0]])
    copies = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    pairs = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    assert paired_logit_gap(logits, copies, pairs).item() == pytest.approx(2.0)  # (1 + 3) / 2
    assert paired_logit_gap(logits, copies, torch.zeros(2, 2)).item() == 0.0
