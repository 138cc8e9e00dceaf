"""DPO whose loss counts the collector's turns only (DPORunConfig.mask_debtor_turns), or only the decision
where the two sides of a pair part (DPORunConfig.decision_tokens).

TRL's DPOTrainer scores every token of a completion. A dialogue-level completion is the rest of the call, the
debtor's replies included: those tokens are not the collector's choice, and the debtor's "I accept" alone tells
a chosen dialogue from a rejected one, so DPO can raise its margin by predicting the debtor instead of by
changing how the collector negotiates. Here each completion token gets a 1 when it belongs to an assistant
message (its content and closing tokens; not the role header the template writes before it) and 0 otherwise,
and the collator multiplies TRL's completion mask by it. A turn-level completion is one assistant message, so
its mask equals TRL's.

With `decision_tokens=[n, 0]` no rejected token is in the loss, and every output of the fused LM head is zero where
no label is: the rejected rows are then not run at all (ChosenRowsOnly), which halves DPO's forward and backward
work and leaves the loss, its gradient and the logged metrics as they were.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from trl import DPOTrainer
from trl.data_utils import common_prefix_length
from trl.trainer.dpo_trainer import DataCollatorForPreference

from train.lm_head import use_lm_head

MASK_COLUMNS = {"chosen": "chosen_loss_mask", "rejected": "rejected_loss_mask"}


def _ids(tokenizer, messages: list[dict], generation_prompt: bool = False) -> list[int]:
    return tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, add_generation_prompt=generation_prompt
    )["input_ids"]


def collector_token_mask(
    tokenizer,
    prompt: list[dict],
    completion: list[dict],
    prompt_ids: list[int],
    completion_ids: list[int],
    prompt_alone: list[int] | None = None,
) -> list[int]:
    """1 for each of `completion_ids` (TRL's tokens of `completion` after `prompt_ids`) that an assistant message
    of `completion` wrote, 0 for the rest. Spans are found by rendering the conversation up to each message and
    measuring where it stops agreeing with the whole. `prompt_alone`: the prompt rendered with the generation
    prompt, where the caller has it already."""
    prompt_len = len(prompt_ids)
    full = list(prompt_ids) + list(completion_ids)
    if len(completion) == 1 and completion[0]["role"] == "assistant":
        # One collector turn (turn- and accept-level pairs): TRL cut its ids from this very rendering of prompt +
        # turn, so the turn runs to the end of `full`; it starts where the prompt rendered alone stops agreeing.
        # One rendering instead of two per side (rendered_spans_mask gives the same mask, tests/test_dpo.py).
        alone = prompt_alone if prompt_alone is not None else _ids(tokenizer, prompt, generation_prompt=True)
        start = max(common_prefix_length(alone, full), prompt_len)
        return [0] * (start - prompt_len) + [1] * (len(full) - start)
    return rendered_spans_mask(tokenizer, prompt, completion, full, prompt_len, prompt_alone)


def rendered_spans_mask(tokenizer, prompt, completion, full, prompt_len, prompt_alone=None) -> list[int]:
    """collector_token_mask by rendering the conversation before and after each assistant message."""
    mask = [0] * (len(full) - prompt_len)
    for j, message in enumerate(completion):
        if message["role"] != "assistant":
            continue
        before = (
            prompt_alone if j == 0 and prompt_alone is not None else _ids(tokenizer, prompt + completion[:j], True)
        )
        start = common_prefix_length(before, full)
        end = common_prefix_length(_ids(tokenizer, prompt + completion[: j + 1]), full)
        for position in range(max(start, prompt_len), end):
            mask[position - prompt_len] = 1
    return mask


def add_loss_masks(
    example: dict, tokenizer, mask_debtor: bool = True, decision_tokens: list[int] | None = None
) -> dict:
    """The mask columns of one tokenized pair (TRL's prompt_ids, chosen_ids and rejected_ids are already set):
    the collector's tokens (`mask_debtor`), cut to the decision (`decision_tokens`, DPORunConfig)."""
    alone = _ids(tokenizer, example["prompt"], generation_prompt=True) if mask_debtor else None  # both sides' prompt
    masks = {
        side: collector_token_mask(
            tokenizer, example["prompt"], example[side], example["prompt_ids"], example[f"{side}_ids"], alone
        )
        if mask_debtor
        else [1] * len(example[f"{side}_ids"])
        for side in MASK_COLUMNS
    }
    if decision_tokens is not None:
        parted = common_prefix_length(example["chosen_ids"], example["rejected_ids"])
        for side, count in zip(MASK_COLUMNS, decision_tokens):
            masks[side] = [m * int(parted <= p < parted + count) for p, m in enumerate(masks[side])]
    return {MASK_COLUMNS[side]: mask for side, mask in masks.items()}


@dataclass
class CollectorTurnsCollator(DataCollatorForPreference):
    """TRL's preference collator, with the completion mask cut down to the collector's tokens."""

    def torch_call(self, examples: list[dict]) -> dict:
        output = super().torch_call(examples)
        masks = [
            [0] * len(e["prompt_ids"]) + list(e[MASK_COLUMNS[side]])
            for side in ("chosen", "rejected")
            for e in examples
        ]
        if self.max_length is not None:  # the same cut as the parent's, so positions line up
            cut = (
                slice(None, self.max_length) if self.truncation_mode == "keep_start" else slice(-self.max_length, None)
            )
            masks = [m[cut] for m in masks]
        keep = torch.zeros_like(output["completion_mask"])
        for row, m in enumerate(masks):
            keep[row, : len(m)] = torch.tensor(m, dtype=keep.dtype)
        output["completion_mask"] = output["completion_mask"] * keep
        return output


class ChosenRowsOnly:
    """The model, called on TRL's [chosen; rejected] batch, runs the chosen half only and gives the rejected half
    the fused LM head's outputs for rows without a label: zeros (False for `is_top1`). A mixture-of-experts model's
    router loss then covers the chosen rows only."""

    def __init__(self, model):
        self._model = model

    def __getattr__(self, name):
        return getattr(self._model, name)

    def __call__(self, **kwargs):
        if not kwargs.get("fused_lm_head"):  # TRL's extra logits pass for compute_metrics: left whole
            return self._model(**kwargs)
        labels = kwargs["labels"]
        half = labels.shape[0] // 2
        if bool((labels[half:] != -100).any()):
            raise ValueError("a rejected row has tokens in the loss; ChosenRowsOnly needs decision_tokens=[n, 0]")
        outputs = self._model(
            **{
                k: v[:half] if torch.is_tensor(v) and v.dim() and v.shape[0] == 2 * half else v
                for k, v in kwargs.items()
            }
        )
        for name, value in outputs.items():
            if torch.is_tensor(value) and value.dim() and value.shape[0] == half:
                outputs[name] = torch.cat([value, torch.zeros_like(value)])
        return outputs


class CollectorTurnsDPOTrainer(DPOTrainer):
    """DPOTrainer whose batches carry the mask columns, built once right after TRL tokenizes the pairs; pass it
    a CollectorTurnsCollator (`collector_turns_collator`). `mask_debtor` and `decision_tokens` as in
    `add_loss_masks`."""

    def __init__(
        self,
        *args,
        mask_debtor: bool = True,
        decision_tokens: list[int] | None = None,
        lm_head: str = "fused",
        shared_prefix: bool = False,
        **kwargs,
    ):
        self._mask_debtor, self._decision_tokens = mask_debtor, decision_tokens  # read by _prepare_dataset
        self._lm_head, self._shared_prefix = lm_head, shared_prefix
        super().__init__(*args, **kwargs)

    def use_lm_head(self) -> str:
        """The run's head, and the shared prefix: each pair's where both its rows run (train/shared_prefix.py)."""
        return use_lm_head(self, self._lm_head, self._shared_prefix, paired=not self._rejected_out_of_loss())

    def _precompute_ref_logps(self, dataset, name, batch_size):
        # TRL precomputes the reference inside __init__, after adding its fused head: the run's head goes on first
        self.use_lm_head()
        # Pairs in order of length, so that a batch pads little (0.84x the time on 400 of the demo's pairs, the
        # same log-probs: a row's padding is masked), then back in their own order for training.
        import pyarrow.compute as pc

        ids = dataset.with_format("arrow")[:]
        lengths = pc.add(
            pc.list_value_length(ids["prompt_ids"]),
            pc.max_element_wise(pc.list_value_length(ids["chosen_ids"]), pc.list_value_length(ids["rejected_ids"])),
        ).to_pylist()
        order = sorted(range(len(lengths)), key=lengths.__getitem__)
        scored = super()._precompute_ref_logps(dataset.select(order), name, batch_size)
        position = [0] * len(order)
        for k, row in enumerate(order):
            position[row] = k
        return scored.select(position)

    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        dataset = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        what = (
            "Cutting the loss to the decision" if self._decision_tokens is not None else "Masking the debtor's turns"
        )
        return dataset.map(
            add_loss_masks,
            fn_kwargs={
                "tokenizer": self._tokenizer,
                "mask_debtor": self._mask_debtor,
                "decision_tokens": self._decision_tokens,
            },
            desc=f"{what} in {dataset_name}",
        )

    def _rejected_out_of_loss(self) -> bool:
        return self._decision_tokens is not None and self._decision_tokens[1] == 0

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        model = ChosenRowsOnly(model) if self._rejected_out_of_loss() else model
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def compute_ref_log_probs(self, model, inputs):
        return super().compute_ref_log_probs(ChosenRowsOnly(model) if self._rejected_out_of_loss() else model, inputs)

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = list(self._signature_columns) + list(MASK_COLUMNS.values())


def collector_turns_collator(model, tokenizer, args) -> CollectorTurnsCollator:
    """The collator TRL would build, masking the debtor. TRL mirrors the pad token onto the model only when it
    builds the collator itself, so that is done here; the tokenizer has one (train.model_loading.load_tokenizer)."""
    model.config.get_text_config().pad_token_id = tokenizer.pad_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return CollectorTurnsCollator(
        pad_token_id=tokenizer.pad_token_id,
        max_length=args.max_length,
        truncation_mode=args.truncation_mode,
        pad_to_multiple_of=args.pad_to_multiple_of,
    )
