"""PII redaction: the detectors against a corpus of true and false positives (precision and recall printed per
detector), the hold-back on streams, reject mode, and the policy through a real gateway with the official OpenAI and
Anthropic SDKs, streamed and not (what reached the upstream read back from the mock, what came back masked)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import anthropic
import httpx
import openai
import pytest
from lockgate.gateway_runtime.data.clients import CLIENT_APIS
from lockgate.gateway_runtime.data.pipeline import run_request
from lockgate.gateway_runtime.data.policies import RequestContext, chain, scope_of
from lockgate.gateway_runtime.data.policies.pii_detectors import BUILT_IN, Detector, Detectors
from lockgate.gateway_runtime.data.policies.pii_redaction import Hold
from lockgate.sdk import (
    ApiKeyCreate,
    Consumer,
    KeyAuth,
    LlmUpstream,
    PiiPattern,
    PiiRedaction,
    PromptPolicies,
    Route,
    RoutePolicies,
)
from pydantic import ValidationError

# (text, the kinds a detector should find in it): true positives, and look-alikes that must not be found
CORPUS: list[tuple[str, list[str]]] = [
    ("write to jane.doe@example.com today", ["email"]),
    ("cc: ops+alerts@mail.eu-west.acme.io", ["email"]),
    ("the handle @jane_doe and the domain example.com", []),
    ("card 4111 1111 1111 1111 exp 12/29", ["payment_card"]),
    ("pay with 5500-0000-0000-0004", ["payment_card"]),
    ("amex 378282246310005", ["payment_card"]),
    ("card 4111 1111 1111 1112 (a typo: fails Luhn)", []),
    ("order number 1234567890123 shipped", []),
    ("IBAN DE89 3704 0044 0532 0130 00", ["iban"]),
    ("iban GB82WEST12345698765432", ["iban"]),
    ("ref GB00WEST12345698765432 (bad check digits)", []),
    ("ssn 123-45-6789", ["us_ssn"]),
    ("ssn 000-12-3456 is not valid, nor 666-12-3456 or 123-00-4567", []),
    ("from 192.168.10.24 via 10.0.0.1", ["ip_address", "ip_address"]),
    ("host 2001:db8:85a3::8a2e:370:7334", ["ip_address"]),
    ("version 300.1.2 and 1.2.3", []),
    ("call +1 (415) 555-0132", ["phone"]),
    ("uk office 020 7946 0958", ["phone"]),
    ("mobile +44 7700 900123", ["phone"]),
    ("the year 2026 had 365 days", []),
    ("extension 5550", []),
    ("OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123", ["secret"]),
    ("aws AKIAIOSFODNN7EXAMPLE", ["secret"]),
    ("-----BEGIN RSA PRIVATE KEY-----", ["secret"]),
    ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789", ["secret"]),
    ("skip the sk- prefix talk", []),
    ("meet at 10:30, room 4.2", []),
]


def test_detector_precision_and_recall_on_the_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    detectors = Detectors(BUILT_IN.values())
    hits: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    false: Counter[str] = Counter()
    for text, expected in CORPUS:
        found = Counter(one.kind for one in detectors.find(text))
        wanted = Counter(expected)
        for kind in found.keys() | wanted.keys():
            hits[kind] += min(found[kind], wanted[kind])
            misses[kind] += max(0, wanted[kind] - found[kind])
            false[kind] += max(0, found[kind] - wanted[kind])
    with capsys.disabled():
        print("\nPII detectors on the corpus:")
        for kind in BUILT_IN:
            found, true = hits[kind] + false[kind], hits[kind] + misses[kind]
            precision = hits[kind] / found if found else 1.0
            recall = hits[kind] / true if true else 1.0
            print(f"  {kind:13} precision {precision:.2f}  recall {recall:.2f}  ({hits[kind]} of {true})")
    assert not +misses and not +false, f"missed {dict(+misses)}, false positives {dict(+false)}"


def test_a_stream_holds_back_only_what_could_still_be_a_finding() -> None:
    detectors = Detectors([BUILT_IN["payment_card"], BUILT_IN["us_ssn"], BUILT_IN["email"]])
    counts: dict[str, int] = {}
    hold = Hold(detectors, counts)
    pieces = ["My card is 4111 ", "1111 1111", " 1111 and my ssn ", "123-45-", "6789", ". Mail bob", "@ex.com now."]
    sent = [hold.push(piece) for piece in pieces]
    assert sent[:2] == ["My card is ", ""], "the digit groups wait: they may still be a card"
    assert sent[2] == "[PAYMENT_CARD] and my ssn ", "sent once the card is over"
    assert sent[3:] == ["", "", "[US_SSN]. Mail ", "[EMAIL] "], "a run waits until it cannot grow"
    assert "".join(sent) + hold.flush() == "My card is [PAYMENT_CARD] and my ssn [US_SSN]. Mail [EMAIL] now."
    assert counts == {"payment_card": 1, "us_ssn": 1, "email": 1}
    custom = Detectors([BUILT_IN["email"], Detector("code", "[a-z ]{5,40}!", 40)])
    assert Hold(custom, {}).push("x " * 50) == "x " * 30, "a custom pattern may match anything: its span waits"


def test_masking_and_reject_on_both_apis() -> None:
    policies = PromptPolicies(pii_redaction=PiiRedaction())
    body: dict[str, Any] = {"messages": [{"role": "user", "content": [{"type": "text", "text": "I am bob@ex.com"}]}]}
    context = RequestContext(CLIENT_APIS["chat"], body, None)
    assert run_request(chain(scope_of(policies)).checked, context) is None
    assert body["messages"][0]["content"][0]["text"] == "I am [EMAIL]" and context.redacted == {"email": 1}
    assert len(context.answer_filters) == 1, "and the answer is filtered on the way back"
    claude = {"system": "Call 020 7946 0958", "messages": [{"role": "user", "content": "hi"}]}
    run_request(chain(scope_of(policies)).checked, RequestContext(CLIENT_APIS["messages"], claude, None))
    assert claude["system"] == "Call [PHONE]"

    rejecting = PromptPolicies(pii_redaction=PiiRedaction(mode="reject", direction="request"))
    sent = {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "ssn 123-45-6789"}]}
    refused = run_request(chain(scope_of(rejecting)).checked, RequestContext(CLIENT_APIS["chat"], sent, None))
    assert refused is not None and (refused.status, refused.code, refused.param) == (
        400,
        "pii_detected",
        "messages[1].content",
    )
    assert "us_ssn" in refused.message and "6789" not in refused.message, "the kinds, never the values"

    custom = PiiRedaction(detectors=[], custom=[PiiPattern(name="employee_id", pattern=r"\bEMP-[0-9]{6}\b")])
    embedded = {"input": ["EMP-123456 joined"]}
    run_request(
        chain(scope_of(PromptPolicies(pii_redaction=custom))).checked,
        RequestContext(CLIENT_APIS["embeddings"], embedded, None),
    )
    assert embedded["input"] == ["[EMPLOYEE_ID] joined"]
    with pytest.raises(ValidationError, match="must not repeat a detector"):
        PiiRedaction(detectors=["email", "email"])
    with pytest.raises(ValidationError, match="linear-time"):
        PiiPattern(name="x", pattern=r"(?=a)b")


CARD = "my card is 4111 1111 1111 1111 thanks"


def _gateway(start_gateway: Callable, mock: str, kind: str, redaction: PiiRedaction) -> tuple[Any, str]:
    gateway = start_gateway()
    with gateway.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="llm", type=kind, base_url=mock))
        policies = RoutePolicies(key_auth=KeyAuth(), pii_redaction=redaction)
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream="llm", policies=policies))
        admin.consumers.create(Consumer(name="alice"))
        key = admin.api_keys.create(ApiKeyCreate(name="alice-key", consumer="alice")).key
    return gateway, key


def sent(mock: str) -> Any:
    return httpx.get(f"{mock.split('/v1')[0]}/_mock/last-request").json()["body"]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_the_openai_sdk_gets_answers_masked(kind: str, start_gateway: Callable, start_mock: Callable) -> None:
    mock = start_mock("--provider", kind, "--chunks", "7")  # the card arrives split over several events
    gateway, key = _gateway(start_gateway, mock, kind, PiiRedaction(direction="response"))
    client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)
    echo: list[Any] = [{"role": "user", "content": f"mock:echo {CARD}"}]
    reply = client.chat.completions.create(model="m", messages=echo)
    assert reply.choices[0].message.content == "my card is [PAYMENT_CARD] thanks"
    assert CARD in str(sent(mock)), "direction response: the request went as it was"
    streamed = client.chat.completions.create(model="m", messages=echo, stream=True)
    texts = [c.choices[0].delta.content or "" for c in streamed if c.choices]
    assert "".join(texts) == "my card is [PAYMENT_CARD] thanks" and len([t for t in texts if t]) >= 2


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_the_anthropic_sdk_both_ways(kind: str, start_gateway: Callable, start_mock: Callable) -> None:
    mock = start_mock("--provider", kind, "--chunks", "7")
    gateway, key = _gateway(start_gateway, mock, kind, PiiRedaction())
    client = anthropic.Anthropic(base_url=gateway.proxy_url, api_key=key, max_retries=0)
    ask: list[Any] = [{"role": "user", "content": "mock:echo mail bob@example.com, card 4111 1111 1111 1111"}]
    answer = client.messages.create(model="m", max_tokens=64, system="Agent 020 7946 0958", messages=ask)
    upstream = str(sent(mock))
    assert "bob@example.com" not in upstream and "[EMAIL]" in upstream and "[PHONE]" in upstream
    assert answer.content[0].text == "mail [EMAIL], card [PAYMENT_CARD]"  # type: ignore[union-attr]
    with client.messages.stream(model="m", max_tokens=64, messages=ask) as stream:
        assert "".join(stream.text_stream) == "mail [EMAIL], card [PAYMENT_CARD]"


def test_reject_mode_through_the_gateway(start_gateway: Callable, mock_llm: str) -> None:
    gateway, key = _gateway(start_gateway, mock_llm, "openai", PiiRedaction(mode="reject"))
    client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": CARD}])
    assert refused.value.code == "pii_detected" and refused.value.param == "messages[0].content"
    assert "payment_card" in refused.value.message and "4111" not in refused.value.message
