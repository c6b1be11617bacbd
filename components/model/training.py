"""Fine-tuning: a multi-label moderation classifier from canonical train/validation frames.

One sigmoid output per category, trained with binary cross-entropy in which unknown labels
(``<NA>``) are masked out, never read as 0. Rare positives are up-weighted per category
(``pos_weight`` = negatives / positives in the train split, capped). After every epoch the
model is scored on validation (macro PR-AUC over the categories with both classes there, or
minus the validation loss when none has); the best epoch is saved as a
:class:`~components.model.modeling.ModerationModel` and training stops after ``patience`` epochs
without improvement. Texts are normalised as the model always reads them, each cut to its first
window. ``config.augment`` adds synthetic rows to the train split (components.data.augment),
``config.soft_labels`` trains on annotators' shares or weights rows by their agreement,
``config.source_weights`` weighs each named source's rows in the loss, and
``config.evidence_head`` trains a token-level evidence head alongside on the rows' rationale
spans (components.model.evidence_head: rows without spans add no token loss), and
``config.counterfactual_pairing`` pulls the known-negative logits of rows to those of copies
without what might wrongly flag them (components.model.counterfactual_pairing).

Checkpoints (``checkpoint_dir``, components.model.checkpoints) are written every
``checkpoint_every_steps`` optimizer steps and at every epoch end. A rerun with the same
fingerprint carries on where the checkpoint left off: batches are shuffled by (seed, epoch)
(``config.group_by_length`` groups them by length too, with less padding), so
the batches already done are skipped and the result is the same as an uninterrupted run. A
checkpoint with another fingerprint is ignored, with a message.

The command line, alone or under torchrun: components.model.train_command.

Test hooks (environment): ``MODPIPE_STOP_AFTER_STEPS=N`` exits after N optimizer steps, as a
crash would; ``MODPIPE_WEIGHTS_DIGEST_DIR=D`` makes every rank write ``D/rank<k>.sha256``, a
digest of its final weights (DDP replicas must agree).
"""

import hashlib
import logging
import math
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist
import torch.nn.functional as F
from pydantic import BaseModel
from sklearn.metrics import average_precision_score
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup, set_seed
from transformers.trainer_pt_utils import DistributedLengthGroupedSampler

from components.config import TrainConfig
from components.data.canonical import Taxonomy
from components.data.identity_swap import neutralise_identities
from components.model.checkpoints import (
    Checkpoints,
    Progress,
    restore_rng,
    rng_state,
    run_fingerprint,
)
from components.model.counterfactual_pairing import mask_most_raising_token, paired_logit_gap
from components.model.evidence_head import EvidenceHead, EvidenceTargets, WithEvidence
from components.model.evidence_lexicon import EvidenceLexicon
from components.model.modeling import ModerationModel, build_classifier
from components.model.replicas import Replica
from components.model.training_data import (
    LabelledTexts,
    positive_weights,
    with_augmentation,
)
from components.model.within import check_within

log = logging.getLogger(__name__)

STOP_AFTER_STEPS_ENV = "MODPIPE_STOP_AFTER_STEPS"
WEIGHTS_DIGEST_DIR_ENV = "MODPIPE_WEIGHTS_DIGEST_DIR"


class TrainResult(BaseModel):
    model_dir: Path
    best_epoch: int
    best_score: float
    epochs_run: int
    steps_run: int  # optimizer steps taken by this call (fewer than planned after a resume)
    history: list[dict]
    resumed_from: dict | None
    augmented: dict[str, int] = {}  # synthetic training rows added, by kind


def masked_bce_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    known: torch.Tensor,
    pos_weight: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mean binary cross-entropy over the known labels, each row's weighted by ``weights``;
    unknown labels add nothing, whatever their target."""
    losses = F.binary_cross_entropy_with_logits(
        logits, targets.nan_to_num(0.0), pos_weight=pos_weight, reduction="none"
    )
    mask = known.float() if weights is None else known.float() * weights[:, None]
    losses = torch.where(known.bool(), losses, torch.zeros_like(losses)) * mask
    return losses.sum() / mask.sum().clamp(min=1e-6)


def macro_pr_auc(targets: np.ndarray, known: np.ndarray, scores: np.ndarray) -> float | None:
    """Mean average precision over the categories whose known labels hold both classes."""
    per_category = []
    for j in range(targets.shape[1]):
        rows = known[:, j].astype(bool)
        truth = targets[rows, j]
        if 0 < truth.sum() < len(truth):
            per_category.append(average_precision_score(truth, scores[rows, j]))
    return float(np.mean(per_category)) if per_category else None


def weights_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


# --- training ----------------------------------------------------------------------------


def _decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """AdamW groups: biases and LayerNorm weights are not decayed (the usual BERT recipe)."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


class _Trainer:
    def __init__(self, train, validation, taxonomy, config, checkpoint_dir, progress_bar):
        self.config = config
        self.taxonomy = taxonomy
        self.replica = Replica.current()
        check_within(config.within, taxonomy.names)
        train, self.augmented = with_augmentation(train, taxonomy, config.augment)
        self.train_data = LabelledTexts.from_frame(
            train, taxonomy, "train", config.soft_labels, config.source_weights, config.within
        )
        self.validation_data = LabelledTexts.from_frame(
            validation, taxonomy, "validation", within=config.within
        )
        copies = config.pairing_copies if config.counterfactual_pairing else None
        self.masked_copies = copies == "masked_token"
        self.neutral_texts = [
            neutralise_identities(text) if copies == "neutral_identities" else None
            for text in self.train_data.texts
        ]
        self.progress_bar = progress_bar and self.replica.is_main
        self.stop_after_steps = int(os.environ.get(STOP_AFTER_STEPS_ENV, "0"))

        module, self.tokenizer = build_classifier(
            config.base_model, taxonomy, config.seed, config.pooling
        )
        head, lexicon, self.evidence = None, None, None
        if config.evidence_head:
            head = EvidenceHead(module.config.hidden_size, len(taxonomy.names))
            data = self.train_data
            self.evidence = EvidenceTargets.from_frame(
                train, taxonomy.names, data.targets, data.known, normalise=True
            )
            lexicon = EvidenceLexicon.learn(self.evidence, taxonomy.names)
        self.classifier = ModerationModel(
            module,
            self.tokenizer,
            taxonomy,
            config.base_model,
            config.max_length,
            evidence_head=head,
            evidence_lexicon=lexicon,
            within=config.within,
        )
        # What the optimizer, DDP and checkpoints see: the classifier, with its head if any.
        self.module = module if head is None else WithEvidence(module, head)
        self.module.to(self.replica.device)
        self.sampler = self._sampler()
        self.steps_per_epoch = math.ceil(len(self.sampler) / config.batch_size)
        self.pos_weight = None
        if config.class_weighting == "balanced":
            weights = positive_weights(self.train_data, config.max_pos_weight)
            self.pos_weight = torch.from_numpy(weights).to(self.replica.device)

        self.checkpoints = Checkpoints(
            checkpoint_dir,
            run_fingerprint(
                config, taxonomy, [self.train_data, self.validation_data], self.replica.world_size
            ),
        )
        saved = self.checkpoints.load()
        if saved:
            self.module.load_state_dict(saved["model"])
        self.model = self._replicated(self.module)
        self.optimizer = torch.optim.AdamW(
            _decay_groups(self.module, config.weight_decay), lr=config.learning_rate
        )
        total_steps = config.epochs * self.steps_per_epoch
        self.scheduler = get_linear_schedule_with_warmup(
            self.optimizer, int(config.warmup_ratio * total_steps), total_steps
        )
        set_seed(config.seed + self.replica.rank)  # dropout differs per rank, reproducibly
        self.progress = Progress()
        self.epoch_loss = {"sum": 0.0, "batches": 0}
        self.best_weights = None
        self.steps_run = 0
        self.resumed_from = self._resume(saved) if saved else None

    def _sampler(self) -> DistributedSampler:
        """This replica's share of the train rows, shuffled by (seed, epoch)."""
        replicas = {"num_replicas": self.replica.world_size, "rank": self.replica.rank}
        rows = range(len(self.train_data.texts))
        if not self.config.group_by_length:
            return DistributedSampler(rows, shuffle=True, seed=self.config.seed, **replicas)
        tokens = self.classifier.encode_lengths(self.train_data.texts)
        return DistributedLengthGroupedSampler(
            self.config.batch_size, lengths=tokens, seed=self.config.seed, **replicas
        )

    def _replicated(self, module: torch.nn.Module) -> torch.nn.Module:
        """DDP around the module under torchrun (it syncs gradients); the module itself alone."""
        if self.replica.world_size == 1:
            return module
        device_ids = [self.replica.device.index] if self.replica.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=device_ids)

    def _resume(self, saved: dict) -> dict:
        self.optimizer.load_state_dict(saved["optimizer"])
        self.scheduler.load_state_dict(saved["scheduler"])
        self.progress = Progress(**saved["progress"])
        own = saved["ranks"][self.replica.rank]
        restore_rng(own["rng"])
        self.epoch_loss = own["epoch_loss"]
        if self.replica.is_main and self.progress.best_epoch is not None:
            self.best_weights = self.checkpoints.load_best()
        resumed_from = {
            k: getattr(self.progress, k) for k in ("epoch", "step_in_epoch", "global_step")
        }
        if self.replica.is_main:
            log.info("resuming from checkpoint: %s", resumed_from)
        return resumed_from

    def run(self) -> None:
        while not self.progress.stopped and self.progress.epoch < self.config.epochs:
            self._train_epoch()
            self._finish_epoch()

    def _epoch_batches(self) -> list[list[int]]:
        self.sampler.set_epoch(self.progress.epoch)
        indices = list(self.sampler)
        size = self.config.batch_size
        return [indices[start : start + size] for start in range(0, len(indices), size)]

    def _train_epoch(self) -> None:
        batches = self._epoch_batches()
        self.model.train()
        bar = tqdm(
            total=len(batches),
            initial=self.progress.step_in_epoch,
            unit="step",
            desc=f"epoch {self.progress.epoch + 1}/{self.config.epochs}",
            disable=None if self.progress_bar else True,  # None: only on a terminal
        )
        for batch in batches[self.progress.step_in_epoch :]:
            loss = self._step(batch)
            self.epoch_loss["sum"] += loss
            self.epoch_loss["batches"] += 1
            self.progress.step_in_epoch += 1
            self.progress.global_step += 1
            self.steps_run += 1
            bar.update()
            bar.set_postfix(loss=f"{loss:.4f}")
            last_of_epoch = self.progress.step_in_epoch == len(batches)
            if (
                self.progress.global_step % self.config.checkpoint_every_steps == 0
                and not last_of_epoch
            ):
                self._save_checkpoint()
            if self.steps_run == self.stop_after_steps:
                raise SystemExit(f"stopped after {self.steps_run} steps ({STOP_AFTER_STEPS_ENV})")
        bar.close()

    def _step(self, batch: list[int]) -> float:
        device = self.replica.device
        texts = [self.train_data.texts[i] for i in batch]
        # Copies ride in the same forward pass, after the batch's own rows.
        paired = [k for k, i in enumerate(batch) if self.neutral_texts[i] is not None]
        copies = [self.neutral_texts[batch[k]] for k in paired]
        inputs = self.classifier.encode(texts + copies, offsets=self.evidence is not None)
        offsets = inputs.pop("offset_mapping", None)
        inputs = inputs.to(device)
        targets = torch.from_numpy(self.train_data.targets[batch]).to(device)
        known = torch.from_numpy(self.train_data.known[batch]).to(device)
        weights = torch.from_numpy(self.train_data.weights[batch]).to(device)
        # A violation may hinge on what the copy lacks: only known 0 labels are paired.
        pairs = (known * (targets == 0)).float()
        if self.masked_copies:
            paired = pairs.any(dim=1).nonzero().squeeze(1).tolist()
            inputs = self._with_masked_copies(inputs, paired, pairs[paired])
        output = self.model(**inputs)
        logits = output.logits[: len(batch)]
        loss = masked_bce_loss(logits, targets, known, self.pos_weight, weights)
        if paired:
            gap = paired_logit_gap(logits[paired], output.logits[len(batch) :], pairs[paired])
            loss = loss + self.config.counterfactual_pairing * gap
        if self.evidence is not None:
            loss = loss + self.config.evidence_weight * self._evidence_loss(
                output.evidence[: len(batch)], batch, offsets[: len(batch)]
            )
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.item()

    def _with_masked_copies(self, inputs, paired: list[int], pairs: torch.Tensor):
        """``inputs`` followed by the ``paired`` rows again, each with the token that raises its
        ``pairs`` logits most masked: the copies need no second tokenisation."""
        if not paired:
            return inputs
        rows = {name: tensor[paired] for name, tensor in inputs.items()}
        masked = mask_most_raising_token(self.module, rows, pairs, self.tokenizer)
        rows["input_ids"] = masked
        return {name: torch.cat([inputs[name], rows[name]]) for name in inputs}

    def _evidence_loss(self, logits: torch.Tensor, batch: list[int], offsets) -> torch.Tensor:
        """Masked BCE over the tokens and categories the rows' spans cover (evidence_head.py)."""
        targets, known = (t.to(logits.device) for t in self.evidence.batch(batch, offsets))
        k = logits.shape[-1]
        return masked_bce_loss(logits.reshape(-1, k), targets.reshape(-1, k), known.reshape(-1, k))

    def _evaluate(self) -> dict:
        data = self.validation_data
        logits = self.classifier.predict_logits(data.texts, self.config.eval_batch_size)
        val_loss = masked_bce_loss(
            torch.from_numpy(logits), torch.from_numpy(data.targets), torch.from_numpy(data.known)
        ).item()
        pr_auc = macro_pr_auc(
            data.targets, data.known, torch.sigmoid(torch.from_numpy(logits)).numpy()
        )
        return {
            "val_loss": val_loss,
            "val_macro_pr_auc": pr_auc,
            "score": pr_auc if pr_auc is not None else -val_loss,
        }

    def _finish_epoch(self) -> None:
        ranks = self.replica.gather(self.epoch_loss)
        loss_sum, batches = (sum(rank[key] for rank in ranks) for key in ("sum", "batches"))
        record = {"epoch": self.progress.epoch + 1, "train_loss": loss_sum / max(1, batches)}
        # Rank 0 alone validates; broadcasting its score makes every rank stop at the same epoch.
        record.update(self.replica.from_main(self._evaluate() if self.replica.is_main else None))
        self._update_best(record)
        self.progress.history.append(record)
        self.progress.epoch += 1
        self.progress.step_in_epoch = 0
        self.epoch_loss = {"sum": 0.0, "batches": 0}
        self._save_checkpoint()
        if self.replica.is_main:
            pr_auc = record["val_macro_pr_auc"]
            log.info(
                f"epoch {record['epoch']}: train loss {record['train_loss']:.4f}, "
                f"val loss {record['val_loss']:.4f}, "
                f"val macro PR-AUC {'n/a' if pr_auc is None else f'{pr_auc:.4f}'}"
            )
            if self.progress.stopped:
                log.info("early stopping: no improvement for %d epochs", self.config.patience)

    def _update_best(self, record: dict) -> None:
        progress = self.progress
        if progress.best_score is None or record["score"] > progress.best_score:
            progress.best_score = record["score"]
            progress.best_epoch = record["epoch"]
            progress.epochs_without_improvement = 0
            if self.replica.is_main:
                self.best_weights = {
                    k: v.detach().cpu().clone() for k, v in self.module.state_dict().items()
                }
                self.checkpoints.save_best(self.best_weights)
            return
        progress.epochs_without_improvement += 1
        progress.stopped = progress.epochs_without_improvement >= self.config.patience

    def _save_checkpoint(self) -> None:
        ranks = self.replica.gather({"rng": rng_state(), "epoch_loss": dict(self.epoch_loss)})
        if self.replica.is_main:
            self.checkpoints.save(
                {
                    "model": self.module.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "progress": asdict(self.progress),
                    "ranks": ranks,
                }
            )

    def finish(self, output_dir: Path) -> TrainResult:
        digest_dir = os.environ.get(WEIGHTS_DIGEST_DIR_ENV)
        if digest_dir:
            path = Path(digest_dir) / f"rank{self.replica.rank}.sha256"
            path.write_text(weights_digest(self.module) + "\n")
        if self.replica.is_main:
            self.module.load_state_dict(self.best_weights)
            self.classifier.save(output_dir)
        if self.replica.world_size > 1:
            dist.barrier()  # the model is on disk before any rank returns
        return TrainResult(
            model_dir=Path(output_dir),
            best_epoch=self.progress.best_epoch,
            best_score=self.progress.best_score,
            epochs_run=len(self.progress.history),
            steps_run=self.steps_run,
            history=self.progress.history,
            resumed_from=self.resumed_from,
            augmented=self.augmented,
        )


def train_model(
    train: pd.DataFrame,
    validation: pd.DataFrame,
    taxonomy: Taxonomy,
    config: TrainConfig,
    output_dir: Path,
    checkpoint_dir: Path | None = None,
    progress: bool = True,
) -> TrainResult:
    """Fine-tune ``config.base_model`` and save the best epoch's model into ``output_dir``.

    Inside an initialised ``torch.distributed`` process group (see :func:`process_group`)
    this is one DDP replica; every rank must call it with the same arguments.
    """
    trainer = _Trainer(train, validation, taxonomy, config, checkpoint_dir, progress)
    trainer.run()
    return trainer.finish(Path(output_dir))
