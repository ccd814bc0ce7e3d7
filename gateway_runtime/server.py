"""`lockgate serve`: control plane (admin API) and data plane (proxy) in one process, on two ports."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from aiohttp import web
from lockgate.gateway_runtime import published
from lockgate.gateway_runtime.config_file import load_config_file
from lockgate.gateway_runtime.control.admin_api import create_admin_app
from lockgate.gateway_runtime.control.service import ChangeRejected, ControlPlane
from lockgate.gateway_runtime.control.store import Store
from lockgate.gateway_runtime.data.identities import KeyDelta
from lockgate.gateway_runtime.data.shared_limits import LIMITS_FILE
from lockgate.gateway_runtime.data.upstream import UpstreamPool
from lockgate.gateway_runtime.process import prepare_process
from lockgate.sdk import Health

log = logging.getLogger("lockgate")
USAGE_FLUSH_INTERVAL_S = 1.0


@dataclass(frozen=True)
class ServeSettings:
    data_dir: Path
    admin_host: str = "127.0.0.1"
    admin_port: int = 8001
    proxy_host: str = "127.0.0.1"
    proxy_port: int = 8000
    config_file: Path | None = None
    admin_token: str | None = None
    workers: int = 1
    name: str | None = None
    instance_id: str = field(default_factory=lambda: uuid.uuid4().hex)


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops both planes together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def admin_token_for(settings: ServeSettings) -> str:
    """The given token, or the one in DATA_DIR/admin-token (created with mode 0600 on first start)."""
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir / "admin-token"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
        log.info("admin token written to %s", path)
    return path.read_text().strip()


async def serve(settings: ServeSettings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token = admin_token_for(settings)
    pool = UpstreamPool()
    declared = load_config_file(settings.config_file) if settings.config_file else None
    store = Store(settings.data_dir / "lockgate.db")
    control = ControlPlane.start(store, declared, pool, settings.data_dir, settings.config_file)

    runner = web.ServerRunner(control.data.server(), handle_signals=False)
    workers: WorkerSupervisor | None = None
    if settings.workers > 1:
        workers = WorkerSupervisor(settings, control)
        workers.start()
    else:
        await runner.setup()
        await web.TCPSite(runner, settings.proxy_host, settings.proxy_port, backlog=2048).start()
    admin = _Uvicorn(
        uvicorn.Config(
            create_admin_app(control, token, Health(status="ok", name=settings.name, instance_id=settings.instance_id)),
            host=settings.admin_host,
            port=settings.admin_port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[None]] = set()

    def reload_on_hup() -> None:  # without a file it only says so: never a kill
        task = asyncio.create_task(_reload(control))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload_on_hup)
    admin_task = asyncio.create_task(admin.serve())
    flusher = asyncio.create_task(_flush_usage_forever(control))
    supervisor = asyncio.create_task(workers.supervise()) if workers else None
    log.info(
        "lockgate serving: proxy http://%s:%d admin http://%s:%d (config version %d)",
        settings.proxy_host,
        settings.proxy_port,
        settings.admin_host,
        settings.admin_port,
        control.version,
    )
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({admin_task, stopped}, return_when=asyncio.FIRST_COMPLETED)
    admin.should_exit = True
    flusher.cancel()
    if supervisor is not None and workers is not None:
        supervisor.cancel()
        workers.stop()
    await admin_task
    await runner.cleanup()
    await pool.close()
    control.data.usage.close()
    control.flush_usage()  # the workers have stopped too: everything they logged is added up
    control.flush_usage.close()
    store.close()


async def _reload(control: ControlPlane) -> None:
    """SIGHUP: serve the edited config file, or keep the running config and say why."""
    if control.config_file is None:
        log.info("SIGHUP: nothing to reload (this gateway keeps its config in its store)")
        return
    try:
        await control.reload()
    except ChangeRejected as exc:
        log.error("kept config version %d: %s", control.version, exc.message)
    except Exception:  # the running config stays, whatever failed
        log.exception("kept config version %d: the reload failed", control.version)
    else:
        log.info("reloaded %s: now serving config version %d", control.config_file, control.version)


async def _flush_usage_forever(control: ControlPlane) -> None:
    while True:
        await asyncio.sleep(USAGE_FLUSH_INTERVAL_S)
        try:
            await asyncio.to_thread(control.flush_usage)  # off the loop: it may serve the proxy too
        except Exception:  # logging and accounting never fail the gateway
            log.exception("could not save usage")


class WorkerSupervisor:
    """Runs N data-plane worker processes on the proxy port and restarts any that dies."""

    def __init__(self, settings: ServeSettings, control: ControlPlane) -> None:
        self.settings = settings
        self.processes: list[subprocess.Popen[bytes]] = []
        data_dir = settings.data_dir
        (data_dir / LIMITS_FILE).unlink(missing_ok=True)  # counters start fresh with the gateway
        self.base = control.version  # the version of the whole config last published
        published.publish(data_dir, control.config(), control.version, control.state.key_entries())
        control.on_change.append(self._publish)

    def _publish(self, control: ControlPlane, delta: KeyDelta | None) -> None:
        """Called off the loop after each change: a key delta is appended to the journal, anything else is
        published whole."""
        if delta is None:
            self.base = control.version
            published.publish(self.settings.data_dir, control.config(), control.version, control.state.key_entries())
        else:
            published.append_delta(self.settings.data_dir, self.base, control.version, delta)

    def _spawn(self) -> subprocess.Popen[bytes]:
        s = self.settings
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockgate.gateway_runtime.worker",
                "--data-dir",
                str(s.data_dir),
                "--host",
                s.proxy_host,
                "--port",
                str(s.proxy_port),
            ]
        )

    def start(self) -> None:
        self.processes = [self._spawn() for _ in range(self.settings.workers)]

    async def supervise(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            for index, process in enumerate(self.processes):
                if process.poll() is not None:
                    log.warning("worker %d exited with %s; restarting it", process.pid, process.returncode)
                    self.processes[index] = self._spawn()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()


def run(settings: ServeSettings) -> None:
    prepare_process()
    asyncio.run(serve(settings))
