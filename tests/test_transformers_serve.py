"""The openai backend against a real OpenAI-compatible server: `transformers serve` on the loopback, serving
the tiny model. At temperature 0 an eval through it agrees with the in-process hf backend on the outcomes."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import pytest

from debtgpt.agents.llm_collector import LLMCollector
from debtgpt.agents.scripted import ScriptedDebtor
from debtgpt.backends import Sampling, make_backend
from debtgpt.backends.openai_compat import OpenAIBackend
from debtgpt.metrics import evaluate
from debtgpt.runner import DialogueJob, run_dialogues

from conftest import make_scenarios

pytest.importorskip("openai", reason="transformers serve needs the serving extras: pip install -e '.[dev]'")
pytestmark = pytest.mark.serve
GREEDY = Sampling(temperature=0.0, max_tokens=32)
START_TIMEOUT_S = 240  # imports and model load on a busy CPU


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(tiny_model_dir):
    """`transformers serve <tiny model folder>` on 127.0.0.1, started and stopped by this fixture."""
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    command = [
        sys.executable,
        "-m",
        "transformers.cli.transformers",
        "serve",
        str(tiny_model_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--dtype",
        "float32",
    ]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}: {process.stdout.read()[-2000:]}")
            try:
                httpx.get(f"{url}/models", timeout=2)  # any answer means it listens (this route may 500 offline)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "transformers serve did not start in time"
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_served_tiny_model_answers_a_chat_completion(served, tiny_model_dir):
    assert OpenAIBackend.preflight(model=str(tiny_model_dir), base_url=served) is None
    backend = make_backend(
        {
            "kind": "openai",
            "model": str(tiny_model_dir),
            "base_url": served,
            "response_format": "none",
            "timeout_s": 120,
            "max_attempts": 1,
        }
    )
    [generation] = backend.generate([[{"role": "user", "content": "Hello"}]], GREEDY, seeds=[1])
    assert (
        generation.error is None
        and generation.prompt_tokens > 0
        and 0 < generation.completion_tokens <= GREEDY.max_tokens
    )


def test_eval_through_the_server_agrees_with_the_hf_backend(served, tiny_model_dir, hf_backend):
    jobs = [DialogueJob(s) for s in make_scenarios(10, seed=5)]
    served_backend = make_backend(
        {
            "kind": "openai",
            "model": str(tiny_model_dir),
            "base_url": served,
            "response_format": "none",
            "timeout_s": 120,
            "max_attempts": 2,
            "max_concurrency": 4,
        }
    )
    outcomes = {}
    for name, backend in (("served", served_backend), ("hf", hf_backend)):
        collector = LLMCollector(backend, name="tiny", sampling=GREEDY, guided_json=False)
        trajectories = run_dialogues(jobs, collector, ScriptedDebtor(), max_turns=6, seed=3)
        assert all(t.error is None for t in trajectories), [t.error for t in trajectories if t.error]
        assert evaluate(trajectories)["overall"]["agent_errors"] == 0
        outcomes[name] = trajectories
    same = sum(
        a.outcome == b.outcome and len(a.turns) == len(b.turns) for a, b in zip(outcomes["served"], outcomes["hf"])
    )
    assert same >= 9  # padding in the hf batch may flip a greedy token now and then
    first_turns = [(a.turns[0].raw, b.turns[0].raw) for a, b in zip(outcomes["served"], outcomes["hf"])]
    assert sum(x == y for x, y in first_turns) >= 9
