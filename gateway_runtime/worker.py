"""A data-plane worker process: serves the proxy port with SO_REUSEPORT beside its siblings.

It compiles the config the control plane publishes, recompiles it when it changes, applies the key deltas published
after it in place (published.py), counts limits in the shared table
and appends its usage to its own log in DATA_DIR/usage, which the control plane adds up. Started by
`lockgate serve --workers N`; not meant to be run by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from pathlib import Path

from aiohttp import web
from lockgate.gateway_runtime import published
from lockgate.gateway_runtime.data.proxy import DataPlane
from lockgate.gateway_runtime.data.shared_limits import LIMITS_FILE, SharedWindowLimiter
from lockgate.gateway_runtime.data.snapshot import CompileError, compile_snapshot
from lockgate.gateway_runtime.data.upstream import UpstreamPool
from lockgate.gateway_runtime.data.usage_log import UsageLog
from lockgate.gateway_runtime.process import prepare_process

log = logging.getLogger("lockgate.worker")
POLL_S = 0.25


async def run_worker(data_dir: Path, host: str, port: int) -> None:
    pool, usage = UpstreamPool(), UsageLog(data_dir)
    limiter = SharedWindowLimiter(data_dir / LIMITS_FILE)
    seen = published.stamp(data_dir)
    base, config, keys = published.read(data_dir)
    data = DataPlane(compile_snapshot(config, base, pool, keys), pool, usage, limiter)
    runner = web.ServerRunner(data.server(), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=2048, reuse_port=True).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    offset = 0
    while not stop.is_set():
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), POLL_S)
        current = published.stamp(data_dir)
        try:
            if current != seen:
                seen = current
                base, config, keys = published.read(data_dir)
                pool.open_sessions(config.upstreams)  # on the loop; the compile, O(keys), off it
                data.install(await asyncio.to_thread(compile_snapshot, config, base, pool, keys))
                offset = 0
            while True:  # the whole journal's news, a bounded read at a time, serving in between
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


def main() -> None:
    parser = argparse.ArgumentParser(description="lockgate data-plane worker (started by `lockgate serve`)")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    prepare_process()
    asyncio.run(run_worker(args.data_dir, args.host, args.port))


if __name__ == "__main__":
    main()
