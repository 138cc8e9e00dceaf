"""The openai backend against an OpenAI-compatible test server on 127.0.0.1: retries, bad bodies, dead servers."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from debtgpt.agents.base import Agent, DialogueError
from debtgpt.agents.llm_collector import LLMCollector
from debtgpt.backends import Sampling, make_backend
from debtgpt.dialogue import OUTCOME_ERROR, Turn
from debtgpt.protocol import write_turn
from debtgpt.runner import DialogueJob, run_dialogues, start_dialogue

GOOD_TURN = write_turn(
    Turn(role="collector", action="non", strategy="establish trust", dialogue="Hello, this is about your loan.")
)


class ChatServer:
    """Answers POST /v1/chat/completions with `respond(body, attempt) -> (status, payload or raw str)`."""

    def __init__(self, respond):
        self.respond = respond
        self.requests: list[dict] = []
        self.headers: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append(body)
                server.headers.append(dict(self.headers))
                status, payload = server.respond(body, len(server.requests))
                if status is None:  # never answer (the client times out)
                    time.sleep(2.0)
                    return
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def completion(text: str, prompt_tokens: int = 50, completion_tokens: int = 20) -> dict:
    return {
        "id": "cmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


@pytest.fixture
def serve():
    servers = []

    def start(respond):
        servers.append(ChatServer(respond))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def backend_for(server, **options):
    cfg = {
        "kind": "openai",
        "model": "test-model",
        "base_url": server.url,
        "backoff_s": 0.01,
        "timeout_s": 2.0,
        **options,
    }
    return make_backend(cfg)


def chat(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def test_429_then_500_then_success_is_retried(serve):
    answers = {1: (429, {"error": "slow down"}), 2: (500, {"error": "oops"}), 3: (200, completion(GOOD_TURN))}
    server = serve(lambda body, n: answers[n])
    backend = backend_for(server)
    [generation] = backend.generate([chat("hi")], Sampling(max_tokens=64), seeds=[3])
    assert generation.error is None and generation.text == GOOD_TURN
    assert len(server.requests) == 3
    assert backend.usage.prompt_tokens == 50 and backend.usage.completion_tokens == 20
    body = server.requests[-1]
    assert body["max_tokens"] == 64 and body["seed"] == 3 and body["model"] == "test-model"


def test_json_schema_response_format_and_api_key_from_named_variable(serve, monkeypatch):
    monkeypatch.setenv("MY_SERVER_KEY", "sk-test-123")
    server = serve(lambda body, n: (200, completion(GOOD_TURN)))
    backend = backend_for(server, api_key_env="MY_SERVER_KEY")
    backend.generate([chat("hi")], Sampling(json_schema={"type": "object"}))
    assert server.requests[0]["response_format"]["json_schema"]["schema"] == {"type": "object"}
    assert server.headers[0]["Authorization"] == "Bearer sk-test-123"
    assert "sk-test-123" not in repr(vars(backend))


def test_response_format_off_and_fallback_when_rejected(serve):
    server = serve(
        lambda body, n: (400, {"error": "response_format not supported"})
        if "response_format" in body
        else (200, completion("x"))
    )
    backend = backend_for(server, response_format="json_object")
    [generation] = backend.generate([chat("hi")], Sampling(json_schema={"type": "object"}))
    assert generation.text == "x" and server.requests[0]["response_format"] == {"type": "json_object"}
    assert "response_format" not in server.requests[1] and backend.response_format == "none"


def test_a_prompt_over_the_context_length_is_an_error_of_that_dialogue_only(serve, scenarios):
    too_long = {
        "error": {
            "message": "This model's maximum context length is 2048 tokens. However, your messages "
            "resulted in 9000 tokens. Please reduce the length of the messages.",
            "code": "context_length_exceeded",
        }
    }

    def respond(body, n):
        return (400, too_long) if "x" * 1000 in body["messages"][0]["content"] else (200, completion(GOOD_TURN))

    server = serve(respond)
    backend = backend_for(server)
    out = backend.generate(
        [chat("hi"), [{"role": "system", "content": "x" * 5000}], chat("hello")],
        Sampling(json_schema={"type": "object"}),
    )
    assert [g.error is None for g in out] == [True, False, True]
    assert "maximum context length" in out[1].error and "HTTP 400" in out[1].error
    assert len(server.requests) == 3  # not retried, and the JSON response format stays on for the others
    assert backend.response_format == "json_schema" and all("response_format" in r for r in server.requests)


def test_client_errors_are_not_retried(serve):
    server = serve(lambda body, n: (401, {"error": "bad key"}))
    [generation] = backend_for(server).generate([chat("hi")], Sampling())
    assert "HTTP 401" in generation.error and len(server.requests) == 1


class HangingUpDebtor(Agent):
    """Hangs up after the collector's first turn, so each dialogue is one collector turn."""

    role, name = "debtor", "hangs_up"

    def act(self, views):
        return [Turn(role="debtor", action="hangup", strategy="complaint", dialogue="Bye.") for _ in views]


def test_malformed_answers_become_format_errors(serve, scenarios):
    def respond(body, n):
        system = body["messages"][0]["content"]
        if scenarios[0].id in system:
            return 200, "<html>502 bad gateway</html>"  # a body that is not a chat completion
        if scenarios[1].id in system:
            return 200, completion("Sure! I will call back later.")  # a completion that is not a turn
        return 200, completion(GOOD_TURN)

    server = serve(respond)
    collector = LLMCollector(backend_for(server), sampling=Sampling(max_tokens=64))
    trajectories = run_dialogues([DialogueJob(s) for s in scenarios[:3]], collector, HangingUpDebtor(), max_turns=4)
    first = [t.turns[0] for t in trajectories]
    assert first[0].format_error and "502 bad gateway" in first[0].raw
    assert first[1].format_error and first[1].action == "non"
    assert first[2].format_error is None and first[2].strategy == "establish trust"
    assert all(t.outcome == "hangup" for t in trajectories)


def test_a_server_that_never_answers_fails_only_its_dialogue(serve, scenarios):
    silent = scenarios[2].id

    def respond(body, n):
        return (None, None) if silent in body["messages"][0]["content"] else (200, completion(GOOD_TURN))

    server = serve(respond)
    backend = backend_for(server, timeout_s=0.2, max_attempts=2, max_concurrency=4)
    collector = LLMCollector(backend, sampling=Sampling(max_tokens=64))
    started = time.monotonic()
    trajectories = run_dialogues([DialogueJob(s) for s in scenarios[:5]], collector, HangingUpDebtor(), max_turns=4)
    assert time.monotonic() - started < 5  # two short attempts, not a hang
    failed = [t for t in trajectories if t.outcome == OUTCOME_ERROR]
    assert [t.scenario.id for t in failed] == [silent]
    assert "timed out" in failed[0].error and "2 attempts" in failed[0].error
    assert all(t.outcome == "hangup" for t in trajectories if t.scenario.id != silent)
    assert backend.usage.failures == 1


def test_failed_generation_becomes_a_dialogue_error(serve, scenarios):
    server = serve(lambda body, n: (503, {"error": "down"}))
    collector = LLMCollector(backend_for(server, max_attempts=2), sampling=Sampling(max_tokens=8))
    view = start_dialogue(DialogueJob(scenarios[0]), collector, HangingUpDebtor(), seed=0, max_turns=4).views[
        "collector"
    ]
    [result] = collector.act([view])
    assert isinstance(result, DialogueError) and "HTTP 503" in result.message
