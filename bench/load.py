"""Load generators: wrk for throughput and latency, a raw-socket client for time to first token."""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import orjson
from targets import LOAD_CPU, Target

HERE = Path(__file__).resolve().parent
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    completed: int | None = None  # streams that ended with [DONE] (paced SSE)
    p999_ms: float | None = None  # chat.lua's tail
    max_ms: float | None = None


def body(model: str, stream: bool) -> str:
    payload: dict[str, object] = {"model": model, "messages": [{"role": "user", "content": "Say hello."}]}
    if stream:
        payload["stream"] = True
    return orjson.dumps(payload).decode()


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * _UNITS[unit]


def wrk(url: str, auth: str, payload: str, connections: int, seconds: float, count_done: bool = False) -> WrkResult:
    script = HERE / ("chat_done.lua" if count_done else "chat.lua")
    env = {**os.environ, "BENCH_BODY": payload, "BENCH_AUTH": auth}
    argv = [
        "taskset",
        "-c",
        LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url + "/chat/completions",
    ]
    done_run = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=seconds + 60)
    out = done_run.stdout
    if "Requests/sec" not in out:
        raise RuntimeError(f"wrk failed: {' '.join(argv)}\n{out[-1500:]}\n{done_run.stderr[-1500:]}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    done = re.search(r"COMPLETED (\d+)", out)
    tail = re.search(r"^TAIL (\d+) (\d+)", out, re.M)
    return WrkResult(
        rps=rps,
        p50_ms=_ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        p99_ms=_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)),  # type: ignore[union-attr]
        requests=requests,
        errors=errors + (int(non2xx.group(1)) if non2xx else 0),
        completed=int(done.group(1)) if done else None,
        p999_ms=int(tail.group(1)) / 1000 if tail else None,
        max_ms=int(tail.group(2)) / 1000 if tail else None,
    )


def ttft_ms(url: str, auth: str, model: str, streams: int) -> float:
    """Median time from sending a streamed request to receiving its first content event (one keep-alive socket)."""
    parts = urlsplit(url + "/chat/completions")
    payload = orjson.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "Say hello."}]})
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n" + (f"Authorization: Bearer {auth}\r\n" if auth else "") + "\r\n"
    )
    request = head.encode() + payload
    samples = []
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(streams):
            started = time.perf_counter()
            sock.sendall(request)
            received, first = b"", None
            while b"[DONE]" not in received or not received.endswith(b"0\r\n\r\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    raise RuntimeError("connection closed mid-stream")
                if first is None and b"data: " in received + chunk:
                    first = time.perf_counter()
                received += chunk
            samples.append(((first or time.perf_counter()) - started) * 1000)
    return statistics.median(samples)


def concurrent_streams(target: Target, count: int, arrival_s: float) -> tuple[dict[str, float], float]:
    """Run bench/streams.py (pinned to the load CPU) against `target`; returns its result and the target's peak RSS."""
    argv = ["taskset", "-c", LOAD_CPU, sys.executable, str(HERE / "streams.py"), target.base_url, target.auth]
    process = subprocess.Popen([*argv, str(count), str(arrival_s)], stdout=subprocess.PIPE, text=True)
    peak = 0.0
    while process.poll() is None:
        peak = max(peak, target.worker_rss_mb())
        time.sleep(0.25)
    out = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        raise RuntimeError(f"streams client failed ({process.returncode}): {out[-500:]}")
    return orjson.loads(out), peak
