"""Render BENCHMARKS.md and bench/chart.png from the harness's rows."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from iac_scale import SET_TARGETS

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "bench" / "chart.png"
CONSUMER_RESULTS = "bench/consumer_results.json"  # under REPO: bench/consumer_scale.py's rows
SHARED_CPU = 0.05  # more than this share of the gateway's core taken by other processes: a run that was not alone
# The data plane's dependencies: a change in the figures is traced to code or to one of these (requirements.lock).
DATA_PLANE_PACKAGES = ("aiohttp", "uvloop", "orjson", "pydantic", "google-re2", "fastapi", "uvicorn")


def _row(rows: list[dict[str, Any]], target: str, scenario: str) -> dict[str, Any]:
    return next((r for r in rows if r["target"] == target and r["scenario"] == scenario), {})


def _version(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return (result.stdout + result.stderr).strip().splitlines()[0] if (result.stdout + result.stderr).strip() else "?"


def _machine() -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    memory = f"{memory_kb / 1024 / 1024:.0f} GiB"
    litellm = _version([str(REPO / ".bench" / "litellm" / "bin" / "litellm"), "--version"])
    litellm = litellm.replace("LiteLLM: Current Version = ", "LiteLLM ")
    return [
        f"- CPU: {cpu}, {os.cpu_count()} cores; memory {memory}",
        f"- Kernel {platform.release()}; Python {platform.python_version()}",
        f"- {_version(['wrk', '--version'])}; {_version(['nginx', '-v'])}; {litellm}",
    ]


def dependency_versions() -> str:
    """The installed versions of the data plane's dependencies, as one line for BENCHMARKS.md."""
    from importlib.metadata import PackageNotFoundError, version

    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    return "; ".join(f"{name} {installed(name)}" for name in DATA_PLANE_PACKAGES)


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.{digits}f}" if value < 100 else f"{value:,.0f}"
    return str(value)


def _chart(rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    targets = list(dict.fromkeys(r["target"] for r in rows))
    rps = [_row(rows, t, "non-stream c=32").get("rps") or 0 for t in targets]
    added = [_row(rows, t, "non-stream c=1").get("added_p50_ms") or 0 for t in targets]
    ttft = [_row(rows, t, "TTFT c=1").get("added_p50_ms") or 0 for t in targets]
    colors = ["#888888" if t == "direct" else "#2b7bba" if t.startswith("lockgate") else "#d98b2b" for t in targets]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    left.bar(targets, rps, color=colors)
    left.set_yscale("log")
    left.set_title("Non-streamed requests/s, c=32 (log scale; gateway on 1 core)")
    for index, value in enumerate(rps):
        left.text(index, value, f"{value:,.0f}", ha="center", va="bottom", fontsize=8)
    width = 0.38
    positions = range(len(targets))
    right.bar([p - width / 2 for p in positions], added, width, label="added p50, non-stream c=1", color=colors)
    right.bar(
        [p + width / 2 for p in positions],
        ttft,
        width,
        label="added time to first token",
        color=colors,
        alpha=0.5,
        hatch="//",
    )
    for index, (a, b) in enumerate(zip(added, ttft, strict=True)):
        right.text(index - width / 2, a, f"{a:.2f}", ha="center", va="bottom", fontsize=7)
        right.text(index + width / 2, b, f"{b:.2f}", ha="center", va="bottom", fontsize=7)
    right.set_xticks(list(positions), targets)
    right.set_yscale("symlog", linthresh=1)
    right.set_title("Added latency vs direct (ms, symlog)")
    right.legend(fontsize=8)
    for axis in (left, right):
        axis.tick_params(axis="x", labelrotation=20, labelsize=8)
    figure.tight_layout()
    figure.savefig(CHART, dpi=110)
    plt.close(figure)


def _bar(rows: list[dict[str, Any]]) -> list[str]:
    one = "lockgate"
    rps = _row(rows, one, "non-stream c=32").get("rps")
    litellm = _row(rows, "litellm", "non-stream c=32").get("rps")
    added = _row(rows, one, "non-stream c=1").get("added_p50_ms")
    ttft = _row(rows, one, "TTFT c=1").get("added_p50_ms")
    rss = max(
        (
            r.get("rss_mb") or 0
            for r in rows
            if r["target"].startswith("lockgate") and r["scenario"] == "RSS after load"
        ),
        default=None,
    )
    checks = [
        ("≥ 4,000 non-streamed RPS per core", rps, rps is not None and rps >= 4000, f"{_fmt(rps)} RPS"),
        (
            "≥ 30x LiteLLM (same run)",
            litellm,
            bool(rps and litellm and rps / litellm >= 30),
            f"{rps / litellm:.0f}x" if rps and litellm else "LiteLLM not run",
        ),
        ("≤ 0.5 ms added p50 at c=1", added, added is not None and added <= 0.5, f"{_fmt(added, 3)} ms"),
        ("≤ 1 ms added time to first token", ttft, ttft is not None and ttft <= 1.0, f"{_fmt(ttft, 3)} ms"),
        (
            "≤ 150 MB RSS per worker, 10,000 consumers + 100 routes",
            rss,
            rss is not None and rss <= 150,
            f"{_fmt(rss, 1)} MB",
        ),
    ]
    checks += _stream_bars(rows)
    lines = ["| bar | measured | met |", "|---|---|---|"]
    lines += [f"| {name} | {shown} | {'yes' if ok else 'NO'} |" for name, _, ok, shown in checks]
    return lines


def _stream_bars(rows: list[dict[str, Any]]) -> list[tuple[str, Any, bool, str]]:
    """performance.md's bars for concurrent slow streams (an LLM's real load)."""
    checks: list[tuple[str, Any, bool, str]] = []
    ours, direct = _row(rows, "lockgate", "1,000 slow streams"), _row(rows, "direct", "1,000 slow streams")
    if ours and direct:
        wall = ours["wall_s"] / direct["wall_s"] - 1
        added_p99 = ours["ttft_p99_ms"] - direct["ttft_p99_ms"]
        checks += [
            ("1,000 concurrent slow streams: wall time within 5% of direct", wall, wall <= 0.05, f"{wall:+.1%}"),
            (
                "1,000 concurrent slow streams: added TTFT p50 ≤ 2 ms, p99 ≤ 10 ms",
                ours["added_p50_ms"],
                ours["added_p50_ms"] <= 2 and added_p99 <= 10,
                f"{_fmt(ours['added_p50_ms'], 3)} ms, p99 {added_p99:+.1f} ms",
            ),
        ]
    many = _row(rows, "lockgate", "10,000 slow streams")
    if many:
        rate, rss = many["completion_rate"], many["rss_mb"]
        checks.append(
            (
                "10,000 open streams per worker within 1 GB RSS",
                rss,
                rate == 1 and rss <= 1024,
                f"{rss:.0f} MB, {rate:.1%} done",
            )
        )
    return checks


def _consumer_scale(rows: list[dict[str, Any]] | None) -> str:
    """bench/consumer_scale.py's figures, each beside its target."""
    if not rows:
        return "Not run (`python bench/consumer_scale.py [--quick]` runs it alone)."
    lines = ["| measure | consumers | measured | target | met | detail |", "|---|---|---|---|---|---|"]
    for r in rows:
        target = "" if r["target"] is None else f"{'≥' if r['at_least'] else '≤'} {_fmt(r['target'])} {r['unit']}"
        met = "" if r["met"] is None else "yes" if r["met"] else "NO"
        measured = f"{_fmt(r['value'], 3 if r['unit'] in ('ms', 'x') else 2)} {r['unit']}"
        lines.append(f"| {r['measure']} | {r['consumers']:,} | {measured} | {target} | {met} | {r['detail']} |")
    shared = [r for r in rows if (r.get("cpu0_others") or 0) > SHARED_CPU]
    if shared:
        lines.append(
            f"\nIn {len(shared)} of these runs other processes took more than {SHARED_CPU:.0%} of CPU 0 (the gateway's "
            "core; see each row's detail): the machine was shared meanwhile, so those figures understate lockgate."
        )
    return chr(10).join(lines)


CLUSTER_RESULTS = "bench/cluster_results.json"
CLUSTER_TARGETS = (  # (figure, target, at most): the containers issue's bars
    ("image_mb", 250, "MB image"),
    ("start_to_healthy_s_max", 3, "s from `docker run` to healthy (slowest of 5)"),
    ("propagation_ms_p99", 1000, "ms for a config change to reach every data plane, p99"),
    ("failed_during_changes", 0, "failed requests during 50 config changes under load"),
    ("failed_while_away", 0, "failed requests while the control plane is stopped and started"),
    ("failed_while_sibling_killed", 0, "failed requests on a data plane while its sibling is killed"),
)


def _cluster(result: dict[str, Any] | None) -> str:
    """bench/cluster.py's figures, each beside its target."""
    if not result:
        return "Not run (`python bench/cluster.py [--quick]` runs it alone; it needs the Docker engine)."
    lines = ["| measure | measured | target | met |", "|---|---|---|---|"]
    for key, target, what in CLUSTER_TARGETS:
        value = result[key]
        lines.append(f"| {what} | {_fmt(value, 2)} | ≤ {target} | {'yes' if value <= target else 'NO'} |")
    lines.append(
        f"\nPropagation p50 {result['propagation_ms_p50']} ms, max {result['propagation_ms_max']} ms over "
        f"{result['changes']} changes; {result['requests_during_changes']:,} requests during them. With the control "
        f"plane stopped for {result['control_plane_stopped_s']} s: {result['requests_while_away']:,} requests; the "
        f"data planes were in sync again {result['resync_s']} s after it started. "
        f"{result['requests_while_sibling_killed']:,} requests on one data plane while the other was killed. "
        f"Start to healthy: median {result['start_to_healthy_s_median']} s."
    )
    return chr(10).join(lines)


TRANSLATED = "lockgate openai→anthropic"  # bench/run.py's measure_route
FULL_CHAIN = "lockgate full chain"  # key auth, ACL, request + token limit, decorator, guard, PII both ways, usage


TOKEN_LIMIT_RESULTS = "bench/token_limit_results.json"
FULL_CHAIN_RESULTS = "bench/full_chain_results.json"


def _token_limit() -> str:
    path = REPO / TOKEN_LIMIT_RESULTS
    if not path.exists():
        return "(not run yet: `python bench/token_limit.py`)"
    r = json.loads(path.read_text())
    return "\n".join(
        [
            "| limit / min | workers | clients | seconds | answered | refused | tokens charged | bound "
            "(limit + in-flight estimates) | met |",
            "|---|---|---|---|---|---|---|---|---|",
            f"| {r['limit_per_minute']:,} | {r['workers']} | {r['clients']} | {r['seconds']} | {r['answered']:,} | "
            f"{r['refused']:,} | {r['charged_tokens']:,} ({r['charged_share_of_limit']:.1%} of the limit) | "
            f"{r['bound']:,} | {'yes' if r['within_bound'] else 'NO'} |",
        ]
    )


def write_report(
    rows: list[dict[str, Any]],
    iac: list[dict[str, Any]],
    quick: bool,
    seconds: float,
    consumers: list[dict[str, Any]] | None = None,
    written_by: str | None = None,
    cluster: dict[str, Any] | None = None,
) -> None:
    """`consumers`, `cluster`: bench/consumer_scale.py's rows and bench/cluster.py's result (default: the last ones
    they wrote); `written_by` replaces the first line's account of the run (when only one scenario ran and the other
    rows are an earlier run's)."""
    if consumers is None and (REPO / CONSUMER_RESULTS).exists():
        consumers = json.loads((REPO / CONSUMER_RESULTS).read_text())
    if cluster is None and (REPO / CLUSTER_RESULTS).exists():
        cluster = json.loads((REPO / CLUSTER_RESULTS).read_text())
    _chart(rows)
    columns = [
        "target",
        "scenario",
        "workers",
        "rps",
        "p50_ms",
        "p99_ms",
        "added_p50_ms",
        "ttft_p50_ms",
        "ttft_p99_ms",
        "wall_s",
        "rss_mb",
        "completion_rate",
    ]
    table = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    table += ["| " + " | ".join(_fmt(r.get(c), 3) for c in columns) + " |" for r in rows]
    lg, lg2 = _row(rows, "lockgate", "non-stream c=32"), _row(rows, "lockgate x2", "non-stream c=32")
    nginx, litellm = _row(rows, "nginx", "non-stream c=32"), _row(rows, "litellm", "non-stream c=32")
    ratios = []
    if lg.get("rps") and litellm.get("rps"):
        ratios.append(f"- lockgate / LiteLLM, non-streamed RPS at c=32: **{lg['rps'] / litellm['rps']:.1f}x**")
    if lg.get("rps") and nginx.get("rps"):
        ratios.append(f"- lockgate / nginx, non-streamed RPS at c=32: **{lg['rps'] / nginx['rps']:.2f}x**")
    if lg.get("rps") and lg2.get("rps"):
        ratios.append(
            f"- lockgate 2 workers / 1 worker: {lg2['rps'] / lg['rps']:.2f}x (2 cores shared with wrk and "
            "the mock, so this understates scaling)"
        )
    translated = _row(rows, TRANSLATED, "non-stream c=32")
    if lg.get("rps") and translated.get("rps"):
        share = translated["rps"] / lg["rps"]
        ttft = _row(rows, TRANSLATED, "TTFT c=1").get("added_p50_ms")
        ratios.append(
            f"- OpenAI in, Anthropic out (translated both ways) / relayed, non-streamed RPS at c=32: **{share:.0%}** "
            f"(target ≥ 60%: {'met' if share >= 0.6 else 'NOT met'}); added time to first token {ttft} ms "
            f"(target ≤ 1 ms: {'met' if ttft is not None and ttft <= 1 else 'NOT met'})"
        )
    full = _row(rows, FULL_CHAIN, "non-stream c=32")
    if lg.get("rps") and full.get("rps"):
        share, how = full["rps"] / lg["rps"], "the rows above"
        if (REPO / FULL_CHAIN_RESULTS).exists():  # rows minutes apart drift here: pairs of interleaved runs do not
            share = json.loads((REPO / FULL_CHAIN_RESULTS).read_text())["median_share"]
            how = "the median of `bench/full_chain.py`'s interleaved pairs"
        lg_ttft, full_ttft = _row(rows, "lockgate", "TTFT c=1"), _row(rows, FULL_CHAIN, "TTFT c=1")
        added = _fmt(full_ttft["ttft_p50_ms"] - lg_ttft["ttft_p50_ms"], 3) if lg_ttft and full_ttft else None
        ratios.append(
            f"- The full chain (key auth, ACL, request + token limit, decorator, guard, PII in and out, usage) / key "
            f"auth + limit + usage, non-streamed RPS at c=32 on one worker: **{share:.0%}** ({how}; target ≥ 70%: "
            f"{'met' if share >= 0.7 else 'NOT met'}); time to first token added to the relay's: {added} ms "
            "(target ≤ 2 ms plus the hold-back window)"
        )
    iac_lines = [
        "| consumers | resources | synth s | plan s | apply s | no-op plan s | destroy s |",
        "|---|---|---|---|---|---|---|",
    ]
    iac_lines += [
        f"| {r['consumers']:,} | {r['resources']:,} | {r['synth_s']} | {r.get('plan_s', '')} | "
        f"{r.get('apply_s', '')} | {r.get('noop_plan_s', '')} | {r.get('destroy_s', '')} |"
        for r in iac
        if "consumers" in r
    ]
    sets = [r for r in iac if "members" in r]
    if sets:
        iac_lines += [
            "",
            "One `lockgate_consumer_set` from a CSV (`ConsumerSet.from_csv`, keys generated into a 0600 file); "
            "'changed plan' is the plan after 1% of the members were replaced in the file (it shows the counts):",
            "",
            "| members | synth s | apply s | no-op plan s | changed plan s | destroy s "
            "| targets (apply, no-op, destroy) | met |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in sets:
            met = all(float(r.get(k, 1e9)) <= bar for k, bar in SET_TARGETS.items())  # type: ignore[arg-type]
            iac_lines.append(
                f"| {r['members']:,} | {r['synth_s']} | {r.get('apply_s', '')} | {r.get('noop_plan_s', '')} | "
                f"{r.get('changed_plan_s', '')} | {r.get('destroy_s', '')} | "
                f"≤ {SET_TARGETS['apply_s']:.0f} s, ≤ {SET_TARGETS['noop_plan_s']:.0f} s, "
                f"≤ {SET_TARGETS['destroy_s']:.0f} s | {'yes' if met else 'NO'} |"
            )
    run = f"`{'make bench-quick' if quick else 'make bench'}` on {datetime.date.today()} in {seconds:.0f} s"
    run += f"\n({'quick: shorter runs' if quick else 'full run'})"
    text = f"""# Benchmarks

Written by {written_by or run}. Raw rows: `bench/results.json`; IaC rows: `bench/iac_results.json`; consumer-scale
rows: `{CONSUMER_RESULTS}`; containers: `{CLUSTER_RESULTS}`.

## Machine
{chr(10).join(_machine())}

## Dependency versions
Installed from `requirements.lock` (`make lock` changes it): {dependency_versions()}.

## How
- `make bench` (full) or `make bench-quick` (about 5 minutes). Both install wrk and nginx-light (apt) and LiteLLM
  (its own virtualenv in `.bench/litellm`), start every process on 127.0.0.1 and stop it afterwards.
- The gateway under test is pinned to CPU 0 (`taskset -c 0`); wrk, the upstream mock and the TTFT client to CPU 1.
  `lockgate x2` runs two workers on CPUs 0-1, sharing them with the load generator.
- Upstream: `bench/fast_mock.py` (uvloop + httptools, precomputed bodies): completions, SSE bursts, and paced SSE
  (8 chunks 5 ms apart); Anthropic's Messages format at `/v1/messages`, for `lockgate openai→anthropic`: the same
  OpenAI requests through a route to an Anthropic-type upstream, translated both ways (1 worker).
- lockgate runs with key auth, a request limit (counted on every request), a token limit (admitted and settled on
  every request) and usage accounting on, and its config
  holds 10,000 consumers (with keys) and 100 routes in every scenario. nginx: 1 worker, keepalive upstream, no
  buffering. LiteLLM: 1 worker, its own master key, the same mock.
- Scenarios: non-streamed at c=32 (max RPS) and c=1 (added latency vs direct), SSE burst at c=32, paced SSE at
  c=128 (streams/s and the share that reached `[DONE]`), time to first token at c=1 over one keep-alive
  connection, RSS after the load (largest process of the target); then, for direct and lockgate with 1 worker,
  concurrent slow streams (`bench/streams.py`: 1,000 five-second streams arriving over 2 s, and in the full run
  10,000 over 10 s, each on its own connection): TTFT p50/p99, wall time to the last `[DONE]`, completion rate
  and the peak RSS while they are open.

## The bar (performance.md), lockgate with 1 worker
{chr(10).join(_bar(rows))}

## Results
{chr(10).join(table)}

{chr(10).join(ratios)}

![RPS and added latency per target](bench/chart.png)

## IaC scale ({_version(["terraform", "version"])})
Synth, then `terraform plan`, `apply`, a no-op `plan` and `destroy` for one gateway with N `lockgate_consumer`
resources (the provider's model today), with the real provider against a real gateway.

{chr(10).join(iac_lines)}

At 10,000 resources Terraform core is the bottleneck (one core at 100% for the whole apply while the gateway stays
near 10%); the gateway's own cost per change is about 2 µs per existing consumer. Bulk provisioning outside
Terraform is the way past this. Since this run, `terraform destroy` is timed only up to 1,000 consumers (larger runs
stop the gateway directly).

## Consumer scale (`bench/consumer_scale.py`)
`lockgate serve` with its SQLite store (admin writes on), set up through the admin API as the config above is (key
auth, a request limit and usage accounting on 100 routes), pinned to CPU 0; the CLI, the SDK calls, the mock and wrk
on CPU 1. 10,000 consumers come from a CSV through `lockgate consumers apply` (a subprocess, its start included; keys
generated by the gateway), then one SDK batch takes them to 100,000 (the keys' SHA-256 given) and, in the full run,
to 1,000,000. A single-consumer change is `admin.consumers.update` flipping the consumer's groups, so its key reaches
the data plane as a key delta; with one worker the answer comes once the serving key table has it. Bytes per key are
counted above the RSS with only the consumer `bench`. "restarted" rows serve the same store again after a stop (what a
gateway holds in steady state, without what the batches left). Latency under admin changes is wrk's at c=8 (a closed
loop: a stall delays only the 8 requests in flight, so p99.9 and max are shown beside p99).

{_consumer_scale(consumers)}

## Containers: control plane and data planes (`bench/cluster.py`)
The runtime image from `lockgate image build`; then a control-plane container and two data-plane containers (the
Docker driver, one worker each, ports published on 127.0.0.1) in front of a `lockgate mock-llm` container, key auth
and usage on. wrk loads both data planes (c=8 each) throughout. A config change is an admin API update of the
upstream's model; it counts as arrived when a data plane answers with the new model (each polled every 2 ms on a
keep-alive connection). Then the control plane container is stopped (`docker stop`) and started again under load,
and one data plane is killed (`docker kill`) while wrk loads the other. Failed = wrk's socket errors + non-2xx.

{_cluster(cluster)}

## A token limit under concurrency (`bench/token_limit.py`)
One token limit per minute on the bench group; `--workers` processes, concurrent clients sending non-streamed
requests (`max_tokens` 50, so each reserves 51 tokens and is charged the mock's 22) back to back through one minute.
The bar: the tokens charged stay within the limit plus the estimates of the requests in flight.

{_token_limit()}
"""
    (REPO / "BENCHMARKS.md").write_text(text)
