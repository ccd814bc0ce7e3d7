"""`lockgate serve`: a gateway in one of three roles (ServeOptions):

- standalone: the control plane (admin API) and the data plane (proxy) in one process, on two ports;
- control-plane: the admin API and the cluster endpoint (cluster_api.py) data planes sync from; no proxy;
- data-plane: the proxy alone, serving what it syncs from a control plane (data_plane.py); a status port
  (`--admin-port`) answers /health and /status, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import uvicorn
from aiohttp import web
from lockgate.gateway_runtime.config_file import load_config_file
from lockgate.gateway_runtime.control.admin_api import create_admin_app
from lockgate.gateway_runtime.control.cluster_api import Cluster
from lockgate.gateway_runtime.control.service import ChangeRejected, ControlPlane
from lockgate.gateway_runtime.control.sinks import InProcess, PublishedFiles
from lockgate.gateway_runtime.control.store import Store
from lockgate.gateway_runtime.data.proxy import DataPlane
from lockgate.gateway_runtime.data.shared_limits import LIMITS_FILE
from lockgate.gateway_runtime.data.snapshot import compile_snapshot
from lockgate.gateway_runtime.data.upstream import UpstreamPool
from lockgate.gateway_runtime.data.usage_log import UsageLog
from lockgate.gateway_runtime.data_plane import ConfigSync, UsageShipper
from lockgate.gateway_runtime.process import prepare_process
from lockgate.gateway_runtime.worker import run_worker
from lockgate.sdk import Health, ServeOptions

log = logging.getLogger("lockgate")
USAGE_FLUSH_INTERVAL_S = 1.0


class StartError(Exception):
    """The gateway cannot start as asked; the message says why and what to do."""


class _Uvicorn(uvicorn.Server):
    """uvicorn without its own signal handling: this process stops everything together."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def token_for(path: Path, given: str | None, what: str) -> str:
    """The token in `given` (a file), or the one in `path` (created with mode 0600 on first start)."""
    if given:
        try:
            token = Path(given).read_text().strip()
        except OSError as exc:
            raise StartError(f"cannot read the {what} file {given}: {exc.strerror}") from None
        if not token:
            raise StartError(f"the {what} file {given} is empty; write the token into it")
        return token
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32))
        log.info("%s written to %s", what, path)
    return path.read_text().strip()


def _signals(stop: asyncio.Event) -> asyncio.AbstractEventLoop:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    return loop


def _admin_server(app: Any, host: str, port: int) -> _Uvicorn:
    return _Uvicorn(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="off"))


def load_env_dir(directory: str) -> None:
    """`--env-dir`: each file's contents into the environment under the file's name (workers inherit them)."""
    try:
        files = [path for path in Path(directory).iterdir() if path.is_file()]
    except OSError as exc:
        raise StartError(f"--env-dir {directory}: cannot read it: {exc.strerror}") from None
    for path in files:
        os.environ[path.name] = path.read_text().strip()


async def serve(options: ServeOptions) -> None:
    data_dir = Path(options.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if options.env_dir:
        load_env_dir(options.env_dir)
    instance_id = options.instance_id or uuid.uuid4().hex
    if options.role == "data-plane":
        await _serve_data_plane(options, data_dir, instance_id)
    else:
        await _serve_control_plane(options, data_dir, instance_id)


async def _serve_control_plane(options: ServeOptions, data_dir: Path, instance_id: str) -> None:
    """Standalone or control plane: the store, the admin API and the sinks each version is served to."""
    token = token_for(data_dir / "admin-token", options.admin_token_file, "admin token")
    config_file = Path(options.config) if options.config else None
    declared = load_config_file(config_file) if config_file else None
    store = Store(data_dir / "lockgate.db")
    control = ControlPlane.start(store, declared, data_dir, config_file)
    stop = asyncio.Event()
    loop = _signals(stop)
    async with contextlib.AsyncExitStack() as running:
        running.callback(store.close)
        running.callback(control.flush_usage.close)
        running.callback(control.flush_usage)  # last: everything the workers logged is added up
        cluster = await _sinks(options, data_dir, control, running)
        identity = Health(status="ok", name=options.name, instance_id=instance_id)
        listing = (lambda: cluster.listing(control.version)) if cluster else None
        admin = _admin_server(
            create_admin_app(control, token, identity, listing), options.admin_host, options.admin_port
        )
        reloads: set[asyncio.Task[None]] = set()

        def reload_on_hup() -> None:  # without a file it only says so: never a kill
            task = asyncio.create_task(_reload(control))
            reloads.add(task)
            task.add_done_callback(reloads.discard)

        loop.add_signal_handler(signal.SIGHUP, reload_on_hup)
        admin_task = asyncio.create_task(admin.serve())
        flusher = asyncio.create_task(_flush_usage_forever(control))
        running.callback(flusher.cancel)
        serving = (
            f"cluster port {options.cluster_port}"
            if cluster
            else f"proxy http://{options.proxy_host}:{options.proxy_port}"
        )
        log.info(
            "lockgate %s serving: %s, admin http://%s:%d (config version %d)",
            options.role,
            serving,
            options.admin_host,
            options.admin_port,
            control.version,
        )
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({admin_task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        admin.should_exit = True
        await admin_task


async def _sinks(
    options: ServeOptions, data_dir: Path, control: ControlPlane, running: contextlib.AsyncExitStack
) -> Cluster | None:
    """Where each version goes, and what serves it: the proxy in this process (standalone), the published files
    for `--workers` and for the cluster endpoint (a control plane, whose Cluster this answers)."""
    pool = UpstreamPool()
    running.push_async_callback(pool.close)
    data = None
    if options.role == "standalone":  # the data plane here compiles every config first: it can refuse it
        data = DataPlane(compile_snapshot(control.config(), control.version, pool), pool, UsageLog(data_dir))
        running.callback(data.usage.close)
        control.sinks.append(InProcess(data))
    if options.role == "standalone" and options.workers == 1:
        assert data is not None
        running.push_async_callback(await _listen(data.server(), options.proxy_host, options.proxy_port))
        return None
    files = PublishedFiles(data_dir, control.state.key_entries)
    control.sinks.append(files)
    await asyncio.to_thread(files.publish, control.config(), control.version)
    if options.role == "standalone":
        workers = WorkerSupervisor(options, data_dir)
        running.callback(workers.stop)
        supervising = asyncio.create_task(workers.supervise())
        running.callback(supervising.cancel)
        return None
    cluster = Cluster(
        files, control.store.path, token_for(data_dir / "cluster-token", options.cluster_token_file, "cluster token")
    )
    running.callback(cluster.close)
    running.push_async_callback(await _listen(cluster.app(), options.cluster_host, options.cluster_port))
    return cluster


async def _serve_data_plane(options: ServeOptions, data_dir: Path, instance_id: str) -> None:
    """The proxy (in this process, or `--workers N`), the config sync and the usage shipper."""
    assert options.control_plane is not None
    token = token_for(data_dir / "cluster-token", options.cluster_token_file, "cluster token")
    stop = asyncio.Event()
    _signals(stop)
    sync = ConfigSync(options.control_plane, token, data_dir, options.name)
    if sync.state.version:
        log.info("serving config version %d from %s until the control plane answers", sync.state.version, data_dir)
    else:
        log.info("no config in %s yet: the proxy listens once %s sends one", data_dir, options.control_plane)
    shipper = UsageShipper(options.control_plane, token, data_dir, sync.id)
    tasks = [  # cancelled at the end; any of them ending before is a failure
        asyncio.create_task(sync.run(stop), name="the config sync"),
        asyncio.create_task(shipper.run(stop), name="the usage shipper"),
    ]
    workers: WorkerSupervisor | None = None
    proxy = None
    if options.workers > 1:
        workers = WorkerSupervisor(options, data_dir)
        tasks.append(asyncio.create_task(workers.supervise()))
    else:
        proxy = asyncio.create_task(
            run_worker(data_dir, options.proxy_host, options.proxy_port, stop, sync.news), name="the proxy"
        )
    status = await _listen(_status_app(sync, options.name, instance_id), options.admin_host, options.admin_port)
    log.info(
        "lockgate data plane %s: proxy http://%s:%d status http://%s:%d, syncing from %s",
        sync.id,
        options.proxy_host,
        options.proxy_port,
        options.admin_host,
        options.admin_port,
        options.control_plane,
    )
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait({stopped, *tasks, *([proxy] if proxy else [])}, return_when=asyncio.FIRST_COMPLETED)
    failed = None if stop.is_set() else next(t for t in (*tasks, proxy) if t is not None and t.done())
    stop.set()
    for task in tasks:
        task.cancel()
    if workers is not None:
        workers.stop()
    if proxy is not None and failed is not proxy:
        await proxy  # it stops on `stop`, after its connections
    await status()
    shipper.ship_now()  # what the workers logged last, if the control plane is there to take it
    if failed is not None:  # a part that must run forever ended: exit non-zero, and let the supervisor restart us
        raise StartError(f"the data plane stopped: {failed.get_name()} ended ({failed.exception()!r})")


def _status_app(sync: ConfigSync, name: str | None, instance_id: str) -> web.Application:
    """A data plane's /health (ready once it holds a config) and /status (what it serves, the sync's state)."""

    async def health(request: web.Request) -> web.Response:
        ready = sync.state.version > 0
        body = Health(status="ok" if ready else "starting", name=name, instance_id=instance_id)
        return web.json_response(body.model_dump(), status=200 if ready else 503)

    async def status(request: web.Request) -> web.Response:
        state = sync.state
        return web.json_response(
            {
                **sync.report().model_dump(exclude={"wait_s"}),
                "control_plane": sync.url.removesuffix("/cluster/v1/sync"),
                "control_plane_reachable": state.reachable,
                "last_sync": state.last_sync,
            }
        )

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/status", status)
    return app


async def _listen(app: web.Application | web.Server, host: str, port: int) -> Callable[[], Coroutine[Any, Any, None]]:
    """Serve `app`; answers its cleanup. An Application (status, cluster endpoint) gives its requests 2 s at
    shutdown (long polls are only waiting); the proxy's keep their default, to finish what they stream."""
    runner: web.BaseRunner = (
        web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        if isinstance(app, web.Application)
        else web.ServerRunner(app, handle_signals=False)
    )
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=2048).start()
    return runner.cleanup


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
    """Runs N data-plane worker processes on the proxy port, serving the files published in DATA_DIR, and
    restarts any that dies."""

    def __init__(self, options: ServeOptions, data_dir: Path) -> None:
        self.options, self.data_dir = options, data_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        (data_dir / LIMITS_FILE).unlink(missing_ok=True)  # counters start fresh with the gateway
        self.processes = [self._spawn() for _ in range(options.workers)]

    def _spawn(self) -> subprocess.Popen[bytes]:
        o = self.options
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "lockgate.gateway_runtime.worker",
                "--data-dir",
                str(self.data_dir),
                "--host",
                o.proxy_host,
                "--port",
                str(o.proxy_port),
            ]
        )

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


def run(options: ServeOptions) -> None:
    prepare_process()
    asyncio.run(serve(options))
