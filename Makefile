# DebtGPT: every target creates .venv and installs the project on first use; missing inputs are built first.
# Pass Hydra overrides with ARGS, e.g. `make eval ARGS="collectors=[firm,expert] max_turns=16"`.
PYTHON    ?= python3
VENV      := .venv
PY        := $(VENV)/bin/python
STAMP     := $(VENV)/.installed
ARGS      ?=
COLLECTOR ?= expert
SWEEP     ?=
DRY_RUN   ?=
SEED      ?= 0
SEEDS     ?= 1 2 3

DATA_CARD     := data/card.json
TINY_MODEL    := checkpoints/tiny/config.json
ROLLOUTS_CARD := data/rollouts/$(COLLECTOR)/card.json
# The recipe (make sft, make dpo, make eval; make demo runs the same stages): one home for each stage's command.
EXPERT_ROLLOUTS   := data_gen.rollouts collector=expert
SFT_SET           := data_gen.pairs rollouts_dir=data/rollouts/expert out_dir=data/pairs sets=[sft]
SFT_ROLLOUTS      := data_gen.rollouts +experiment=sft_rollouts
ACCEPT_PAIRS      := data_gen.pairs +experiment=sft_pairs
EXPERT_ROLLOUTS_CARD := data/rollouts/expert/card.json
SFT_SET_CARD      := data/pairs/sft/card.json
SFT_MODEL         := checkpoints/sft-tiny/final/config.json
SFT_ROLLOUTS_CARD := data/rollouts/sft-explore/card.json
ACCEPT_PAIRS_CARD := data/pairs-sft/dpo_accept/card.json
DPO_MODEL         := checkpoints/dpo-tiny/final/config.json

.PHONY: help venv data tiny eval serve rollouts pairs sft dpo sweep cluster-start cluster-stop publish demo seeds test test-fast test-gpu lint browser screenshots bench clean

help:
	@echo "make demo      the whole loop on the embedded default (offline, CPU): data, expert rollouts, SFT,"
	@echo "               rollouts of the SFT model, acceptance pairs, DPO, and DebtBench of expert, SFT and DPO"
	@echo "make data      synthetic debt records and personas -> data/"
	@echo "make eval      DebtBench evaluation of collectors side by side -> reports/<run>/"
	@echo "make serve     web viewer of reports/ and a page to play the debtor, on http://127.0.0.1:8000"
	@echo "make rollouts  N scored dialogues per training scenario -> data/rollouts/<collector>/"
	@echo "make pairs     SFT set and DPO pairs (dialogue and turn level) -> data/pairs/"
	@echo "make sft       supervised fine-tuning of the tiny model -> checkpoints/sft-tiny/"
	@echo "make dpo       DPO with LoRA on the preference pairs -> checkpoints/dpo-tiny/"
	@echo "make sweep     Hydra multirun of SFT, DPO or eval (STAGE=sft SWEEP=\"learning_rate=1e-3,2e-3\" LAUNCHER=slurm), ending with a table"
	@echo "make cluster-start / cluster-stop   a single-node SLURM cluster on 127.0.0.1 for LAUNCHER=slurm_local (root)"
	@echo "make publish   push a checkpoint with its model card to the Hub (DRY_RUN=1: write and check only)"
	@echo "make test      the linter and the test suite (offline, CPU; installs chromium for the browser test when root)"
	@echo "make test-fast the tests without the slow, browser, serve and cluster tiers: the loop to edit in"
	@echo "make lint      ruff check and ruff format --check"
	@echo "make screenshots  README screenshots of the viewer, taken by the browser test -> docs/img/"
	@echo "make bench     throughput benchmarks"

venv: $(STAMP)

# torch==2.13.0 is pinned so pip takes the CPU build where one is provided locally.
# --no-compile: pip would byte-compile every installed file (about 70 s here, torch and transformers whole);
# the warm-up compiles only what the stages import.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --no-compile -e ".[dev]"
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pipeline.stages --warm-up
	touch $(STAMP)

$(DATA_CARD): | $(STAMP)
	$(PY) -m data_gen.make_data

$(TINY_MODEL): | $(STAMP)
	$(PY) -m debtgpt.tiny

# any collector's rollouts ($(ROLLOUTS_CARD), the teacher's $(EXPERT_ROLLOUTS_CARD)); the SFT model's have their own rule
data/rollouts/%/card.json: | $(STAMP) $(DATA_CARD)
	$(PY) -m data_gen.rollouts collector=$*

$(SFT_SET_CARD): | $(STAMP) $(EXPERT_ROLLOUTS_CARD)
	$(PY) -m $(SFT_SET)

$(SFT_MODEL): | $(STAMP) $(SFT_SET_CARD) $(TINY_MODEL)
	$(PY) -m train.sft

$(SFT_ROLLOUTS_CARD): | $(STAMP) $(SFT_MODEL)
	$(PY) -m $(SFT_ROLLOUTS)

$(ACCEPT_PAIRS_CARD): | $(STAMP) $(SFT_ROLLOUTS_CARD)
	$(PY) -m $(ACCEPT_PAIRS)

$(DPO_MODEL): | $(STAMP) $(ACCEPT_PAIRS_CARD)
	$(PY) -m train.dpo

data: $(STAMP)
	$(PY) -m data_gen.make_data $(ARGS)

tiny: $(STAMP)
	$(PY) -m debtgpt.tiny

# Plain `make eval` scores the recipe's collectors (expert, untrained, SFT, DPO), building what is missing; with
# ARGS it scores what they name and builds nothing.
eval: $(STAMP) $(DATA_CARD) $(if $(ARGS),,$(DPO_MODEL))
	$(PY) -m eval.run $(ARGS)

# Localhost only unless ARGS="host=..." says otherwise; played dialogues go to reports/play/.
serve: $(STAMP) $(DATA_CARD)
	$(PY) -m viewer.serve $(ARGS)

# Resumes: shards already complete are verified and skipped.
rollouts: $(STAMP) $(DATA_CARD)
	$(PY) -m data_gen.rollouts collector=$(COLLECTOR) $(ARGS)

pairs: $(STAMP) $(ROLLOUTS_CARD)
	$(PY) -m data_gen.pairs rollouts_dir=data/rollouts/$(COLLECTOR) $(ARGS)

# Resumes from the newest checkpoint of an interrupted run. SFT on the teacher's best dialogues; DPO on the
# acceptance pairs of the SFT model's own rollouts (both built first when missing).
sft: $(STAMP) $(SFT_SET_CARD) $(TINY_MODEL)
	$(PY) -m train.sft $(ARGS)

dpo: $(STAMP) $(ACCEPT_PAIRS_CARD) $(SFT_MODEL)
	$(PY) -m train.dpo $(ARGS)

# make sweep [STAGE=sft|dpo|eval] [SWEEP="learning_rate=1e-3,2e-3"] [LAUNCHER=local|slurm|slurm_local] [ARGS=...]
# A given SWEEP replaces the default grid (SFT's is in configs/sweep.yaml; DPO and eval have none); each point runs
# what `make $(STAGE)` runs but for the swept values. LAUNCHER=slurm submits one SLURM job per point
# (configs/hydra/launcher/), slurm_local on the cluster of `make cluster-start`. The sweep ends with its table,
# printed and written to sweep_summary.md in the sweep folder; a rerun resumes each point from its checkpoint.
STAGE    ?= sft
LAUNCHER ?= local
SWEEP_COMMAND_sft  := train.sft --config-name sweep
SWEEP_COMMAND_dpo  := train.dpo
SWEEP_COMMAND_eval := eval.run
SWEEP_NEEDS_sft    := $(SFT_SET_CARD) $(TINY_MODEL)
SWEEP_NEEDS_dpo    := $(ACCEPT_PAIRS_CARD) $(SFT_MODEL)
SWEEP_NEEDS_eval   := $(DATA_CARD) $(if $(ARGS),,$(DPO_MODEL))
sweep: $(STAMP) $(SWEEP_NEEDS_$(STAGE))
	@case "$(STAGE)" in sft|dpo|eval) ;; *) echo "error: STAGE=$(STAGE) is not allowed; allowed values: sft, dpo, eval" >&2; exit 2;; esac
	$(PY) -m $(SWEEP_COMMAND_$(STAGE)) -m hydra/launcher=$(LAUNCHER) $(if $(strip $(SWEEP)),hydra.sweeper.params=null $(SWEEP)) $(ARGS)

# A single-node SLURM cluster on 127.0.0.1 for LAUNCHER=slurm_local (root; installs slurm-wlm, slurmdbd, munge and
# mariadb-server where missing; state in .cluster/). scripts/cluster.sh status shows the daemons and the queue.
cluster-start:
	scripts/cluster.sh start

cluster-stop:
	scripts/cluster.sh stop

publish: $(STAMP)
	$(PY) -m train.publish $(if $(DRY_RUN),dry_run=true) $(ARGS)

# The main job on the embedded default; each stage resumes or reuses what an earlier run left. SEED drives data,
# rollouts, training and evaluation. Settings were chosen on the val split; the test split is evaluated once, last.
# pipeline.stages runs each stage in its own process, forked after the heavy imports (about 10 s each) are done.
demo: $(STAMP)
	$(PY) -m pipeline.stages \
	  "data_gen.make_data seed=$(SEED)" \
	  "debtgpt.tiny" \
	  "$(EXPERT_ROLLOUTS) seed=$(SEED)" \
	  "$(SFT_SET) seed=$(SEED)" \
	  "train.sft seed=$(SEED)" \
	  "$(SFT_ROLLOUTS) seed=$(SEED)" \
	  "$(ACCEPT_PAIRS) seed=$(SEED)" \
	  "train.dpo seed=$(SEED)" \
	  "eval.run run=demo seed=$(SEED)"

# The demo once per seed, each in its own copy of the tree (sharing .venv), and the table of DPO - SFT per seed
# -> benchmarks/results/learning_seeds.md
seeds: $(STAMP)
	$(PY) -m benchmarks.learning_seeds --seeds $(SEEDS)

# pytest exits 5 when it collects no test; make treats any non-zero exit as a failure. make test is CI's set: the
# linter, then every test but the gpu ones; make test-fast leaves out the slow, browser, serve and cluster tiers.
test: $(STAMP) browser lint
	$(PY) -m pytest -q -m "not gpu" tests

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not (slow or browser or serve or cluster or gpu)" tests

test-gpu: $(STAMP)
	$(PY) -m pytest -q -m gpu tests

# ruff (pyproject.toml: line length 119); .pre-commit-config.yaml runs the same on each commit
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Debian's chromium and chromedriver for tests/test_viewer_browser.py: installed with apt-get where missing and
# this is root (CI); elsewhere the test is skipped with the command to run, except under CI where it fails.
browser:
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver; \
	else echo "note: the browser test needs chromium and chromedriver (sudo apt-get install chromium chromium-driver)"; fi

screenshots: $(STAMP) browser
	DEBTGPT_SCREENSHOTS=docs/img $(PY) -m pytest -q tests/test_viewer_browser.py

bench: $(STAMP)
	$(PY) -m benchmarks.run $(ARGS)

clean:
	rm -rf data reports outputs multirun checkpoints/sft-* checkpoints/dpo-*
