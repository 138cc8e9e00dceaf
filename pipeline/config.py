"""Typed schemas behind the Hydra configs: a misspelt key or a wrong type fails at start-up with its name.

Each stage's YAML in configs/ lists its schema first in its defaults, so Hydra validates every override
against these dataclasses. The defaults live here; a stage YAML holds only its defaults list, Hydra's own
settings (run dirs) and the few values that need Hydra to resolve (a run named after the model choice).
Choice fields are enums, so a bad value fails at start-up with the field's name and its allowed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from debtgpt.backends.settings import DTYPES
from debtgpt.checks import require_at_least  # noqa: F401  (the stages import it from here too)
from debtgpt.constants import DEFAULT_MAX_TURNS, DEFAULT_NUM_RECORDS, DEFAULT_TEST_FRACTION, POLICY_DEFAULT_CE


class Choice(str, Enum):
    """A choice field's allowed values: each member's name is its value, so YAML and overrides write the value
    and the code compares with plain strings (cfg.precision == "bf16")."""

    def __str__(self) -> str:
        return self.value


Source = Choice("Source", [(v, v) for v in ("synthetic", "ctgan")])
# the dtypes the backends load a model in (one home: debtgpt/backends/settings.py), so what trains also evaluates
Dtype = Choice("Dtype", [(v, v) for v in DTYPES])
Precision = Choice("Precision", [(v, v) for v in ("auto", "fp32", "bf16")])
Overlength = Choice("Overlength", [(v, v) for v in ("fail", "drop")])
LMHead = Choice("LMHead", [(v, v) for v in ("auto", "fused", "plain")])
FinalWeights = Choice("FinalWeights", [(v, v) for v in ("merged", "adapter")])
WandbMode = Choice("WandbMode", [(v, v) for v in ("auto", "online", "offline", "disabled")])
PairLevel = Choice("PairLevel", [(v, v) for v in ("turn", "dialogue", "accept")])
DebtorDice = Choice("DebtorDice", [(v, v) for v in ("sample", "scenario")])


@dataclass
class CTGANConfig:
    # training epochs over the real rows (CTGAN's own default); each epoch takes rows / batch_size steps
    epochs: int = 300
    # rows per training step; a multiple of 10 (CTGAN's discriminator judges packs of 10 rows)
    batch_size: int = 500
    # a CSV with fewer rows than this fails: CTGAN cannot learn a portfolio's shape from a handful of debtors
    min_rows: int = 100
    # a progress bar over the epochs with the generator and discriminator losses
    progress: bool = True
    # rules every synthetic record keeps, "a <= b" over numeric contract columns, beside those learned from the
    # CSV (each order among principal, outstanding_balance and total_loan that every real row keeps); a record
    # that breaks one is redrawn, never clipped
    rules: List[str] = field(default_factory=list)


@dataclass
class DataConfig:
    # how many debt records (and personas) to generate, or to sample from CTGAN
    num_records: int = DEFAULT_NUM_RECORDS
    # seed of records, personas and the split (and of CTGAN): same seed, same files
    seed: int = 0
    # share of each archetype held out for evaluation
    test_fraction: float = DEFAULT_TEST_FRACTION
    # share of each archetype held out for choosing settings (val.jsonl), carved from what test leaves;
    # 0 = no val split. The test split is the same either way.
    val_fraction: float = 0.1
    # where records.jsonl, personas.jsonl, train.jsonl, test.jsonl, card.json (and quality/) go
    out_dir: str = "data"
    # where records come from: synthetic (the seeded linear model) or ctgan (fitted on real_csv)
    source: Source = Source.synthetic
    # source=ctgan: the lender's CSV; only the contract columns (debtgpt.records.PORTFOLIO_COLUMNS) are read
    real_csv: Optional[str] = None
    ctgan: CTGANConfig = field(default_factory=CTGANConfig)


@dataclass
class EvalConfig:
    # collectors to evaluate side by side: scripted names or files in configs/agents/collector/, each optionally
    # behind the envelope guard as NAME+guard. The default is the recipe's: the teacher, the untrained tiny model,
    # and the SFT and DPO collectors of `make sft` and `make dpo`
    collectors: list[str] = field(default_factory=lambda: ["expert", "untrained", "sft", "dpo"])
    # the debtor simulator every collector talks to: scripted or a file in configs/agents/debtor/
    debtor: str = "scripted"
    # experience judge: none or a file in configs/agents/judge/ (adds respect_empathy, transparency, feasibility)
    judge: str = "none"
    # scenario split to evaluate on
    split: str = "test"
    # folder written by `make data`
    data_dir: str = "data"
    # reports go to <reports_dir>/<run>/
    reports_dir: str = "reports"
    # the report folder's name: the start time unless named (e.g. run=baselines)
    run: str = "${now:%Y%m%d-%H%M%S}"
    # seed of every dialogue's random streams
    seed: int = 0
    # turns of both sides together before a dialogue fails
    max_turns: int = DEFAULT_MAX_TURNS
    # live dialogues per batch
    batch_size: int = 256
    # processes that play each collector's dialogues (debtgpt/workers.py): 0 = one per CPU core for a collector
    # or debtor that runs a model on the CPU, else 1
    workers: int = 0
    # dialogues per scenario and collector (2: 390 paired dialogues on the 195 test personas)
    samples: int = 2
    # evaluate only the first scenarios of the split (smoke runs of slow collectors); null = all
    max_scenarios: Optional[int] = None
    # reward of every evaluated dialogue (the same reward as rejection sampling)
    reward: RewardConfig = field(default_factory=lambda: RewardConfig())
    # mean-reward comparisons "A:B" (A minus B, paired by scenario) with a bootstrap confidence interval; null:
    # the recipe's (dpo:sft, sft:untrained, dpo:expert) whose two collectors are evaluated
    compare: Optional[list[str]] = None
    # bootstrap resamples and confidence level of those intervals
    bootstrap_samples: int = 2000
    confidence: float = 0.95
    # PNG plots of the main metrics per archetype
    plots: bool = True
    # "A:B": changes.md and plots/changes.png, what A changed against B per archetype (null: none; auto: dpo:sft
    # when both are evaluated)
    explain: Optional[str] = "auto"
    # a training run folder whose curves.png/json (train.dpo) go into the report beside changes.md (null: none;
    # auto: checkpoints/dpo-tiny when dpo:sft is explained)
    curves: Optional[str] = "auto"
    # a progress bar per collector
    progress: bool = True


# The training settings' names before they took TRL's own: an old name fails with one line that gives the new one
RENAMED_SETTINGS = {
    "lr": "learning_rate",
    "epochs": "num_train_epochs",
    "batch_size": "per_device_train_batch_size",
    "grad_accum": "gradient_accumulation_steps",
    "warmup": "warmup_steps",
}


def renamed_setting_line(key: str, known) -> str | None:
    """`lr is now learning_rate (TRL's name) ...` when `key` is an old name of a setting in `known`, else None."""
    new = RENAMED_SETTINGS.get(key.rsplit(".", 1)[-1])
    if new is None or new not in known:
        return None
    return f"{key} is now {new}, TRL's own name: write {new}=... (and any other TRL argument as trl.NAME=...)"


def reject_unknown_keys(cfg, schema, prefix: str = "") -> None:
    """A key the schema does not have fails with its name. Hydra's `+key=value` adds keys even to typed
    configs, so `+colectors=[firm]` would otherwise be ignored in silence and the defaults run."""
    import dataclasses
    import difflib

    from omegaconf import DictConfig

    known = {f.name: f for f in dataclasses.fields(schema)}
    for key in cfg:
        if key == "hydra":
            continue
        if key not in known:
            renamed = renamed_setting_line(f"{prefix}{key}", known)
            if renamed:
                raise ValueError(renamed)
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"; did you mean {prefix}{close[0]}?" if close else ""
            raise ValueError(
                f"unknown setting {prefix}{key}{hint} (no `+` is needed for a setting of this stage); "
                f"allowed: {', '.join(prefix + k for k in known)}"
            )
        value, default = (
            cfg[key],
            known[key].default_factory if known[key].default_factory is not dataclasses.MISSING else None,
        )
        nested = default() if callable(default) else known[key].default
        if isinstance(value, DictConfig) and dataclasses.is_dataclass(nested):
            reject_unknown_keys(value, type(nested), f"{prefix}{key}.")


@dataclass
class ServeConfig:
    # where `make eval` writes its runs: every <reports_dir>/<run>/metrics.json is listed
    reports_dir: str = "reports"
    # the personas a person can play (folder written by `make data`, and its split)
    data_dir: str = "data"
    split: str = "test"
    # played dialogues are saved as trajectories of this report run, under reports_dir
    play_run: str = "play"
    # seed of the collector's random stream in played dialogues
    seed: int = 0
    # turns of both sides together before a played dialogue fails
    max_turns: int = DEFAULT_MAX_TURNS
    # reward of every played dialogue (the same reward as `make eval`)
    reward: RewardConfig = field(default_factory=lambda: RewardConfig())
    # redraw the play run's plots after each played dialogue (a few seconds on a small CPU)
    plots: bool = True
    # localhost by default: the app has no login, and played dialogues are written to disk
    host: str = "127.0.0.1"
    port: int = 8000


def register_configs() -> None:
    from hydra.core.utils import setup_globals

    setup_globals()  # Hydra's resolvers (${now:...} of eval's run) also for configs built outside a Hydra app
    store = ConfigStore.instance()
    store.store(name="data_schema", node=DataConfig)
    store.store(name="eval_schema", node=EvalConfig)
    store.store(name="rollouts_schema", node=RolloutsConfig)
    store.store(name="pairs_schema", node=PairsConfig)
    store.store(name="sft_schema", node=SFTRunConfig)
    store.store(name="dpo_schema", node=DPORunConfig)
    store.store(name="publish_schema", node=PublishConfig)
    store.store(name="serve_schema", node=ServeConfig)


CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def stage_config(name: str, overrides=()):
    """The config `python -m <stage> OVERRIDES` runs with: the stage's YAML composed by Hydra into its schema,
    resolved (run names that depend on the model choice included) and without Hydra's own settings. Tests and
    benchmarks start from it, so the defaults they exercise are the ones `make` runs."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(name, overrides=list(overrides), return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # what ${hydra:runtime.choices.model} reads
    with open_dict(cfg):
        del cfg["hydra"]
    OmegaConf.resolve(cfg)
    return OmegaConf.structured(OmegaConf.to_object(cfg))  # the schema's instance, as a typed config again


# --- training (train/sft.py, train/dpo.py, train/publish.py) ---------------------------------------------


@dataclass
class ModelConfig:
    # "tiny" (built locally by debtgpt.tiny), a Hub name or a local folder
    name: str = "tiny"
    # auto: fp32 weights in training (bf16 mixed precision on a GPU that has it, see precision), final/ saved in
    # bf16 on such a GPU and fp32 otherwise; float32 or bfloat16: weights loaded, trained and saved in that dtype
    dtype: Dtype = Dtype.auto
    # attention kernel passed to transformers: sdpa, eager or flash_attention_2
    attn_implementation: str = "sdpa"
    # recompute activations in the backward pass: slower, much less memory (7B models)
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False


@dataclass
class LoraSettings:
    # train a LoRA adapter (true) or every weight (false)
    enabled: bool = False
    r: int = 16
    alpha: int = 32
    dropout: float = 0.05
    # layers to adapt: "all-linear" is every linear layer but the output head
    target_modules: str = "all-linear"


@dataclass
class WandbSettings:
    # auto: online when WANDB_API_KEY is set, offline otherwise; WANDB_MODE=disabled in the environment wins
    mode: WandbMode = WandbMode.auto
    project: str = "debtgpt"
    entity: Optional[str] = None


@dataclass
class TrainRunConfig:
    # checkpoints/<run>/ holds checkpoint-N/ and final/; a sweep puts each point in checkpoints/<run>/<overrides>/.
    # Set by the stage YAML from the model choice (sft-tiny, dpo-qwen2.5-0.5b), which only Hydra knows.
    run: str = MISSING
    checkpoints_dir: str = "checkpoints"
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    # TRL's own names (SFTConfig, DPOConfig), passed to it unchanged; any other TRL argument goes in `trl` below.
    # The learning rate (swept as learning_rate=1e-4,3e-4) and the epochs: each method's schema below sets its own
    learning_rate: float = MISSING
    num_train_epochs: float = MISSING
    # stop after this many optimizer steps (-1: run the epochs)
    max_steps: int = -1
    # examples per device per step, and steps accumulated per optimizer update
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 1
    # warmup steps, or a fraction of all steps when below 1
    warmup_steps: float = 0.0
    # token cap per example; null: the longest example as measured with the chat template (nothing truncated)
    max_length: Optional[int] = None
    # an example longer than max_length: fail (name the count and the longest) or drop (print the count)
    overlength: Overlength = Overlength.fail
    # auto: bf16 mixed precision on a GPU that supports it unless model.dtype=float32, fp32 otherwise; fp32; bf16
    precision: Precision = Precision.auto
    # how training scores tokens: auto (a plain head off CUDA up to 65,536 vocabulary tokens, where it was measured
    # faster; TRL's fused, tiled head otherwise), fused (TRL's) or plain (train/lm_head.py)
    lm_head: LMHead = LMHead.auto
    # with the plain LM head, tokens that rows share run once: the start every row of a batch has in common (the
    # collector's system prompt) and, in DPO, each pair's prompt and its turn up to where the two sides part. The
    # same loss and gradients (train/shared_prefix.py)
    shared_prefix: bool = True
    save_steps: int = 100
    save_total_limit: int = 2
    logging_steps: int = 10
    seed: int = 0
    # continue from the newest checkpoint-N/ of this run when there is one
    resume: bool = True
    # with LoRA, final/ holds merged weights (merged) or the adapter with its base named (adapter)
    final_weights: FinalWeights = FinalWeights.merged
    wandb: WandbSettings = field(default_factory=WandbSettings)
    # extra TRL config arguments passed through as they are, e.g. +trl.lr_scheduler_type=cosine
    trl: dict[str, Any] = field(default_factory=dict)


@dataclass
class SFTRunConfig(TrainRunConfig):
    # for the tiny default; real models: +experiment=sft_qwen2.5-7b-instruct (1e-4 with LoRA)
    learning_rate: float = 2e-3
    num_train_epochs: float = 2.0
    # the tiny default stops at 250 steps (1.6 epochs of the teacher's dialogues); real presets set -1
    max_steps: int = 250
    # HF dataset (save_to_disk) with a conversational `messages` column
    data: str = "data/pairs/sft"


@dataclass
class DPORunConfig(TrainRunConfig):
    # the defaults are the recipe on the tiny model (make dpo; docs/experiments/, chosen on validation): LoRA,
    # sigmoid, beta 0.1, one epoch; a small step: at 4e-5 and above the tiny model's turns drifted out of format,
    # and with every twin (round 21) 3e-5 broke them on one seed of three where 2e-5 did not
    learning_rate: float = 2e-5
    num_train_epochs: float = 1.0
    # accept: the teacher's decision against the collector's own turn (dpo_accept, the recipe); turn: pairs of one
    # collector turn on a shared history (dpo_turn); dialogue: pairs of whole dialogues (dpo_dialogue)
    level: PairLevel = PairLevel.accept
    # folder of dpo_turn/, dpo_dialogue/ and dpo_accept/ (HF datasets with prompt, chosen, rejected)
    pairs_dir: str = "data/pairs-sft"
    # the SFT model: the policy starts here and, with the adapter off, is the reference.
    # Set by the stage YAML to the SFT run of the same model choice (checkpoints/sft-<model>/final).
    init_from: str = MISSING
    beta: float = 0.1
    # TRL DPO loss: sigmoid, ipo, hinge, robust, ... (several with loss_weights in trl)
    loss_type: str = "sigmoid"
    # reference log-probs computed once before training (no reference forward pass per step)
    precompute_ref_log_probs: bool = True
    # weight of an NLL term on the chosen turn beside the DPO loss (RPO; TRL loss_type "sft"); 0 = plain DPO.
    # It keeps the chosen turns likely, so DPO moves probability between candidates rather than off both.
    # The recipe's 1.0 keeps the teacher's turn likely while the student's own turn is pushed down.
    sft_weight: float = 1.0
    # share of the pairs (whole scenarios) held out to log preference accuracy and margins on unseen pairs
    heldout_fraction: float = 0.1
    # the held-out pairs are scored every this many steps (null: logging_steps); each pass is a forward over all
    # of them, which on the tiny CPU default costs as much as ten training steps; scoring them changes no weight
    # (the trained weights are the same at any spacing, tests/test_dpo.py)
    eval_steps: Optional[int] = 200
    # only the collector's turns of a completion enter the loss; TRL counts every completion token, and a
    # dialogue-level completion holds the debtor's replies, which the collector does not choose (and whose
    # "I accept" alone would tell chosen from rejected)
    mask_debtor_turns: bool = True
    # [chosen, rejected]: only this many tokens of each side, from the first one where the two sides differ,
    # enter the loss (turn-level and accept-level pairs); null = every collector token. [160, 160] (the recipe):
    # the teacher's whole turn (160 is the collector's max_tokens), so its JSON is taught with its decision, against
    # the student's whole turn, pushed down: that is what taught the envelope. With [n, 0] no rejected token is in
    # the loss and its rows are not run (half the work), but the student's out-of-envelope offers stayed.
    decision_tokens: Optional[List[int]] = field(default_factory=lambda: [160, 160])
    lora: LoraSettings = field(default_factory=lambda: LoraSettings(enabled=True))


@dataclass
class PublishConfig:
    # final/ folder of a training run: merged weights, or an adapter whose base is named in adapter_config.json
    checkpoint: str = "checkpoints/dpo-tiny/final"
    # Hub repository, "user/name"
    repo_id: str = "debtgpt-tiny-dpo"
    # a DebtBench report (eval.run) whose tables go into the model card; the default is `make demo`'s
    metrics: str = "reports/demo/metrics.json"
    # the collector of that report the model card is about (null: every collector in it); its recorded weight
    # fingerprint must be the checkpoint's. The datasets on the card come from the checkpoint's train_card.json.
    collector: Optional[str] = "dpo"
    # the folder that is written, checked and pushed
    staging_dir: str = "checkpoints/publish"
    # write and check the folder, push nothing
    dry_run: bool = False
    private: bool = True
    commit_message: str = "Upload DebtGPT collector"


@dataclass
class RewardConfig:
    """Weights of the rejection-sampling reward (debtgpt/reward.py); each comment says why that weight."""

    # collection rate (1 - discount) of a deal: the main goal, so the unit every other weight is measured in
    CR: float = 1.0
    # collection efficiency relative to the policy-default deal: faster money matters, but less than how much
    CE: float = 0.25
    # solvency adequacy (up-front part affordable): together with LS it weighs as much as CR, so a deal the
    # debtor cannot pay is worth about as little as no deal (it defaults in practice)
    SA: float = 0.5
    # liquidity sufficiency (instalments affordable), see SA
    LS: float = 0.5
    # judge experience in [0, 1] (respect and empathy, transparency, feasibility), used only when a judge ran:
    # half of CR, so a kinder call never excuses a worse deal, but breaks ties between similar deals
    experience: float = 0.5
    # share of collector turns that break the policy envelope: equal to CR, so proposing outside the envelope costs
    # even when no deal follows (a deal closed outside it is void, see breach)
    violations: float = 1.0
    # share of collector turns that could not be parsed: a malformed turn is as bad as a violating one
    format_errors: float = 1.0
    # cost of a void deal (out of the envelope, after a malformed turn, or after a misstated debt), on top of the
    # recovery it loses: above 0, so such a deal is worth less than no deal; equal to CR, the unit of the reward
    breach: float = 1.0
    # CE that earns full efficiency credit: the CE of the policy-default deal (0 %, 25 % in 7 days, 6 months)
    ce_reference: float = POLICY_DEFAULT_CE


@dataclass
class RolloutsConfig:
    # the collector that plays the rollouts: a scripted name (firm, conceder, expert) or a file in
    # configs/agents/collector/
    collector: str = "expert"
    # the debtor simulator
    debtor: str = "scripted"
    # folder written by `make data`
    data_dir: str = "data"
    # scenario split to sample on (training data comes from the train split only)
    split: str = "train"
    # where shards/, plan.json, card.json and timing.json go
    out_dir: str = "data/rollouts/${collector}"
    # dialogues per scenario (N of rejection sampling)
    samples_per_scenario: int = 4
    # the debtor's random stream: each sample its own (sample), or sample 0's for every sample of a scenario
    # (scenario: common random numbers, so a scenario's samples differ by the collector alone; dialogue-level
    # pairs then compare the collector's play, not the debtor's mood, payday and patience)
    debtor_dice: DebtorDice = DebtorDice.sample
    # use only the first scenarios of the split (small runs and tests); null = all
    max_scenarios: Optional[int] = None
    # seed of every dialogue's random streams: same seed, same shards (scripted agents)
    seed: int = 0
    # turns of both sides together before a dialogue fails
    max_turns: int = DEFAULT_MAX_TURNS
    # live dialogues per batch inside a shard
    batch_size: int = 256
    # dialogues per shard file; a shard is written once all its dialogues finished (the unit of resuming)
    shard_size: int = 64
    # processes that play the shards (debtgpt/workers.py): 0 = one per CPU core where a model runs on the CPU,
    # else 1
    workers: int = 0
    # experience scores of each finished dialogue: none, heuristic (offline stand-in) or a file in
    # configs/agents/judge/
    judge: str = "none"
    # reward weights
    reward: RewardConfig = field(default_factory=RewardConfig)
    # a progress bar over all dialogues
    progress: bool = True
    # seconds to pause after each shard (tests use it to interrupt a run between shards)
    shard_delay_s: float = 0.0
    # out_dir holds rollouts of other settings: discard them (true) instead of refusing to start (false)
    overwrite: bool = False


@dataclass
class AcceptNegatives:
    """Shares of each kind of dpo_accept pair drawn. The defaults build the acceptance set of the reward before void
    deals (docs/experiments/making-dpo-learn.md); the recipe's corrections are set in
    configs/experiment/sft_pairs.yaml."""

    # where no counter-offer stands: the acceptance there is the mistake to keep unlikely
    no_counter: float = 0.15
    # where the debtor's counter-offer is one the expert refuses (outside the envelope, or haggling); the model's
    # own turns there often read "Their terms need evidence", which raised too far it also wrote once the evidence
    # was given
    refused: float = 0.05
    # the chosen side of a negative pair: the collector's own clean turn (own), or the teacher's turn at that state
    # with its true evidence note, over an acceptance whose note claims the evidence the counter-offer needs
    # (teacher): what a refusal looks like, and that the note states what the debtor said, not what a deal needs
    refusal: str = "own"
    # where the collector's own turn was malformed or out of the envelope: the teacher's turn over it
    corrections: float = 0.0
    # where the collector's evidence note was untrue: the teacher's turn (its note true) over it
    untrue_notes: float = 0.0
    # at the other states before a hardship where the teacher makes an offer: that offer over its twin with a
    # discount or a long plan, its true note kept (the trained collectors' commonest mistake: terms their own note
    # forbids)
    twins: float = 0.0
    # at states after a hardship where the teacher's offer holds what only the hardship allows: that offer over its
    # twin without it (the condition's other side: concede once the evidence is there)
    hardship_twins: float = 0.0
    # at any state where the teacher makes an offer: that offer over the same `ask` with its proposal left out (the
    # trained collectors' commonest malformed turn), drawn apart from the kinds above
    format_twins: float = 0.0
    # where the teacher accepts the debtor's counter-offer and the collector did not: its acceptance over the
    # collector's turn (every one at 1)
    positives: float = 1.0


@dataclass
class PairsConfig:
    # the rollouts to sample from (written by `make rollouts`)
    rollouts_dir: str = "data/rollouts/expert"
    # sft/, dpo_dialogue/ and dpo_turn/ go here
    out_dir: str = "data/pairs"
    # which sets to build: any of sft, dpo_dialogue, dpo_turn, dpo_accept
    sets: List[str] = field(default_factory=lambda: ["sft", "dpo_dialogue", "dpo_turn"])
    # seed of branch-point choice, candidate streams and forward rollouts
    seed: int = 0
    # SFT: best trajectories kept per scenario (successful ones at or above sft_min_reward)
    sft_top_k: int = 1
    sft_min_reward: float = 0.5
    # DPO: pairs whose chosen reward beats the rejected one by less than this are dropped (ties always are)
    margin: float = 0.05
    # turn level: rollout dialogues per scenario to branch from, and collector turns to branch at in each
    branch_dialogues_per_scenario: int = 1
    branch_points_per_dialogue: int = 2
    # turn level: candidate collector turns sampled at each branch point (N)
    num_candidates: int = 4
    # turn level: candidates the judge keeps for rolling forward (k)
    keep_top_k: int = 2
    # turn level: forward rollouts of each kept candidate to the end against the debtor (M)
    rollouts_per_candidate: int = 2
    # turn level: branch points whose candidates and forward rollouts are generated together
    branch_batch_size: int = 256
    # live dialogues per runner batch
    batch_size: int = 256
    # the collector that proposes candidates; null = the collector of the rollouts
    collector: Optional[str] = None
    # the debtor of the forward rollouts; null = the debtor of the rollouts
    debtor: Optional[str] = None
    # the collector that plays on after the candidate in forward rollouts; null = the candidates' collector.
    # A cheap scripted teacher (expert) values each candidate by how the teacher would go on from it.
    continuation: Optional[str] = None
    # ranks candidates (forward and reverse, summed): heuristic (offline stand-in) or a file in configs/agents/judge/
    judge: str = "heuristic"
    # also score forward rollouts' experience with the judge (the reward then includes experience)
    judge_rollouts: bool = False
    # the reward of every set: rollouts are scored again with these weights, forward rollouts with them too
    reward: RewardConfig = field(default_factory=RewardConfig)
    # dpo_accept: shares of each kind of pair drawn (AcceptNegatives)
    accept_negatives: AcceptNegatives = field(default_factory=AcceptNegatives)
    # discard turn-level candidates generated with other settings (else a changed setting is refused, named)
    overwrite: bool = False
    progress: bool = True
