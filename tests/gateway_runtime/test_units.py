"""Unit tests of the data plane's building blocks: router, SSE tee, limiter, key extraction, usage."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lockgate.gateway_runtime.control.store import Store
from lockgate.gateway_runtime.control.usage_drain import AddedUp, drain
from lockgate.gateway_runtime.data.budgets import MONTH, Budget, BudgetTable, Refusal
from lockgate.gateway_runtime.data.limits import FixedWindowLimiter, Limit
from lockgate.gateway_runtime.data.policies.key_auth import presented_key
from lockgate.gateway_runtime.data.prices import PriceTable
from lockgate.gateway_runtime.data.providers.openai import OpenAiTee, openai_usage
from lockgate.gateway_runtime.data.router import Router
from lockgate.gateway_runtime.data.shared_limits import SharedWindowLimiter
from lockgate.gateway_runtime.data.usage import Tokens
from lockgate.gateway_runtime.data.usage_log import UsageLog
from lockgate.sdk import ModelPrice


def test_router_longest_match_on_segment_boundaries() -> None:
    router = Router([("/v1", "a"), ("/v1/team", "b"), ("~/teams/[a-z]+/v1", "c"), ("/", "root")])
    match = router.match("/v1/chat/completions")
    assert match is not None and (match.route, match.operation) == ("a", "chat")
    match = router.match("/v1/team/models")
    assert match is not None and (match.route, match.operation) == ("b", "models")
    match = router.match("/teams/red/v1/chat/completions")
    assert match is not None and (match.route, match.operation) == ("c", "chat")
    match = router.match("/v10/chat/completions")
    assert match is not None and match.route == "root" and match.operation is None
    assert Router([("/v1", "a")]).match("/v2/models") is None


def test_sse_tee_relays_whole_events_and_reads_usage_across_chunk_boundaries() -> None:
    stream = (
        b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":5,"total_tokens":8}}\n\n'
        b"data: [DONE]\n\n"
    )
    tee = OpenAiTee("u", hide_usage=True)
    out = b"".join(tee.feed(stream[i : i + 7]) for i in range(0, len(stream), 7))
    assert out == b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n'
    assert tee.tokens == Tokens(3, 5, 8) and tee.done
    shown = OpenAiTee("u", hide_usage=False)
    assert shown.feed(stream) == stream


def test_sse_tee_handles_crlf_and_incomplete_streams() -> None:
    tee = OpenAiTee("u", hide_usage=False)
    assert tee.feed(b"data: {}\r\n\r\ndata: {") == b"data: {}\r\n\r\n"
    assert not tee.done


def test_fixed_window_limiter() -> None:
    limiter = FixedWindowLimiter()
    limit = Limit("free", 2, 60)
    assert limiter.hit("alice", limit, now=120.0).remaining == 1
    assert limiter.hit("alice", limit, now=121.0).allowed
    blocked = limiter.hit("alice", limit, now=150.5)
    assert not blocked.allowed and blocked.retry_after_s == 30
    assert limiter.hit("bob", limit, now=150.5).allowed  # per consumer
    assert limiter.hit("alice", limit, now=180.0).allowed  # next window


def test_presented_key_sources() -> None:
    assert presented_key({"Authorization": "Bearer k1"}) == "k1"
    assert presented_key({"x-api-key": "k2"}) == "k2"
    assert presented_key({"apikey": "k3"}) == "k3"
    assert presented_key({"Authorization": "Basic abc"}) is None
    assert presented_key({}) is None


def test_usage_logs_add_up_exactly_once_and_finished_files_go(tmp_path: Path) -> None:
    store = Store(tmp_path / "lockgate.db")
    log = UsageLog(tmp_path, segment_bytes=200)  # a new file every two records or so
    for index in range(5):
        log.record(
            "alice", "chat", "m", index % 2 == 1, 200, openai_usage({"prompt_tokens": 2, "total_tokens": 5}, "u")
        )
    log.record("bob", "chat", "m", False, 502, openai_usage(None, "u"))
    dead = UsageLog(tmp_path)  # a writer that exited: its file stays until it is added up
    dead.record("carol", "chat", "m", False, 200, Tokens(1, 1, 2))
    dead.close()
    # ... even though its name's PID is alive (reused, as in a container): only a held lock keeps a file
    (tmp_path / "usage" / f"{dead._writer}.000000.log").rename(tmp_path / "usage" / f"{os.getpid()}-old.000000.log")
    drain(tmp_path, store)
    drain(tmp_path, store)  # nothing new: nothing counted twice
    assert store.usage("alice")[0] == (5, 10, 0, 25, 0, 0, 0, 0)
    assert store.usage("bob")[0] == (1, 0, 0, 0, 0, 0, 0, 0)
    assert store.usage("carol")[0] == (1, 1, 1, 2, 0, 0, 0, 0)
    assert [r[3] for r in store.usage("alice")[1]] == [0, 1, 0, 1, 0]  # (at, route, model, stream, ...)
    remaining = sorted(p.name for p in (tmp_path / "usage").iterdir())
    assert remaining == [f"{log._writer}.{log._sequence:06d}.log"]  # only the live writer's current file stays
    log.close()
    store.close()


def test_shared_limiter_counts_across_instances_like_workers(tmp_path: Path) -> None:
    first, second = SharedWindowLimiter(tmp_path / "l.shm"), SharedWindowLimiter(tmp_path / "l.shm")
    limit = Limit("free", 3, 60)
    verdicts = [limiter.hit("alice", limit, now=60.0) for limiter in (first, second, first, second)]
    assert [v.allowed for v in verdicts] == [True, True, True, False] and verdicts[3].retry_after_s == 60
    assert second.hit("bob", limit, now=60.0).allowed
    assert first.hit("alice", limit, now=120.0).allowed  # next window
    tiny = SharedWindowLimiter(tmp_path / "tiny.shm", slots=2)
    assert all(tiny.hit(name, limit, now=60.0).allowed for name in ("a", "b", "c"))  # full table fails open
    for limiter in (first, second, tiny):
        limiter.close()


def test_usage_store_adds_deltas_from_several_processes(tmp_path: Path) -> None:
    store = Store(tmp_path / "db")
    first = AddedUp()
    first.lines(b'["alice", 1.0, "chat", "m", false, 200, 2, 3, 5, 1, 0, false, 7]\n', "a.log")
    store.add_usage(first.totals(), first.buckets(), first.recent(), {"a.log": 10}, {})
    other = Store(tmp_path / "db")
    second = AddedUp()
    second.lines(b'["alice", 2.0, "chat", "m", true, 200, 1, 1, 2, 0, 1, true, 3]\n', "b.log")
    other.add_usage(second.totals(), second.buckets(), second.recent(), {"b.log": 20}, {})
    # a drain that read a.log from 0 while another one added it up to 10 adds nothing (no double count)
    assert not other.add_usage(first.totals(), first.buckets(), [], {"a.log": 10}, {})
    totals, recent = store.usage("alice")
    assert totals == (2, 3, 4, 7, 1, 1, 10, 1) and [r[0] for r in recent] == [1.0, 2.0]
    assert [r[-2:] for r in recent] == [(0, 7), (1, 3)]  # (estimated, cost_micros)
    assert store.usage("nobody") == ((0,) * 8, [])
    assert store.usage_offsets() == {"a.log": 10, "b.log": 20}
    by_model = store.usage_report(("model",), None, 0, 7200, {})
    assert by_model == [("m", 2, 3, 4, 7, 1, 1, 10, 1)]
    assert store.usage_report(("consumer",), 3600, 3600, 7200, {}) == [], "outside the hours asked"


def test_usage_logs_and_stores_from_before_cached_tokens_and_cost_still_count(tmp_path: Path) -> None:
    import sqlite3

    old = sqlite3.connect(tmp_path / "old.db")
    old.executescript(
        "CREATE TABLE usage_totals (consumer TEXT PRIMARY KEY, requests INTEGER, prompt_tokens INTEGER, "
        "completion_tokens INTEGER, total_tokens INTEGER); INSERT INTO usage_totals VALUES ('alice', 4, 8, 8, 16);"
    )
    old.close()
    store = Store(tmp_path / "old.db")
    added = AddedUp()
    added.lines(b'["alice", 10.0, "chat", "m", false, 200, 2, 3, 5]\n["alice", "bad"]\n', "old.log")
    store.add_usage(added.totals(), added.buckets(), added.recent(), {"old.log": 40}, {})
    assert store.usage("alice")[0] == (5, 10, 11, 21, 0, 0, 0, 0), "the old totals, plus the old-format line"


def test_prices_by_model_and_prefix_in_integer_micro_usd() -> None:
    table = PriceTable([ModelPrice(model="house-model", input=0.5, output=1.25)])
    tokens = Tokens(prompt=1_000_000, completion=1_000_000, total=2_000_000, cached=400_000)
    # gpt-4o: 600k uncached at 2.50, 400k cached at 1.25, 1M out at 10.00 -> 1.5 + 0.5 + 10 USD
    assert table.cost_micros("gpt-4o-2024-08-06", tokens) == 12_000_000
    assert table.cost_micros("anthropic.claude-3-5-sonnet-20240620-v1:0", Tokens(1000, 100, 1100)) == 4_500
    assert table.cost_micros("house-model", Tokens(3, 0, 3)) == 2, "1.5 micro-USD rounds to 2, never a float"
    assert table.cost_micros("no-such-model", tokens) == 0
    assert PriceTable([ModelPrice(model="gpt-4o", input=1, output=1)]).cost_micros("gpt-4o", Tokens(10, 0, 10)) == 10


@pytest.mark.parametrize(
    ("raw", "tokens"),
    [
        ({"prompt_tokens": 2, "completion_tokens": 3}, Tokens(2, 3, 5)),
        ({"prompt_tokens": 2, "completion_tokens": 3, "total_tokens": 9}, Tokens(2, 3, 9)),
        ([1], Tokens()),
        ({"prompt_tokens": "x", "completion_tokens": 3}, Tokens(0, 3, 3)),
        ({"prompt_tokens": True, "completion_tokens": -1, "total_tokens": 1.5}, Tokens(0, 0, 0)),
        ("usage", Tokens()),
        ({"prompt_tokens": 2**63, "completion_tokens": 3}, Tokens(0, 3, 3)),  # no real count: SQLite would overflow
        (
            {"prompt_tokens": 9, "prompt_tokens_details": [1], "completion_tokens_details": {"reasoning_tokens": "x"}},
            Tokens(9, 0, 9),
        ),
        (
            {"prompt_tokens": 9, "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens": 3}
            | {"completion_tokens_details": {"reasoning_tokens": 2}},
            Tokens(9, 3, 12, 4, 2),
        ),
    ],
)
def test_usage_of_any_shape_is_read_without_raising(raw: object, tokens: Tokens) -> None:
    assert openai_usage(raw, "upstream") == tokens


def test_connection_gate_hands_slots_over_in_order_and_times_out() -> None:
    import asyncio

    from lockgate.gateway_runtime.data.upstream import ConnectionGate

    async def journey() -> None:
        gate = ConnectionGate("u", 1)
        assert gate.try_acquire() and not gate.try_acquire()
        order: list[str] = []

        async def wait(name: str, timeout: float) -> None:
            if await gate.acquire(timeout):
                order.append(name)

        first, second = asyncio.create_task(wait("first", 5)), asyncio.create_task(wait("second", 5))
        late = asyncio.create_task(wait("late", 0.05))
        await asyncio.sleep(0.1)
        assert late.done() and order == []  # timed out waiting, never got a slot
        gate.release()
        await asyncio.sleep(0)
        assert order == ["first"] and gate.in_use == 1  # the slot passed straight on
        gate.resize(2)
        await asyncio.gather(first, second)
        assert order == ["first", "second"] and gate.in_use == 2
        gate.release()
        gate.release()
        assert gate.in_use == 0 and gate.try_acquire()

    asyncio.run(journey())


def test_a_waiter_that_timed_out_is_skipped_when_a_slot_frees() -> None:
    import asyncio

    from lockgate.gateway_runtime.data.upstream import ConnectionGate

    async def journey() -> None:
        gate = ConnectionGate("u", 1)
        assert gate.try_acquire()
        assert not await gate.acquire(0.01)  # timed out: its future stays queued, cancelled
        gate.release()  # the slot skips the cancelled waiter instead of raising
        assert gate.in_use == 0 and gate.try_acquire()

    asyncio.run(journey())


def test_budgets_admit_estimates_all_or_none_and_settle_what_was_used(tmp_path: Path) -> None:
    minute = Budget("free", "tokens", 100, 60)
    dollars = Budget("free", "cost", 1_000, MONTH)
    table = BudgetTable(tmp_path / "b.shm")
    worker = BudgetTable(tmp_path / "b.shm")  # another worker process's view of the same file
    first = table.admit("alice", [(minute, 60), (dollars, 400)], now=120.0)
    assert isinstance(first, list) and [h.amount for h in first] == [60, 400]
    refused = worker.admit("alice", [(minute, 50), (dollars, 10)], now=121.0)
    assert isinstance(refused, Refusal) and (refused.used, refused.needed, refused.left) == (60, 50, 40)
    assert refused.reset_s == 59 and refused.headers()["x-ratelimit-remaining-tokens"] == "40"
    assert "10 tokens" not in refused.message("alice") and "100 tokens per minute (group 'free')" in refused.message(
        "alice"
    )
    assert isinstance(worker.admit("bob", [(minute, 50)], now=121.0), list), "per consumer"
    table.settle(first, tokens=20, cost_micros=100, now=122.0)  # answered: 20 used, the rest of 60 released
    again = worker.admit("alice", [(minute, 80), (dollars, 900)], now=123.0)
    assert isinstance(again, list), "20 used + 80 fits 100; 100 + 900 fits 1,000"
    assert isinstance(worker.admit("alice", [(minute, 1)], now=124.0), Refusal)
    assert isinstance(table.admit("alice", [(minute, 100)], now=180.0), list), "a new minute starts from zero"
    table.settle(again, tokens=90, cost_micros=900, now=181.0)  # admitted in the last minute: charged to this one
    assert isinstance(table.admit("alice", [(dollars, 1)], now=182.0), Refusal), "the month's budget is spent"
    assert (
        Budget("g", "cost", 1, MONTH).window(datetime(2026, 12, 31, 23, tzinfo=UTC).timestamp())[1]
        == datetime(2027, 1, 1, tzinfo=UTC).timestamp()
    )
    table.close()
    worker.close()
