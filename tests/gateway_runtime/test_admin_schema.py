"""A hostile sweep of the admin API against its own OpenAPI document, through a real `lockgate serve`.

schemathesis generates requests from the live `/openapi.json` (boundary values, then random valid and invalid ones)
and checks every answer: no 5xx, only documented status codes, content types and bodies, no schema-valid request
refused for its shape, and an `Allow` that lists exactly the documented methods on every 405. A schema-valid
request may still be refused for what it means (a reference to an entity that does not exist, a body whose `name`
is not the URL's, an `env:` secret that is not set): that is accepted only when the status is documented for the
operation and the request model itself accepts the body, so any gap between the document and the models fails.
Every finding is collected, so one run reports them all.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import httpx
import lockgate.sdk as sdk
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from lockgate.sdk import ApiKeyCreate, Consumer, ConsumerGroup, LlmUpstream, Route
from lockgate.sdk._base import NAME_PATTERN, whole_numbers_as_int
from pydantic import ValidationError
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
)

if TYPE_CHECKING:
    from tests.conftest import Gateway

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    positive_data_acceptance,
]
SEEDED = ("chat", "gold")  # the Name examples in the document, so generated paths hit existing entities too
FUZZ_EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}
COVERAGE_CASES = 60  # per operation and mode
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE")
# texts whose validity JSON Schema cannot state (the descriptions do): a pattern RE2 can run, a JSON Schema, a
# jinja2 template the sandbox allows, JSON text
CONTENT_CHECKS = (
    "linear-time pattern engine (RE2)",
    "body_schema ",
    "the template ",
    "error_template: the body",
    "is not JSON",
)
SEMANTIC = frozenset({400, 405, 409, 422})  # refusals of schema-valid requests for what they mean, if documented


@dataclass(frozen=True)
class Finding:
    """One kind of failure on one operation; `example` is the first request that showed it."""

    operation: str
    check: str
    status: int | None
    kind: str
    example: str = field(compare=False, hash=False)

    def __str__(self) -> str:
        return f"{self.operation}: {self.check} [{self.status}] {self.kind}\n    e.g. {self.example[:300]}"


def seed(gateway: Gateway, mock_llm: str) -> None:
    with gateway.admin() as admin:
        for name in SEEDED:
            admin.upstreams.create(LlmUpstream(name=name, base_url=mock_llm))
            admin.consumer_groups.create(ConsumerGroup(name=name))
            admin.consumers.create(Consumer(name=name, groups=[name]))
            admin.api_keys.create(ApiKeyCreate(name=name, consumer=name))
        admin.routes.create(Route(name="chat", paths=["/chat"], upstream="chat"))


@contextmanager
def gateway_of(gateway: Gateway, mock_llm: str) -> Iterator[str]:
    """The seeded entities as a declarative config file's text (JSON), from a gateway with a store."""
    seed(gateway, mock_llm)
    with httpx.Client(base_url=gateway.admin_url, headers={"Authorization": f"Bearer {gateway.token}"}) as http:
        yield http.get("/config").text
    gateway.process.terminate()
    gateway.process.wait(10)


@schemathesis.serializer("application/jsonl")
def _json_lines(context: Any, value: Any) -> bytes:
    """A consumer batch's body: the generated row as one line (a list of rows, one per line)."""
    rows = value if isinstance(value, list) else [value]
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def request_model(operation: Any) -> type[Any] | None:
    """The SDK model the operation's body is validated with (the document names it by its class name); for JSON
    Lines, the model of each line."""
    content = operation.definition.raw.get("requestBody", {}).get("content", {})
    body = content.get("application/json") or content.get("application/jsonl") or {}
    ref = body.get("schema", {}).get("$ref", "")
    model = getattr(sdk, ref.rpartition("/")[2], None) if ref else None
    return model if isinstance(model, type) else None


def documented_statuses(operation: Any) -> set[int]:
    return {int(code) for code in operation.definition.raw["responses"] if code.isdigit()}


def model_rejects(operation: Any, case: Any) -> str | None:
    """Why the request model (or the Name pattern, for a path `name`) refuses what the document calls valid."""
    name = (case.path_parameters or {}).get("name")
    if name is not None and not re.fullmatch(NAME_PATTERN, unquote(str(name))):
        return "path parameter name does not match the Name pattern"
    model = request_model(operation)
    if model is None or case.body is None:
        return None
    try:
        model.model_validate(whole_numbers_as_int(model, case.body))  # what the admin API does with a body
    except ValidationError as exc:
        error = exc.errors()[0]
        if any(check in error["msg"] for check in CONTENT_CHECKS):
            return None  # e.g. a pattern RE2 cannot run: JSON Schema cannot say which those are
        return f"{model.__name__} rejects {'.'.join(map(str, error['loc'])) or 'the body'}: {error['type']}"
    return None


def judge(operation: Any, case: Any, failures: list[Failure], status: int | None) -> Iterator[Finding]:
    example = f"{case.method} {case.formatted_path} {case.body!r}"[:300] if case.body is not None else case.path
    for failure in failures:
        check = type(failure).__name__
        if check == "RejectedPositiveData" and status in SEMANTIC & documented_statuses(operation):
            reason = model_rejects(operation, case)
            if reason is None:
                continue  # refused for what it means, with a documented status
            kind = reason
        else:
            kind = failure.title
            example = f"{example} -> {failure.message.strip().splitlines()[0] if failure.message else ''}"
        yield Finding(operation.label, check, status, kind, example)


def call(operation: Any, case: Any, token: str, found: set[Finding]) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    try:
        response = case.call(headers=headers, timeout=10)
    except Exception as exc:  # a connection the server dropped is a finding too
        found.add(Finding(operation.label, "transport", None, type(exc).__name__, repr(exc)[:300]))
        return
    if response.status_code == 405:  # the gateway's mode refuses a documented method: Allow says what it takes
        allow = ", ".join(response.headers["allow"]) if "allow" in response.headers else None
        allowed = {m.strip() for m in (allow or "").split(",") if m.strip()}
        documented = {m.upper() for m in operation.schema[operation.path]}
        if allow is None or case.method in allowed or not allowed <= documented:
            found.add(Finding(operation.label, "allow_header", 405, "Allow missing or wrong", f"Allow: {allow!r}"))
    try:
        case.validate_response(response, checks=CHECKS, headers=headers)
    except FailureGroup as group:
        found.update(judge(operation, case, list(group.exceptions), response.status_code))
    except Failure as failure:
        found.update(judge(operation, case, [failure], response.status_code))


def fuzz(operation: Any, mode: GenerationMode, token: str, found: set[Finding]) -> None:
    strategy = operation.as_strategy(generation_mode=mode)
    if "{name}" in operation.path:  # half the time, an entity that exists
        by_name = st.sampled_from(SEEDED).flatmap(
            lambda name: operation.as_strategy(generation_mode=mode, path_parameters={"name": name})
        )
        strategy = st.one_of(strategy, by_name)

    @given(strategy)
    @settings(
        max_examples=FUZZ_EXAMPLES[mode],
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        call(operation, case, token, found)

    try:
        run()
    except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label


def coverage(schema: Any, operation: Any, token: str, found: set[Finding]) -> None:
    cases = schema.iter_coverage_cases(
        operation,
        generation_modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        generation_config=schema.config.generation_for(operation=operation, phase="coverage"),
    )
    for case in islice(cases, 2 * COVERAGE_CASES):
        call(operation, case, token, found)


def allow_headers(document: dict[str, Any], http: httpx.Client) -> Iterator[Finding]:
    """Every method a path does not document gets a 405 with the error body and an Allow naming the documented ones."""
    for template, operations in document["paths"].items():
        path = template.replace("{name}", SEEDED[0])
        documented = sorted(m.upper() for m in operations)
        for method in sorted(set(METHODS) - set(documented)):
            response = http.request(method, path)
            label = f"{method} {template}"
            if response.status_code != 405:
                yield Finding(label, "allow_header", response.status_code, "expected 405", response.text)
            elif response.headers.get("allow") != ", ".join(documented):
                yield Finding(
                    label,
                    "allow_header",
                    405,
                    "Allow does not list the documented methods",
                    f"Allow: {response.headers.get('allow')!r}, documented {documented}",
                )
            elif method != "HEAD" and set(response.json()) != {"error"}:
                yield Finding(label, "allow_header", 405, "not an error body", response.text)


@pytest.mark.parametrize("served_from", ["store", "file"])
def test_admin_api_conforms_to_its_openapi_document(
    start_gateway: Callable[..., Gateway], mock_llm: str, tmp_path: Path, served_from: str
) -> None:
    """Store: every change is tried. File (DB-less): every change is refused (405), reads and reload answer."""
    if served_from == "store":
        gateway = start_gateway()
        seed(gateway, mock_llm)
    else:
        with gateway_of(start_gateway(data_dir=tmp_path / "seed"), mock_llm) as config:
            (tmp_path / "gateway.json").write_text(config)
        gateway = start_gateway(config=tmp_path / "gateway.json", data_dir=tmp_path / "db-less")
    schema = schemathesis.openapi.from_url(f"{gateway.admin_url}/openapi.json")
    found: set[Finding] = set()
    with httpx.Client(base_url=gateway.admin_url, headers={"Authorization": f"Bearer {gateway.token}"}) as http:
        document = http.get("/openapi.json").json()
        found.update(allow_headers(document, http))
    for result in schema.get_all_operations():
        operation = result.ok()
        coverage(schema, operation, gateway.token, found)
        for mode in FUZZ_EXAMPLES:
            fuzz(operation, mode, gateway.token, found)
    report = sorted(found, key=lambda f: (f.check, f.operation, str(f.status), f.kind))
    counts = Counter(f.check for f in report)
    assert not report, f"{len(report)} finding(s) {dict(counts)}:\n" + "\n".join(map(str, report))
