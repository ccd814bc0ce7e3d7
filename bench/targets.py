"""The processes under test. Every one binds 127.0.0.1, is pinned to its core, and is stopped by the harness."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
TARGET_CPU = "0"  # the gateway under test
LOAD_CPU = "1"  # wrk, the mock and the TTFT client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn(argv: list[str], cpu: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(
        ["taskset", "-c", cpu, *argv],
        stdout=handle,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )


def wait_until(
    check_url: str,
    process: subprocess.Popen[bytes],
    timeout: float,
    headers: dict[str, str] | None = None,
    ok: tuple[int, ...] = (200,),
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        try:
            if httpx.get(check_url, headers=headers, timeout=1).status_code in ok:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{check_url} not ready after {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def tree_rss_mb(pid: int) -> list[float]:
    """RSS of a process and its descendants, in MB, one entry per process."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,rss=", "-e"], capture_output=True, text=True).stdout
    rows = [tuple(int(x) for x in line.split()) for line in out.splitlines() if line.strip()]
    family, changed = {pid}, True
    while changed:
        changed = False
        for child, parent, _ in rows:
            if parent in family and child not in family:
                family.add(child)
                changed = True
    return [rss / 1024 for p, _, rss in rows if p in family]


@dataclass
class Target:
    name: str
    workers: int
    base_url: str  # OpenAI base URL (…/v1)
    auth: str
    process: subprocess.Popen[bytes] | None = None
    extra: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for process in [*([self.process] if self.process else []), *self.extra]:
            stop(process)

    def worker_rss_mb(self) -> float:
        """The largest RSS among the target's processes (the bar is per worker)."""
        return max(tree_rss_mb(self.process.pid)) if self.process else 0.0


def start_mock(work: Path) -> Target:
    port = free_port()
    process = spawn([sys.executable, str(REPO / "bench" / "fast_mock.py"), str(port)], LOAD_CPU, work / "mock.log")
    wait_until(f"http://127.0.0.1:{port}/v1/models", process, 10)
    return Target("direct", 1, f"http://127.0.0.1:{port}/v1", "", process)


def start_nginx(work: Path, mock: Target) -> Target:
    port, upstream = free_port(), mock.base_url.removeprefix("http://").removesuffix("/v1")
    prefix = work / "nginx"
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
worker_processes 1;
error_log {prefix}/logs/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;
  fastcgi_temp_path {prefix}/fastcgi; uwsgi_temp_path {prefix}/uwsgi; scgi_temp_path {prefix}/scgi;
  upstream mock {{ server {upstream}; keepalive 256; }}
  server {{
    listen 127.0.0.1:{port} reuseport backlog=4096;
    location / {{
      proxy_pass http://mock; proxy_http_version 1.1; proxy_set_header Connection "";
      proxy_buffering off; proxy_request_buffering off;
    }}
  }}
}}
""")
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    process = spawn([binary, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"], TARGET_CPU, work / "nginx.log")
    wait_until(f"http://127.0.0.1:{port}/v1/models", process, 10)
    return Target("nginx", 1, f"http://127.0.0.1:{port}/v1", "", process)


def start_litellm(work: Path, mock: Target, litellm_bin: Path) -> Target:
    port, key = free_port(), "sk-bench-master-key"
    config = work / "litellm.yaml"
    config.write_text(f"""
model_list:
  - model_name: mock
    litellm_params: {{model: openai/mock, api_base: "{mock.base_url}", api_key: "unused"}}
  - model_name: paced
    litellm_params: {{model: openai/paced, api_base: "{mock.base_url}", api_key: "unused"}}
general_settings:
  master_key: {key}
litellm_settings:
  telemetry: false
""")
    env = {"LITELLM_LOG": "ERROR", "LITELLM_MODE": "PRODUCTION", "NO_DOCS": "True", "TELEMETRY": "False"}
    process = spawn(
        [str(litellm_bin), "--config", str(config), "--port", str(port), "--host", "127.0.0.1", "--num_workers", "1"],
        TARGET_CPU,
        work / "litellm.log",
        env,
    )
    wait_until(f"http://127.0.0.1:{port}/health/liveliness", process, 180)
    return Target("litellm", 1, f"http://127.0.0.1:{port}/v1", key, process)


def start_lockgate(work: Path, mock: Target, workers: int, config_file: Path) -> Target:
    from gateway_config import BENCH_KEY

    proxy, admin = free_port(), free_port()
    cpu = TARGET_CPU if workers == 1 else f"0-{workers - 1}"
    lockgate = Path(sys.executable).parent / "lockgate"
    process = spawn(
        [
            str(lockgate),
            "serve",
            "--config",
            str(config_file),
            "--data-dir",
            str(work / f"lg{workers}"),
            "--proxy-port",
            str(proxy),
            "--admin-port",
            str(admin),
            "--workers",
            str(workers),
        ],
        cpu,
        work / f"lockgate-{workers}.log",
    )
    wait_until(f"http://127.0.0.1:{admin}/health", process, 60)
    for _ in range(workers):  # every worker has compiled its snapshot once the port answers repeatedly
        wait_until(f"http://127.0.0.1:{proxy}/v1/models", process, 60, headers={"Authorization": f"Bearer {BENCH_KEY}"})
    time.sleep(0.5 * (workers - 1))
    name = "lockgate" if workers == 1 else f"lockgate x{workers}"
    return Target(name, workers, f"http://127.0.0.1:{proxy}/v1", BENCH_KEY, process)
