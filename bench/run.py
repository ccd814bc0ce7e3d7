"""lockgate's data plane side by side with nginx and LiteLLM. `make bench` (full) or `make bench-quick`.

    python bench/run.py [--quick] [--skip-litellm] [--skip-iac] [--skip-consumers] [--skip-cluster]

Writes bench/results.json (one row per target x scenario), bench/consumer_results.json (bench/consumer_scale.py) and
bench/iac_results.json, and rewrites BENCHMARKS.md with bench/chart.png.
Gateways run pinned to CPU 0; wrk, the mock upstream and the TTFT client to CPU 1. Everything binds 127.0.0.1 and
every load run is bounded in time.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import full_chain
from gateway_config import bench_config
from load import body, concurrent_streams, ttft_ms, wrk
from report import FULL_CHAIN, TRANSLATED
from targets import REPO, Target, start_litellm, start_lockgate, start_mock, start_nginx

RESULTS = REPO / "bench" / "results.json"
LITELLM_BIN = REPO / ".bench" / "litellm" / "bin" / "litellm"


@dataclass
class Row:
    target: str
    scenario: str
    workers: int
    rps: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    added_p50_ms: float | None = None
    ttft_p50_ms: float | None = None
    rss_mb: float | None = None
    completion_rate: float | None = None
    errors: int | None = None
    ttft_p99_ms: float | None = None
    wall_s: float | None = None


@dataclass(frozen=True)
class Plan:
    seconds: float  # per throughput run
    latency_seconds: float
    ttft_streams: int
    slow_seconds: float  # for LiteLLM, which serves ~100 req/s
    streams: tuple[tuple[int, float], ...]  # (concurrent 5-second streams, seconds over which they arrive)


FULL = Plan(seconds=10, latency_seconds=8, ttft_streams=300, slow_seconds=10, streams=((1000, 2.0), (10_000, 10.0)))
QUICK = Plan(seconds=4, latency_seconds=3, ttft_streams=100, slow_seconds=4, streams=((1000, 2.0),))


def measure_streams(target: Target, plan: Plan, direct: dict[str, float]) -> list[Row]:
    """Thousands of concurrent slow streams (bench/streams.py): TTFT beside direct, completion, wall time, peak RSS."""
    rows = []
    for count, arrival_s in plan.streams:
        result, peak_rss = concurrent_streams(target, count, arrival_s)
        scenario = f"{count:,} slow streams"
        rows.append(
            Row(
                target.name,
                scenario,
                target.workers,
                ttft_p50_ms=result["ttft_p50_ms"],
                ttft_p99_ms=result["ttft_p99_ms"],
                added_p50_ms=_added(result["ttft_p50_ms"], direct.get(scenario)),
                completion_rate=round(result["completed"] / count, 4),
                wall_s=result["wall_s"],
                rss_mb=round(peak_rss, 1),
            )
        )
        direct.setdefault(scenario, result["ttft_p50_ms"])
    return rows


def measure(target: Target, plan: Plan, direct: dict[str, float], slow: bool = False) -> list[Row]:
    seconds = plan.slow_seconds if slow else plan.seconds
    rows: list[Row] = []
    url, auth = target.base_url, target.auth
    warm = wrk(url, auth, body("mock", False), 8, 1)  # connections, JIT-free warm-up of pools and caches
    del warm

    result = wrk(url, auth, body("mock", False), 32, seconds)
    rows.append(
        Row(
            target.name,
            "non-stream c=32",
            target.workers,
            result.rps,
            result.p50_ms,
            result.p99_ms,
            errors=result.errors,
        )
    )
    result = wrk(url, auth, body("mock", False), 1, plan.latency_seconds)
    rows.append(
        Row(
            target.name,
            "non-stream c=1",
            target.workers,
            result.rps,
            result.p50_ms,
            result.p99_ms,
            added_p50_ms=_added(result.p50_ms, direct.get("p50_c1")),
            errors=result.errors,
        )
    )
    result = wrk(url, auth, body("mock", True), 32, seconds)
    rows.append(
        Row(
            target.name,
            "SSE burst c=32",
            target.workers,
            result.rps,
            result.p50_ms,
            result.p99_ms,
            errors=result.errors,
        )
    )
    result = wrk(url, auth, body("paced", True), 128, seconds, count_done=True)
    rate = (result.completed or 0) / max(1, result.requests + result.errors)
    rows.append(
        Row(
            target.name,
            "paced SSE c=128",
            target.workers,
            result.rps,
            result.p50_ms,
            result.p99_ms,
            completion_rate=round(rate, 4),
            errors=result.errors,
        )
    )
    ttft = ttft_ms(url, auth, "mock", plan.ttft_streams if not slow else max(20, plan.ttft_streams // 5))
    rows.append(
        Row(target.name, "TTFT c=1", target.workers, ttft_p50_ms=ttft, added_p50_ms=_added(ttft, direct.get("ttft")))
    )
    rows.append(Row(target.name, "RSS after load", target.workers, rss_mb=round(target.worker_rss_mb(), 1)))
    return rows


def measure_route(target: Target, plan: Plan, direct: dict[str, float], name: str, prefix: str) -> list[Row]:
    """One worker, the OpenAI SDK's requests through another route: `/anthropic/v1` (translated both ways to an
    Anthropic-format upstream) or `/full/v1` (the whole policy chain)."""
    url = target.base_url.removesuffix("/v1") + prefix
    wrk(url, target.auth, body("mock", False), 8, 1)
    rows = []
    for scenario, stream in (("non-stream c=32", False), ("SSE burst c=32", True)):
        result = wrk(url, target.auth, body("mock", stream), 32, plan.seconds)
        rows.append(Row(name, scenario, 1, result.rps, result.p50_ms, result.p99_ms, errors=result.errors))
    ttft = ttft_ms(url, target.auth, "mock", plan.ttft_streams)
    rows.append(Row(name, "TTFT c=1", 1, ttft_p50_ms=ttft, added_p50_ms=_added(ttft, direct.get("ttft"))))
    return rows


def _added(value: float, baseline: float | None) -> float | None:
    return None if baseline is None else round(value - baseline, 3)


def run(plan: Plan, skip_litellm: bool, workers: list[int]) -> list[Row]:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp:
        work = Path(tmp)
        mock = start_mock(work)
        started: list[Target] = [mock]
        try:
            direct_rows = measure(mock, plan, {})
            rows += direct_rows
            direct = {"p50_c1": direct_rows[1].p50_ms or 0.0, "ttft": direct_rows[4].ttft_p50_ms or 0.0}
            for row in rows:
                row.added_p50_ms = 0.0 if row.scenario in ("non-stream c=1", "TTFT c=1") else None
            rows += measure_streams(mock, plan, direct)
            config = work / "gateway.json"
            config.write_text(bench_config(mock.base_url).model_dump_json())

            def one(start: object, slow: bool = False, streams: bool = False) -> None:
                target = start()  # type: ignore[operator]
                started.append(target)
                print(f"  measuring {target.name} ...", flush=True)
                rows.extend(measure(target, plan, direct, slow))
                if streams:
                    rows.extend(measure_streams(target, plan, direct))
                target.stop()

            one(lambda: start_nginx(work, mock))
            for count in workers:
                one(lambda count=count: start_lockgate(work, mock, count, config), streams=count == 1)
            routes = start_lockgate(work, mock, 1, config)
            started.append(routes)
            print("  measuring lockgate, OpenAI in and Anthropic out; the full policy chain ...", flush=True)
            rows.extend(measure_route(routes, plan, direct, TRANSLATED, "/anthropic/v1"))
            rows.extend(measure_route(routes, plan, direct, FULL_CHAIN, "/full/v1"))
            routes.stop()
            print("  the full chain and the relay, interleaved ...", flush=True)
            full_chain.measure(*((3, 2) if plan is QUICK else (6, 4)))
            if not skip_litellm:
                one(lambda: start_litellm(work, mock, LITELLM_BIN), slow=True)
        finally:
            for target in started:
                target.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter runs (about 3 minutes in all)")
    parser.add_argument("--skip-litellm", action="store_true")
    parser.add_argument("--skip-iac", action="store_true", help="skip the Terraform scale scenario")
    parser.add_argument("--skip-consumers", action="store_true", help="skip the consumer-scale scenario")
    parser.add_argument("--skip-cluster", action="store_true", help="skip the containers scenario (needs Docker)")
    parser.add_argument("--workers", default="1,2", help="lockgate worker counts to run (default 1,2)")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    rows = run(plan, args.skip_litellm, [int(w) for w in args.workers.split(",")])
    consumers: list[dict[str, object]] | None = None
    if not args.skip_consumers:
        from consumer_scale import RESULTS as CONSUMER_RESULTS
        from consumer_scale import measure_consumer_scale

        print("  consumer scale ...", flush=True)
        consumers = measure_consumer_scale(args.quick)
        CONSUMER_RESULTS.write_text(json.dumps(consumers, indent=1) + "\n")
    iac: list[dict[str, object]] = []
    sets: list[dict[str, object]] = []
    if not args.skip_iac:
        from iac_scale import measure_consumer_set, measure_iac

        iac = measure_iac([100] if args.quick else [100, 1000, 10_000])
        sets = measure_consumer_set([10_000])
    cluster: dict[str, object] | None = None
    if not args.skip_cluster:
        from cluster import RESULTS as CLUSTER_RESULTS
        from cluster import measure_cluster

        print("  containers: control plane and data planes ...", flush=True)
        cluster = measure_cluster(args.quick)
        CLUSTER_RESULTS.write_text(json.dumps(cluster, indent=1) + "\n")
    RESULTS.write_text(json.dumps([asdict(r) for r in rows], indent=1) + "\n")
    (REPO / "bench" / "iac_results.json").write_text(json.dumps(iac + sets, indent=1) + "\n")
    from report import write_report

    seconds = time.monotonic() - started
    write_report(
        rows=[asdict(r) for r in rows],
        iac=iac + sets,
        quick=args.quick,
        seconds=seconds,
        consumers=consumers,
        cluster=cluster,
    )
    print(f"wrote {RESULTS} and BENCHMARKS.md in {time.monotonic() - started:.0f}s")


if __name__ == "__main__":
    main()
