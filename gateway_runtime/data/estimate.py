"""The gateway's own token estimate, for the requests a provider did not count (a stream cut short, a client that
left, an upstream that reports no usage): about four characters a token for the prompt, a token per streamed
event (OpenAI and Anthropic stream a token or a few per event) or four characters a token of a full answer. A
record made from it says `estimated`; it is never a silent zero.
"""

from __future__ import annotations

from typing import Any

import orjson
from lockgate.gateway_runtime.data.usage import Tokens

CHARS_PER_TOKEN = 4


def _chars(content: object) -> int:
    if isinstance(content, str):
        return len(content)
    if isinstance(content, list):
        return sum(len(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return 0


def prompt_tokens(body: dict[str, Any]) -> int:
    """Of a chat (or Messages) request: its messages' and system prompt's text; of an embeddings request, its input."""
    messages = body.get("messages")
    chars = sum(_chars(m.get("content")) for m in messages if isinstance(m, dict)) if isinstance(messages, list) else 0
    given = body.get("input")
    chars += sum(len(t) for t in given if isinstance(t, str)) if isinstance(given, list) else _chars(given)
    return max(1, -(-(chars + _chars(body.get("system"))) // CHARS_PER_TOKEN))


def completion_cap(body: dict[str, Any]) -> int | None:
    """The most tokens the request lets the answer use (OpenAI's `max_completion_tokens` or `max_tokens`,
    Anthropic's `max_tokens`), if it says."""
    cap = body.get("max_completion_tokens") or body.get("max_tokens")
    return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap > 0 else None


def answer_tokens(body: bytes) -> int:
    """Of a full answer, OpenAI's `chat.completion` or Anthropic's `message`."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 0
    if not isinstance(answer, dict):
        return 0
    choices = answer.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        message = choices[0].get("message")
        text = _chars(message.get("content")) if isinstance(message, dict) else 0
    else:
        text = _chars(answer.get("content"))
    return -(-text // CHARS_PER_TOKEN)


def estimated(known: Tokens | None, prompt: int, completion: int) -> Tokens:
    """What is known from the provider, with the estimate where it said nothing."""
    known = known or Tokens()
    prompt = known.prompt or prompt
    completion = max(known.completion, completion)
    return Tokens(prompt, completion, prompt + completion, known.cached, known.reasoning)
