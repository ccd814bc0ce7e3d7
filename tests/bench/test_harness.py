"""The benchmark harness's parsing and report rendering (no timings are asserted anywhere in the suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import consumer_scale  # noqa: E402
import load  # noqa: E402
import report  # noqa: E402

WRK_OUTPUT = """Running 4s test @ http://127.0.0.1:1/v1/chat/completions
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     4.85ms    1.20ms  20.01ms   98.50%
    Req/Sec     6.35k   265.35     6.50k    93.33%
  Latency Distribution
     50%    4.85ms
     75%    5.10ms
     90%    5.50ms
     99%  750.00us
  25277 requests in 4.00s, 12.10MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   6319.27
COMPLETED 25270
TAIL 9500 20010
"""


def test_wrk_output_is_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        assert argv[:3] == ["taskset", "-c", "1"] and "-c32" in argv
        return subprocess.CompletedProcess(argv, 0, WRK_OUTPUT, "")

    monkeypatch.setattr(load.subprocess, "run", fake_run)
    result = load.wrk("http://127.0.0.1:1/v1", "k", load.body("mock", False), 32, 4, count_done=True)
    assert (result.rps, result.p50_ms, result.p99_ms) == (6319.27, 4.85, 0.75)
    assert (result.requests, result.errors, result.completed) == (25277, 7, 25270)
    assert (result.p999_ms, result.max_ms) == (9.5, 20.01)


def test_report_checks_the_bar_and_writes_the_ratios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "REPO", tmp_path)
    monkeypatch.setattr(report, "CHART", tmp_path / "chart.png")
    (tmp_path / ".bench" / "litellm" / "bin").mkdir(parents=True)
    rows = [
        {"target": "direct", "scenario": "non-stream c=32", "workers": 1, "rps": 60000.0},
        {"target": "lockgate", "scenario": "non-stream c=32", "workers": 1, "rps": 6000.0},
        {"target": "lockgate", "scenario": "non-stream c=1", "workers": 1, "added_p50_ms": 0.6},
        {"target": "lockgate", "scenario": "TTFT c=1", "workers": 1, "added_p50_ms": 0.4},
        {"target": "lockgate", "scenario": "RSS after load", "workers": 1, "rss_mb": 97.0},
        {"target": "litellm", "scenario": "non-stream c=32", "workers": 1, "rps": 100.0},
    ]
    iac = [
        {
            "consumers": 100,
            "resources": 102,
            "synth_s": 1.5,
            "plan_s": 1.6,
            "apply_s": 4.9,
            "noop_plan_s": 2.0,
            "destroy_s": 5.0,
        },
        {"members": 10_000, "synth_s": 1.5, "apply_s": 6.3, "noop_plan_s": 3.5, "changed_plan_s": 3.8, "destroy_s": 6},
    ]
    consumers = [
        consumer_scale.Measure("RSS, 1 worker (control + data plane)", 100_000, 540.2, "MB", 300).row(),
        consumer_scale.Measure("RPS at 100,000 consumers / at 10,000", 100_000, 0.95, "x", 0.9, at_least=True).row(),
        consumer_scale.Measure("one batch (SDK `consumers.apply`)", 100_000, 15.4, "s", detail="+90,000").row(),
        consumer_scale.Measure("proxy non-streamed RPS, c=32", 10_000, 3000.0, "RPS", cpu0_others=0.2).row(),
    ]
    report.write_report(rows, iac, quick=True, seconds=12, consumers=consumers)
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "| ≥ 30x LiteLLM (same run) | 60x | yes |" in text
    assert "| ≤ 0.5 ms added p50 at c=1 | 0.600 ms | NO |" in text  # a missed bar is reported, not hidden
    assert "lockgate / LiteLLM, non-streamed RPS at c=32: **60.0x**" in text
    assert "| 100 | 102 | 1.5 | 1.6 | 4.9 | 2.0 | 5.0 |" in text
    assert "| 10,000 | 1.5 | 6.3 | 3.5 | 3.8 | 6 | ≤ 20 s, ≤ 3 s, ≤ 20 s | NO |" in text  # the no-op plan missed
    assert "| RSS, 1 worker (control + data plane) | 100,000 | 540 MB | ≤ 300 MB | NO |  |" in text
    assert "| RPS at 100,000 consumers / at 10,000 | 100,000 | 0.950 x | ≥ 0.90 x | yes |  |" in text
    assert "| one batch (SDK `consumers.apply`) | 100,000 | 15.40 s |  |  | +90,000 |" in text
    assert "In 1 of these runs other processes took more than 5% of CPU 0" in text  # a shared machine is said
    assert (tmp_path / "chart.png").read_bytes()[:4] == b"\x89PNG"
