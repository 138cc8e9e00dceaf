"""The `openai` backend: any OpenAI-compatible chat completions server (hosted models, `vllm serve`).

Requests of a batch run concurrently (a thread pool bounded by `max_concurrency`). A 429, a 5xx, a timeout
or a dropped connection is retried with exponential backoff (honouring Retry-After) up to `max_attempts`;
a request that still fails comes back as `Generation(error=...)`, never as an exception, so the other
dialogues of the batch go on. The API key is read from the environment variable named in the config and
only ever placed in the Authorization header.

Why httpx and our own retries, not the `openai` client's: a server that rejects `response_format` must be retried
at once without it (and remembered), which the client's retry policy cannot express, and the core then needs no
`openai` package (it is a dev extra, for `transformers serve`).
"""

from __future__ import annotations

import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from debtgpt.backends.base import Backend, Conversation, Generation, Sampling
from debtgpt.backends.settings import RESPONSE_FORMATS

log = logging.getLogger(__name__)

RETRYABLE_STATUS = (408, 409, 429)  # plus every 5xx


class OpenAIBackend(Backend):
    name = "openai"

    def __init__(
        self,
        model: str,
        *,
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str = "OPENAI_API_KEY",
        max_concurrency: int = 16,
        timeout_s: float = 60.0,
        max_attempts: int = 5,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        response_format: str = "json_schema",
        send_seed: bool = True,
        extra_body: dict | None = None,
    ) -> None:
        """`response_format`: json_schema (strict turn schema), json_object, or none for servers without it."""
        super().__init__()
        import httpx

        if response_format not in RESPONSE_FORMATS:
            raise ValueError(
                f"response_format={response_format!r} is not known; allowed values: {', '.join(RESPONSE_FORMATS)}"
            )
        if max_attempts < 1 or max_concurrency < 1:
            raise ValueError(f"max_attempts={max_attempts} and max_concurrency={max_concurrency} must be at least 1")
        self.model = model
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.max_concurrency = max_concurrency
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.response_format = response_format
        self.send_seed = send_seed
        self.extra_body = dict(extra_body or {})
        headers = {"Content-Type": "application/json"}
        api_key = os.environ.get(api_key_env)
        if api_key:  # a local `vllm serve` needs none
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            limits=httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    def _body(self, conversation: Conversation, sampling: Sampling, seed: int | None) -> dict:
        body = {
            "model": self.model,
            "messages": conversation,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "max_tokens": sampling.max_tokens,
        }
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if self.send_seed and seed is not None:
            body["seed"] = seed
        if sampling.json_schema is not None and self.response_format == "json_schema":
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "turn", "schema": sampling.json_schema},
            }
        elif sampling.json_schema is not None and self.response_format == "json_object":
            body["response_format"] = {"type": "json_object"}
        body.update(self.extra_body)
        return body

    def _backoff(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.max_backoff_s)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        return min(self.backoff_s * 2**attempt, self.max_backoff_s)

    def _request(self, conversation: Conversation, sampling: Sampling, seed: int | None) -> Generation:
        import httpx

        last_error = "no attempt made"
        for attempt in range(self.max_attempts):
            body = self._body(conversation, sampling, seed)
            retry_after = None
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TimeoutException:
                last_error = "request timed out"
            except httpx.TransportError as exc:
                last_error = f"connection failed: {type(exc).__name__}"
            else:
                status = response.status_code
                if status == 200:
                    return _parse_completion(response)
                last_error = f"HTTP {status}: {response.text[:300]}"
                if status in (400, 422) and "response_format" in body and _names_response_format(response.text):
                    # The server does not support JSON response formats: drop them for good and retry at once.
                    log.warning("%s rejected response_format (%s); continuing without it", self.url, last_error)
                    self.response_format = "none"
                    continue
                if status not in RETRYABLE_STATUS and status < 500:
                    return Generation(text="", error=last_error)
                retry_after = response.headers.get("retry-after")
            if attempt + 1 < self.max_attempts:
                time.sleep(self._backoff(attempt, retry_after))
        return Generation(text="", error=f"gave up after {self.max_attempts} attempts: {last_error}")

    def _request_or_error(self, conversation: Conversation, sampling: Sampling, seed: int | None) -> Generation:
        try:
            return self._request(conversation, sampling, seed)
        except Exception as exc:  # whatever goes wrong with one request is that dialogue's error, not the batch's
            return Generation(text="", error=f"request failed: {type(exc).__name__}: {str(exc)[:200]}")

    def generate(
        self, conversations: list[Conversation], sampling: Sampling, seeds: list[int] | None = None
    ) -> list[Generation]:
        if seeds is not None and len(seeds) != len(conversations):
            raise ValueError(f"got {len(seeds)} seeds for {len(conversations)} conversations")
        if not conversations:
            return []
        seeds = seeds if seeds is not None else [None] * len(conversations)
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(conversations))) as pool:
            generations = list(
                pool.map(lambda args: self._request_or_error(args[0], sampling, args[1]), zip(conversations, seeds))
            )
        self.usage.add(generations)
        return generations

    def close(self) -> None:
        self._client.close()

    @classmethod
    def preflight(
        cls,
        model: str = "",
        base_url: str = "https://api.openai.com/v1",
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 60.0,
        **_,
    ) -> str | None:
        """A hosted API needs its key; every server must answer (any HTTP status) at base_url."""
        import httpx

        key = os.environ.get(api_key_env)
        if not key and not _is_local(base_url):
            return (
                f"no API key: {api_key_env} is not set; export {api_key_env}=... "
                "(the key is read from the environment only)"
            )
        try:
            response = httpx.get(
                base_url.rstrip("/") + "/models",
                timeout=min(timeout_s, 5.0),
                headers={"Authorization": f"Bearer {key}"} if key else {},
            )
        except httpx.HTTPError as exc:
            return (
                f"the server at {base_url} cannot be reached ({type(exc).__name__}); start it or fix backend.base_url"
            )
        if response.status_code in (401, 403):
            return (
                f"the server at {base_url} refused the key in {api_key_env} "
                f"(HTTP {response.status_code}); set a valid key"
            )
        return None


def _is_local(url: str) -> bool:
    from urllib.parse import urlparse

    host = urlparse(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1", "0.0.0.0") or host.startswith(("10.", "192.168.", "127."))


def _names_response_format(error_text: str) -> bool:
    """Whether a 400/422 is about the JSON response format (and not, say, a prompt over the context length)."""
    text = error_text.lower()
    return any(word in text for word in ("response_format", "response format", "json_schema", "json_object", "guided"))


def _parse_completion(response) -> Generation:
    """The first choice's text and token counts. A body that is not a chat completion is passed on as text:
    the turn parser then records it as a format error with the raw body kept, rather than retrying a server bug."""
    try:
        body = response.json()
        message = body["choices"][0]["message"]
        text = message.get("content") or ""
        usage = body.get("usage") or {}
        return Generation(
            text=text,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
        )
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return Generation(text=response.text[:2000])
