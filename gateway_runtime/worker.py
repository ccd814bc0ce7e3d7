"""A data-plane worker: serves the proxy port with SO_REUSEPORT beside its siblings, from the published files.

It compiles the config published in DATA_DIR (by the control plane, or by a remote data plane's sync), recompiles it
when it changes, applies the key deltas published after it in place (published.py), counts limits in the shared
table and appends its usage to its own log in DATA_DIR/usage, which is added up by the control plane (or shipped to
it by a remote data plane). `lockgate serve --workers N` starts N of these processes; a data plane with one worker
runs it in its own process. Not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Iterator
from pathlib import Path

from aiohttp import web
from lockgate.gateway_runtime import published
from lockgate.gateway_runtime.data.budgets import BUDGETS_FILE, BudgetTable
from lockgate.gateway_runtime.data.identities import KeyEntry
from lockgate.gateway_runtime.data.proxy import DataPlane
from lockgate.gateway_runtime.data.shared_limits import LIMITS_FILE, SharedWindowLimiter
from lockgate.gateway_runtime.data.snapshot import CompileError, Snapshot, compile_snapshot
from lockgate.gateway_runtime.data.upstream import UpstreamPool
from lockgate.gateway_runtime.data.usage_log import UsageLog
from lockgate.gateway_runtime.process import prepare_process
from lockgate.sdk import GatewayConfig

log = logging.getLogger("lockgate.worker")
POLL_S = 0.25


async def run_worker(
    data_dir: Path, host: str, port: int, stop: asyncio.Event, news: asyncio.Event | None = None
) -> None:
    """Serve until `stop` is set; listens once the first published config is compiled (never with none). The files
    are looked at every POLL_S, and at once when `news` is set (by a publisher in the same process)."""
    news = news or asyncio.Event()

    async def pause() -> None:
        waits = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(news.wait())}
        _, pending = await asyncio.wait(waits, timeout=POLL_S, return_when=asyncio.FIRST_COMPLETED)
        for waiting in pending:
            waiting.cancel()
        news.clear()

    while (seen := published.stamp(data_dir)) == (0, 0, 0) and not stop.is_set():
        await pause()
    if stop.is_set():
        return
    pool, usage = UpstreamPool(), UsageLog(data_dir)
    limiter = SharedWindowLimiter(data_dir / LIMITS_FILE)
    base, config, keys = published.read(data_dir)
    snapshot, version, offset = _compiled(data_dir, base, config, keys, pool)
    budgets = BudgetTable(data_dir / BUDGETS_FILE)
    data = DataPlane(snapshot, pool, usage, limiter, budgets)
    data.version = version
    runner = web.ServerRunner(data.server(), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=2048, reuse_port=True).start()
    while not stop.is_set():
        await pause()
        current = published.stamp(data_dir)
        try:
            if current != seen:
                seen = current
                new_base, config, keys = published.read(data_dir)
                pool.open_sessions(config.upstreams)  # on the loop; the compile, O(keys), off it
                snapshot, version, new_offset = await asyncio.to_thread(
                    _compiled, data_dir, new_base, config, keys, pool
                )
                data.install(snapshot)
                data.version, base, offset = version, new_base, new_offset  # only once it serves the new one
            while True:  # the journal's news, a bounded read at a time, serving in between
                deltas, offset = published.read_deltas(data_dir, base, offset)
                if not deltas:
                    break
                for version, delta in deltas:
                    data.apply_keys(delta, version)  # every line of this base's journal, once, in order
                    await asyncio.sleep(0)
        except (OSError, ValueError, CompileError):
            log.exception("keeping config version %d: the published one cannot be served", data.version)
    await runner.cleanup()
    await pool.close()
    usage.close()
    limiter.close()
    budgets.close()


def _compiled(
    data_dir: Path, base: int, config: GatewayConfig, keys: Iterator[KeyEntry], pool: UpstreamPool
) -> tuple[Snapshot, int, int]:
    """The published config compiled with every key delta already in its journal applied, so it is never served
    half applied: the snapshot, the version it then is, and the journal offset read up to."""
    snapshot = compile_snapshot(config, base, pool, keys)
    version, offset = base, 0
    while True:
        deltas, offset = published.read_deltas(data_dir, base, offset)
        if not deltas:
            return snapshot, version, offset
        for version, delta in deltas:  # noqa: B007 - the last one's is the version
            snapshot.keys.apply(delta)


def main() -> None:
    parser = argparse.ArgumentParser(description="lockgate data-plane worker (started by `lockgate serve`)")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_process()
    asyncio.run(_run_until_signalled(args.data_dir, args.host, args.port))


async def _run_until_signalled(data_dir: Path, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_worker(data_dir, host, port, stop)


if __name__ == "__main__":
    main()
