"""The provider conformance suite: each provider's documented wire format (conformance/PROVIDER/*: full answers,
streams, tool calls, errors, usage with caching and reasoning) through its adapter. The usage recorded must be the
provider's own numbers, exactly; what the client gets must be OpenAI's format, whatever the provider's. Bedrock's
streams are binary: their fixtures list the documented events, framed here in the AWS event stream encoding (and
decoded by botocore)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import orjson
import pytest
from lockgate.gateway_runtime.data.providers import make_provider
from lockgate.gateway_runtime.data.providers.base import Provider
from lockgate.gateway_runtime.data.usage import Tokens
from lockgate.gateway_runtime.mock_bedrock import event
from lockgate.sdk import BedrockSettings, LlmUpstream

FIXTURES = Path(__file__).parent / "conformance"
UPSTREAMS = {
    "openai": LlmUpstream(name="u"),
    "azure": LlmUpstream(name="u", type="azure", base_url="https://r.openai.azure.com"),
    "anthropic": LlmUpstream(name="u", type="anthropic"),
    "gemini": LlmUpstream(name="u", type="gemini"),
    "cohere": LlmUpstream(name="u", type="cohere"),
    "bedrock": LlmUpstream(name="u", type="bedrock", bedrock=BedrockSettings(region="us-east-1"), auth="env:KEY"),
}


class Answer(NamedTuple):
    text: str | None
    finish: str | None
    tools: list[tuple[str, dict[str, Any]]]  # (name, arguments) of each tool call


def provider(name: str) -> Provider:
    return make_provider(UPSTREAMS[name], {"auth": "sk-test"})


# (provider, fixture, the provider's usage, what the client reads)
COMPLETIONS = [
    ("openai", "cached.json", Tokens(1117, 46, 1163, cached=1024), Answer("The image shows", "stop", [])),
    ("openai", "reasoning.json", Tokens(43, 2186, 2229, reasoning=1920), Answer("Here is a bash", "stop", [])),
    (
        "openai",
        "tool_call.json",
        Tokens(82, 17, 99),
        Answer(None, "tool_calls", [("get_current_weather", {"location": "Boston, MA"})]),
    ),
    ("azure", "completion.json", Tokens(1532, 11, 1543, cached=1408), Answer("Yes, Azure", "stop", [])),
    ("anthropic", "completion.json", Tokens(12, 6, 18), Answer("Hello!", "stop", [])),
    (
        "anthropic",
        "cached.json",  # input 21 + cache writes 1536 + cache reads 188086
        Tokens(189_643, 393, 190_036, cached=188_086),
        Answer("The main themes", "length", []),
    ),
    (
        "anthropic",
        "tool_use.json",
        Tokens(384, 92, 476),
        Answer(
            "I'll check the current weather",
            "tool_calls",
            [("get_weather", {"location": "San Francisco, CA", "unit": "celsius"})],
        ),
    ),
    ("gemini", "completion.json", Tokens(8, 7, 15), Answer("AI learns patterns", "stop", [])),
    (
        "gemini",
        "thinking_cached.json",  # completion = candidates 12 + thoughts 400
        Tokens(2120, 412, 2532, cached=2048, reasoning=400),
        Answer("The answer is 42.", "stop", []),
    ),
    (
        "gemini",
        "tool_call.json",
        Tokens(50, 8, 58),
        Answer(None, "tool_calls", [("get_weather", {"location": "Boston, MA"})]),
    ),
    # Cohere: billed units (what the invoice says), not the tokens Cohere adds to the prompt itself
    ("cohere", "completion.json", Tokens(5, 418, 423), Answer("LLMs stand for", "stop", [])),
    ("cohere", "cached.json", Tokens(1200, 40, 1240, cached=1024), Answer("The report covers", "length", [])),
    (
        "cohere",
        "tool_call.json",
        Tokens(37, 28, 65),
        Answer(None, "tool_calls", [("query_daily_sales_report", {"day": "2023-09-29"})]),
    ),
    ("bedrock", "completion.json", Tokens(12, 11, 23), Answer("Hello! How can I help", "stop", [])),
    (
        "bedrock",
        "cached.json",  # input 18 + cache reads 2048 + cache writes 1024
        Tokens(3090, 200, 3290, cached=2048),
        Answer("Based on the document", "length", []),
    ),
    (
        "bedrock",
        "tool_use.json",
        Tokens(375, 61, 436),
        Answer("I'll look up the top song", "tool_calls", [("top_song", {"sign": "WZPZ"})]),
    ),
]

STREAMS = [
    ("openai", "stream.sse", Tokens(1290, 3, 1293, cached=1152), Answer("Hello there!", "stop", [])),
    (
        "openai",
        "tool_stream.sse",
        Tokens(81, 18, 99),
        Answer("", "tool_calls", [("get_current_weather", {"location": "Boston, MA"})]),
    ),
    ("azure", "stream.sse", Tokens(20, 1, 21), Answer("Hello", "stop", [])),
    ("anthropic", "stream.sse", Tokens(25 + 2048, 15, 2088, cached=2048), Answer("Hello!", "stop", [])),
    (
        "anthropic",
        "tool_stream.sse",
        Tokens(472, 89, 561),
        Answer("Okay, let's check the weather.", "tool_calls", [("get_weather", {"location": "San Francisco, CA"})]),
    ),
    ("gemini", "stream.sse", Tokens(4, 3, 7), Answer("Hello there!", "stop", [])),
    (
        "gemini",
        "tool_stream.sse",
        Tokens(61, 109, 170, reasoning=88),
        Answer("Let me check.", "tool_calls", [("get_weather", {"location": "Paris"})]),
    ),
    ("cohere", "stream.sse", Tokens(3, 2, 5), Answer("Hello world", "stop", [])),
    (
        "cohere",
        "tool_stream.sse",
        Tokens(37, 22, 59, cached=512),
        Answer("", "tool_calls", [("get_weather", {"location": "Toronto"})]),
    ),
    ("bedrock", "stream.json", Tokens(9 + 1024, 3, 1036, cached=1024), Answer("Hello there!", "stop", [])),
    (
        "bedrock",
        "tool_stream.json",
        Tokens(375, 40, 415),
        Answer("Checking.", "tool_calls", [("top_song", {"sign": "WZPZ"})]),
    ),
]

ERRORS = [
    # (provider, fixture, the provider's status, the client's status, code, passed through as sent)
    ("openai", "error_429.json", 429, 429, "rate_limit_exceeded", True),
    ("azure", "error_400.json", 400, 400, "content_filter", True),
    ("anthropic", "error_529.json", 529, 503, "overloaded_error", False),
    ("gemini", "error_429.json", 429, 429, "RESOURCE_EXHAUSTED", False),
    ("gemini", "error_bad_key.json", 400, 502, "upstream_auth", False),
    ("cohere", "error_429.json", 429, 429, "rate_limit_exceeded", False),
    ("bedrock", "error_429.json", 429, 429, "throttling", False),
]


def stream_fixture(name: str, fixture: str) -> bytes:
    path = FIXTURES / name / fixture
    if path.suffix == ".json":  # a list of [event type, payload]: framed as the AWS event stream
        return b"".join(event(kind, payload) for kind, payload in orjson.loads(path.read_bytes()))
    return path.read_bytes()


def read_completion(body: bytes) -> Answer:
    message = orjson.loads(body)["choices"][0]
    calls = message["message"].get("tool_calls") or []
    tools = [(c["function"]["name"], orjson.loads(c["function"]["arguments"])) for c in calls]
    return Answer(message["message"]["content"], message["finish_reason"], tools)


def read_stream(out: bytes) -> tuple[Answer, list[dict[str, Any]], bool]:
    """The text, finish reason and tool calls an OpenAI client assembles from the events; the chunks; [DONE]."""
    events = [e for e in out.split(b"\n\n") if e.strip()]
    done = events[-1] == b"data: [DONE]"
    chunks = [orjson.loads(e.removeprefix(b"data: ")) for e in events if e != b"data: [DONE]"]
    text, finish, calls = "", None, {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            text += choice["delta"].get("content") or ""
            finish = choice.get("finish_reason") or finish
            for call in choice["delta"].get("tool_calls") or ():
                entry = calls.setdefault(call["index"], ["", ""])
                entry[0] += call.get("function", {}).get("name") or ""
                entry[1] += call.get("function", {}).get("arguments") or ""
    tools = [(name, orjson.loads(arguments)) for name, arguments in calls.values()]
    return Answer(text, finish, tools), chunks, done


@pytest.mark.parametrize(("name", "fixture", "tokens", "answer"), COMPLETIONS)
def test_full_answers(name: str, fixture: str, tokens: Tokens, answer: Answer) -> None:
    raw = (FIXTURES / name / fixture).read_bytes()
    completion = provider(name).completion(raw, "asked-model")
    assert completion is not None
    assert completion.tokens == tokens
    got = read_completion(completion.body)
    assert (got.finish, got.tools) == (answer.finish, answer.tools)
    assert (got.text or "").startswith(answer.text or "") and (got.text is None) == (answer.text is None)
    usage = orjson.loads(completion.body)["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == tokens[:3]


@pytest.mark.parametrize("piece", [1, 7, 1 << 20])
@pytest.mark.parametrize(("name", "fixture", "tokens", "answer"), STREAMS)
def test_streams_in_any_pieces(name: str, fixture: str, tokens: Tokens, answer: Answer, piece: int) -> None:
    raw = stream_fixture(name, fixture)
    parser = provider(name).stream_parser("asked-model", include_usage=True, hide_usage=False)
    out = b"".join(parser.feed(raw[i : i + piece]) for i in range(0, len(raw), piece)) + parser.close()
    assert parser.done and parser.status == 200
    assert parser.tokens == tokens
    got, chunks, done = read_stream(out)
    assert done and got == answer
    assert chunks[-1]["usage"]["prompt_tokens"] == tokens.prompt, "the client's usage chunk says the same"
    if provider(name).relay:
        assert out == raw, "a relay sends the provider's bytes unchanged"


def test_a_relay_hides_the_usage_chunk_it_asked_for() -> None:
    raw = (FIXTURES / "openai" / "stream.sse").read_bytes()
    parser = provider("openai").stream_parser("m", include_usage=False, hide_usage=True)
    out = parser.feed(raw)
    assert parser.tokens == Tokens(1290, 3, 1293, cached=1152)
    assert all(chunk["choices"] for chunk in read_stream(out)[1])


def test_a_translated_stream_sends_usage_only_when_asked() -> None:
    raw = (FIXTURES / "anthropic" / "stream.sse").read_bytes()
    parser = provider("anthropic").stream_parser("m", include_usage=False, hide_usage=False)
    _, chunks, done = read_stream(parser.feed(raw))
    assert done and all("usage" not in chunk for chunk in chunks)
    assert parser.tokens == Tokens(2073, 15, 2088, cached=2048), "the gateway records it all the same"


def test_an_error_inside_a_stream_ends_it_in_openai_shape() -> None:
    raw = (FIXTURES / "anthropic" / "stream_error.sse").read_bytes()
    parser = provider("anthropic").stream_parser("m", include_usage=True, hide_usage=False)
    out = parser.feed(raw)
    assert parser.done and parser.status == 503
    last = orjson.loads(out.split(b"\n\n")[-2].removeprefix(b"data: "))
    assert last["error"]["code"] == "overloaded_error" and "Overloaded" in last["error"]["message"]
    assert parser.tokens == Tokens(10, 1, 11), "what the provider counted before it failed"


@pytest.mark.parametrize(("name", "fixture", "status", "client_status", "code", "passed"), ERRORS)
def test_errors(name: str, fixture: str, status: int, client_status: int, code: str, passed: bool) -> None:
    raw = (FIXTURES / name / fixture).read_bytes()
    error = provider(name).error(status, "application/json", raw)
    assert (error.status, error.code) == (client_status, code)
    assert (error.body == raw) is passed


@pytest.mark.parametrize("name", list(UPSTREAMS))
def test_errors_that_are_not_json_and_rejected_credentials(name: str) -> None:
    garbled = provider(name).error(500, "text/html", b"<html>Bad gateway</html>")
    assert (garbled.status, garbled.code) == (502, "upstream_error") and "text/html, 24 bytes" in garbled.message
    refused = provider(name).error(401, "application/json", b'{"error": {"message": "bad key"}}')
    assert (refused.status, refused.code) == (502, "upstream_auth")


def test_a_bedrock_stream_exception_and_a_broken_frame() -> None:
    frames = stream_fixture("bedrock", "stream.json")
    throttled = event("contentBlockDelta", {}).replace(b"event", b"exception")  # same length: the CRCs break
    parser = provider("bedrock").stream_parser("m", include_usage=True, hide_usage=False)
    out = parser.feed(frames[:40] + throttled)
    assert parser.done and parser.status == 502 and b"broken event stream" in out

    from lockgate.gateway_runtime.mock_bedrock import frame

    exception = frame({":message-type": "exception", ":exception-type": "throttlingException"}, b'{"message":"slow"}')
    parser = provider("bedrock").stream_parser("m", include_usage=True, hide_usage=False)
    out = parser.feed(event("messageStart", {"role": "assistant"}) + exception)
    assert parser.done and parser.status == 429 and b"throttlingException" in out and b"slow" in out
