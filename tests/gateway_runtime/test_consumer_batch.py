"""Consumer batches and ownership through a real `lockgate serve`: the SDK's `consumers.apply` (sync and async), the
proxy answering the keys it made (the official OpenAI SDK), and `--workers 2` receiving every change as a delta."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from lockgate.sdk import (
    AdminClient,
    ApiKeyCreate,
    AsyncAdminClient,
    BadRequest,
    Conflict,
    Consumer,
    ConsumerGroup,
    ConsumerRow,
    KeyAuth,
    KeyRow,
    LlmUpstream,
    Route,
    RoutePolicies,
)

PIPELINE = "pipeline:billing"
OTHER = "pipeline:crm"


def setup(gateway: Any, mock_llm: str) -> None:
    """Declared by Terraform: an upstream, a keyed route, two groups; and one Terraform-owned consumer."""
    with AdminClient(gateway.admin_url, gateway.token, owner="terraform") as admin:
        admin.upstreams.create(LlmUpstream(name="mock", base_url=mock_llm, model="mock-1"))
        admin.routes.create(
            Route(name="chat", paths=["/v1"], upstream="mock", policies=RoutePolicies(key_auth=KeyAuth()))
        )
        admin.consumer_groups.create(ConsumerGroup(name="gold"))
        admin.consumer_groups.create(ConsumerGroup(name="free"))
        admin.consumers.create(Consumer(name="tf-alice", groups=["gold"]))


def rows(count: int, prefix: str = "cust", groups: tuple[str, ...] = ("gold",)) -> list[ConsumerRow]:
    return [
        ConsumerRow(name=f"{prefix}-{i}", groups=list(groups), keys=[KeyRow(name=f"{prefix}-{i}-key")])
        for i in range(count)
    ]


def status_with(proxy_url: str, key: str) -> int:
    """A fresh connection each time: with --workers, each may land on another worker."""
    with httpx.Client() as http:
        return http.get(f"{proxy_url}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code


def eventually(check: Callable[[], bool], within_s: float = 1.0) -> float:
    """Seconds until `check` held (it must within `within_s`)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < within_s, f"not true within {within_s}s"
        time.sleep(0.02)
    return time.monotonic() - started


def test_batch_applies_all_or_nothing_and_owns_what_it_made(start_gateway: Callable[..., Any], mock_llm: str) -> None:
    gateway = start_gateway()
    setup(gateway, mock_llm)
    with AdminClient(gateway.admin_url, gateway.token) as admin:
        created = admin.consumers.apply(rows(10_000), owner=PIPELINE)
        assert (created.created, created.updated, created.unchanged, created.generated) == (10_000, 0, 0, 10_000)
        assert len({k.key for k in created.keys}) == 10_000 and created.examples.created[0] == "cust-0"
        keys = {k.consumer: k.key for k in created.keys}
        client = openai.OpenAI(base_url=f"{gateway.proxy_url}/v1", api_key=keys["cust-4321"], max_retries=0)
        reply = client.chat.completions.create(model="any", messages=[{"role": "user", "content": "hi"}])
        assert reply.choices[0].message.content
        assert admin.consumers.get("cust-4321").owner == PIPELINE
        assert admin.api_keys.get("cust-4321-key").owner == PIPELINE
        assert admin.consumers.get("tf-alice").owner == "terraform"

        again = admin.consumers.apply(rows(10_000), owner=PIPELINE)  # idempotent: generated keys are kept
        assert (again.created, again.updated, again.unchanged, again.keys) == (0, 0, 10_000, [])
        assert status_with(gateway.proxy_url, keys["cust-0"]) == 200

        version = admin.status().config_version
        bad = rows(10_000, groups=("free",))
        bad[7000] = ConsumerRow(name="cust-7000", groups=["platinum"])
        with pytest.raises(BadRequest) as rejected:
            admin.consumers.apply(bad, owner=PIPELINE)
        assert rejected.value.field == ["rows", 7000, "groups", 0]
        assert "rows[7000].groups[0] (consumer 'cust-7000')" in rejected.value.message
        assert "'platinum' does not exist" in rejected.value.message and "nothing was applied" in rejected.value.message
        assert admin.status().config_version == version
        assert admin.consumers.get("cust-1").groups == ["gold"]  # the 6,999 good rows before it: not applied

        dry = admin.consumers.apply(rows(9_000), owner=PIPELINE, prune=True, dry_run=True)
        assert (dry.deleted, dry.unchanged, dry.dry_run) == (1_000, 9_000, True)
        assert admin.status().config_version == version and admin.consumers.get("cust-9999")

        # another owner's rows are refused, naming the owner; its prune leaves everyone else's alone
        with pytest.raises(BadRequest, match=r"'cust-0' is owned by 'pipeline:billing'.*and 4 more"):
            admin.consumers.apply(rows(5), owner=OTHER)
        with pytest.raises(BadRequest, match="'tf-alice' is owned by 'terraform'"):
            admin.consumers.apply([ConsumerRow(name="tf-alice")], owner=PIPELINE)
        mine = admin.consumers.apply(rows(3, prefix="crm"), owner=OTHER, prune=True)
        assert (mine.created, mine.deleted) == (3, 0)

        pruned = admin.consumers.apply(rows(9_000), owner=PIPELINE, prune=True)
        assert (pruned.deleted, pruned.unchanged) == (1_000, 9_000)
        assert pruned.examples.deleted[:2] == ["cust-9000", "cust-9001"]
        assert status_with(gateway.proxy_url, keys["cust-9500"]) == 401
        names = {c.name for c in admin.consumers.list()}
        assert {"tf-alice", "crm-0", "crm-2"} <= names and "cust-9500" not in names
        assert len(admin.consumers.list(owner=PIPELINE)) == 9_000

        # an export applied again changes nothing
        exported = admin.consumers.export(owner=PIPELINE)
        assert len(exported) == 9_000 and exported[0].keys == [KeyRow(name="cust-0-key")]
        assert admin.consumers.apply(exported, owner=PIPELINE).unchanged == 9_000


def test_single_writes_respect_owners_and_adopt_takes_over(start_gateway: Callable[..., Any], mock_llm: str) -> None:
    gateway = start_gateway()
    setup(gateway, mock_llm)
    with (
        AdminClient(gateway.admin_url, gateway.token, owner=PIPELINE) as pipeline,
        AdminClient(gateway.admin_url, gateway.token, owner="terraform") as terraform,
    ):
        pipeline.consumers.apply(rows(2), owner=PIPELINE)
        with pytest.raises(Conflict, match=r"'cust-0' is owned by 'pipeline:billing', not 'terraform'.*adopt"):
            terraform.consumers.delete("cust-0")
        with pytest.raises(Conflict, match="'tf-alice' is owned by 'terraform', not 'pipeline:billing'"):
            pipeline.consumers.update(Consumer(name="tf-alice", groups=["free"]))
        with pytest.raises(Conflict, match=r"already exists \(owner 'pipeline:billing'\)"):
            terraform.consumers.create(Consumer(name="cust-1"))
        adopted = terraform.consumers.adopt("cust-1")
        assert adopted.owner == "terraform" and terraform.api_keys.get("cust-1-key").owner == "terraform"
        terraform.consumers.update(Consumer(name="cust-1", groups=["free"]))
        # a later batch of the pipeline no longer sees it as its own
        with pytest.raises(BadRequest, match="'cust-1' is owned by 'terraform'"):
            pipeline.consumers.apply(rows(2), owner=PIPELINE)
    with AdminClient(gateway.admin_url, gateway.token) as operator:  # plain admin API calls may change anything
        operator.consumers.update(Consumer(name="cust-0", groups=["free"]))
        assert operator.consumers.get("cust-0").owner == PIPELINE  # and keep its owner


def test_keys_expire_and_rotate(start_gateway: Callable[..., Any], mock_llm: str) -> None:
    gateway = start_gateway()
    setup(gateway, mock_llm)
    old_key, new_key = "old-key-0123456789abcdef", "new-key-0123456789abcdef"
    sha = {k: hashlib.sha256(k.encode()).hexdigest() for k in (old_key, new_key)}
    with AdminClient(gateway.admin_url, gateway.token) as admin:
        expired = admin.api_keys.create(
            ApiKeyCreate(name="exp", consumer="tf-alice", expires_at="2020-01-01T00:00:00Z")
        )
        later = admin.api_keys.create(
            ApiKeyCreate(name="later", consumer="tf-alice", expires_at="2999-01-01T00:00:00+02:00")
        )
        assert admin.api_keys.get("later").expires_at == "2999-01-01T00:00:00+02:00"
        answer = httpx.get(f"{gateway.proxy_url}/v1/models", headers={"Authorization": f"Bearer {expired.key}"})
        assert answer.status_code == 401 and answer.json()["error"]["code"] == "expired_api_key"
        assert "stopped working at 2020-01-01T00:00:00Z" in answer.json()["error"]["message"]
        assert status_with(gateway.proxy_url, later.key) == 200
        with pytest.raises(BadRequest, match=r"expires_at: .*RFC 3339 time with an offset"):
            admin.api_keys.create(ApiKeyCreate.model_construct(name="x", consumer="tf-alice", expires_at="2027-01-01"))

        # rotation without downtime: old, then old and new, then new only
        rotate = [KeyRow(name="r-old", key_sha256=sha[old_key])]
        admin.consumers.apply([ConsumerRow(name="rot", keys=rotate)], owner=PIPELINE)
        assert status_with(gateway.proxy_url, old_key) == 200
        both = admin.consumers.apply(
            [ConsumerRow(name="rot", keys=[*rotate, KeyRow(name="r-new", key_sha256=sha[new_key])])], owner=PIPELINE
        )
        assert both.updated == 1 and both.generated == 0
        assert status_with(gateway.proxy_url, old_key) == status_with(gateway.proxy_url, new_key) == 200
        admin.consumers.apply(
            [ConsumerRow(name="rot", keys=[KeyRow(name="r-new", key_sha256=sha[new_key])])], owner=PIPELINE
        )
        assert status_with(gateway.proxy_url, old_key) == 401
        assert status_with(gateway.proxy_url, new_key) == 200
        with pytest.raises(BadRequest, match="already in use by another API key"):
            admin.consumers.apply(
                [ConsumerRow(name="thief", keys=[KeyRow(name="t", key_sha256=sha[new_key])])], owner=OTHER
            )


def test_every_worker_gets_each_change_within_a_second(start_gateway: Callable[..., Any], mock_llm: str) -> None:
    gateway = start_gateway(workers=2)
    setup(gateway, mock_llm)
    with AdminClient(gateway.admin_url, gateway.token) as admin:
        keys = {k.consumer: k.key for k in admin.consumers.apply(rows(1_000), owner=PIPELINE).keys}
        eventually(lambda: all(status_with(gateway.proxy_url, keys["cust-7"]) == 200 for _ in range(12)))
        admin.consumers.apply([r for r in rows(1_000) if r.name != "cust-7"], owner=PIPELINE, prune=True)
        eventually(lambda: all(status_with(gateway.proxy_url, keys["cust-7"]) == 401 for _ in range(12)))
        admin.api_keys.delete("cust-8-key")
        eventually(lambda: all(status_with(gateway.proxy_url, keys["cust-8"]) == 401 for _ in range(12)))
        assert all(status_with(gateway.proxy_url, keys["cust-9"]) == 200 for _ in range(12))
        # a full recompile (a route change) in between: the workers keep the keys, and get later deltas too
        admin.routes.update(
            Route(name="chat", paths=["/v1", "/v2"], upstream="mock", policies=RoutePolicies(key_auth=KeyAuth()))
        )
        admin.api_keys.delete("cust-9-key")
        eventually(lambda: all(status_with(gateway.proxy_url, keys["cust-9"]) == 401 for _ in range(12)))
        assert all(status_with(gateway.proxy_url, keys["cust-10"]) == 200 for _ in range(12))


def test_async_client_applies_and_state_survives_a_restart(
    start_gateway: Callable[..., Any], mock_llm: str, tmp_path: Any
) -> None:
    gateway = start_gateway()
    setup(gateway, mock_llm)

    async def apply() -> Any:
        async with AsyncAdminClient(gateway.admin_url, gateway.token) as admin:
            seen: list[int] = []
            result = await admin.consumers.apply(rows(2_500), owner=PIPELINE, progress=seen.append)
            return result, seen, await admin.consumers.export(owner=PIPELINE)

    result, progress, exported = asyncio.run(apply())
    assert result.created == 2_500 and progress == [1000, 2000, 2500] and len(exported) == 2_500
    with gateway.admin() as admin:
        version = admin.status().config_version
    gateway.process.terminate()
    gateway.process.wait(10)
    restarted = start_gateway(data_dir=gateway.data_dir)
    with restarted.admin() as admin:
        assert admin.status().config_version > version  # versions only grow, across restarts
        assert admin.consumers.get("cust-5").owner == PIPELINE
    assert status_with(restarted.proxy_url, result.keys[5].key) == 200


def test_batch_bodies_are_bounded_and_errors_name_the_line(start_gateway: Callable[..., Any], mock_llm: str) -> None:
    gateway = start_gateway()
    setup(gateway, mock_llm)
    headers = {"Authorization": f"Bearer {gateway.token}", "Lockgate-Owner": PIPELINE}
    with httpx.Client(base_url=gateway.admin_url, headers=headers) as http:
        answer = http.post("/consumer-batches", content=b'{"name": "a"}\n\nnot json\n{"name": "B"}\n')
        assert answer.status_code == 422
        error = answer.json()["error"]
        assert error["field"] == ["rows", 1] and "rows[1]: is not a JSON object" in error["message"]
        assert "(and 1 more problem(s))" in error["message"]
        answer = http.post("/consumer-batches", content=b'{"name": "' + b"a" * 70_000 + b'"}\n')
        assert answer.status_code == 413 and "longer than 65536 bytes" in answer.json()["error"]["message"]
        answer = http.post("/consumer-batches", content=b'{"name": "a"}', headers={"Lockgate-Owner": "root"})
        assert answer.status_code == 422 and answer.json()["error"]["field"] == ["header", "Lockgate-Owner"]
        assert http.get("/consumers", params={"owner": PIPELINE}).json() == {"data": []}
