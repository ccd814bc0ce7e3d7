"""A `lockgate serve` that keeps its config in its SQLite store (admin writes on), for the consumer-scale scenario:
started pinned to CPU 0, set up through the admin API like the other scenarios' config, its RSS per process, and
drivers that send admin changes at a fixed pace while the proxy is under load. Everything binds 127.0.0.1."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from gateway_config import BENCH_KEY, HUGE_LIMIT
from lockgate.sdk import (
    AdminClient,
    ApiKeyCreate,
    Consumer,
    ConsumerGroup,
    KeyAuth,
    LlmUpstream,
    Route,
    RoutePolicies,
    UsageAccounting,
)
from targets import TARGET_CPU, free_port, spawn, stop, wait_until

LOCKGATE = Path(sys.executable).parent / "lockgate"
GROUPS = (["bench"], ["bench", "gold"])  # a change flips a consumer between these: its key is sent again


@dataclass
class StoreGateway:
    process: subprocess.Popen[bytes]
    data_dir: Path
    proxy_url: str  # OpenAI base URL (…/v1)
    admin_url: str
    workers: int
    started_s: float  # from spawn to the proxy answering the bench key (or, before it exists, answering)

    @property
    def token_file(self) -> Path:
        return self.data_dir / "admin-token"

    def admin(self, owner: str = "api") -> AdminClient:
        return AdminClient(self.admin_url, self.token_file.read_text().strip(), timeout=900, owner=owner)

    def stop(self) -> None:
        stop(self.process)

    def rss_mb(self) -> tuple[float, list[float]]:
        """The control process's RSS and each data-plane worker's (none with one worker: it serves the proxy)."""
        return _rss_mb(self.process.pid), [_rss_mb(child) for child in _children(self.process.pid)]


@contextmanager
def peak_rss_mb(pid: int) -> Iterator[list[float]]:
    """Samples the process's RSS every 0.2 s while the block runs; the list holds the largest, in MB."""
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], _rss_mb(pid))


@contextmanager
def cpu_share(pid: int, cpu: str = TARGET_CPU) -> Iterator[list[float]]:
    """While the block runs: the share of `cpu` the gateway's process used, and the share everything else used (the
    harness puts nothing else there: more than a few percent means the run shared the core and is not clean)."""
    result = [0.0, 0.0]
    before, used = _cpu_ticks(cpu), _process_ticks(pid)
    try:
        yield result
    finally:
        after = _cpu_ticks(cpu)
        total = max(1, after[1] - before[1])
        ours = (_process_ticks(pid) - used) / total
        result[:] = [round(ours, 3), round(max(0.0, (after[0] - before[0]) / total - ours), 3)]


def _cpu_ticks(cpu: str) -> tuple[int, int]:
    """(busy, all) clock ticks of one CPU so far."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(x) for x in line.split()[1:]]
            return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # minus idle and iowait
    raise RuntimeError(f"no cpu{cpu} in /proc/stat")


def _process_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all its threads


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _children(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        children += [int(c) for c in text]
    return children


def start_store_gateway(
    work: Path, data_dir: Path, workers: int = 1, keyed: bool = True, timeout: float = 120
) -> StoreGateway:
    """`lockgate serve` on DATA_DIR's store (made on first start). Ready once the proxy answers the bench key from
    each worker (`keyed`: the store has it) or, on a new store, answers at all."""
    proxy, admin = free_port(), free_port()
    cpu = TARGET_CPU if workers == 1 else f"0-{workers - 1}"
    argv = [str(LOCKGATE), "serve", "--data-dir", str(data_dir), "--proxy-port", str(proxy)]
    argv += ["--admin-port", str(admin), "--workers", str(workers)]
    started = time.monotonic()
    process = spawn(argv, cpu, work / f"store-gateway-{workers}-{proxy}.log")
    gateway = StoreGateway(process, data_dir, f"http://127.0.0.1:{proxy}/v1", f"http://127.0.0.1:{admin}", workers, 0)
    try:
        wait_until(f"{gateway.admin_url}/health", process, timeout)
        models, auth = f"{gateway.proxy_url}/models", {"Authorization": f"Bearer {BENCH_KEY}"}
        for _ in range(8 * workers):  # fresh connections: each lands on a worker chosen by SO_REUSEPORT
            wait_until(models, process, timeout, headers=auth, ok=(200,) if keyed else (200, 401, 404))
    except BaseException:
        gateway.stop()
        raise
    gateway.started_s = round(time.monotonic() - started, 2)
    return gateway


def set_up(gateway: StoreGateway, upstream_url: str, routes: int = 100) -> None:
    """What bench/gateway_config.py declares, made through the admin API: the mock upstream, ROUTES keyed routes
    with usage accounting, the limited group `bench` (plus `gold`, unlimited) and the consumer `bench` with its key."""
    policies = RoutePolicies(key_auth=KeyAuth(), usage=UsageAccounting())
    with gateway.admin() as admin:
        admin.upstreams.create(LlmUpstream(name="mock", base_url=upstream_url))
        admin.routes.create(Route(name="chat", paths=["/v1"], upstream="mock", policies=policies))
        for i in range(routes - 1):
            path = f"/teams/team-{i}/v1"
            admin.routes.create(Route(name=f"team-{i}", paths=[path], upstream="mock", policies=policies))
        admin.consumer_groups.create(ConsumerGroup(name="bench", rate_limit=HUGE_LIMIT))
        admin.consumer_groups.create(ConsumerGroup(name="gold"))
        admin.consumers.create(Consumer(name="bench", groups=["bench"]))
        admin.api_keys.create(ApiKeyCreate(name="bench-key", consumer="bench", key=BENCH_KEY))


def proxy_status(proxy_url: str, key: str) -> int:
    with httpx.Client() as http:
        return http.get(f"{proxy_url}/models", headers={"Authorization": f"Bearer {key}"}).status_code


@contextmanager
def pinned(cpu: str) -> Iterator[None]:
    """Run this thread (and the threads it starts) on `cpu`: the harness's admin calls are load, like wrk's."""
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(cpu)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@dataclass
class Paced:
    """Calls `change(n)` every `period_s` in a thread (at the next slot when one runs late) until stopped; keeps the
    latency of each call in ms."""

    change: Callable[[int], object]
    period_s: float
    latencies_ms: list[float] = field(default_factory=list)
    failures: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Paced:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _run(self) -> None:
        started, n = time.perf_counter(), 0
        while not self._stop.is_set():
            begun = time.perf_counter()
            try:
                self.change(n)
                self.latencies_ms.append((time.perf_counter() - begun) * 1000)
            except Exception:  # counted, and the run goes on: a failed change is reported, not fatal
                self.failures += 1
            n += 1
            slots = int((time.perf_counter() - started) / self.period_s) + 1
            self._stop.wait(max(0.0, started + slots * self.period_s - time.perf_counter()))


def flip(admin: AdminClient, name: str, n: int) -> None:
    """One single-consumer change: the consumer's groups flip, so the data plane gets its key again (a key delta)."""
    admin.consumers.update(Consumer(name=name, groups=GROUPS[n % 2]))


def percentiles(samples_ms: list[float]) -> tuple[float, float, float]:
    """p50, p99 and the largest sample."""
    ordered = sorted(samples_ms)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return round(statistics.median(ordered), 3), round(p99, 3), round(ordered[-1], 3)
