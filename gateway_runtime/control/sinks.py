"""Where the control plane serves each version it stores: its snapshot sinks.

- `InProcess`: the data plane in this process (standalone `lockgate serve`). It compiles every config before the
  change is stored, so a config this gateway cannot serve (a secret reference that does not resolve) is refused.
- `PublishedFiles`: DATA_DIR/published.json and its key-delta journal (published.py), read by local `--workers` and
  served by the cluster endpoint to remote data planes, which compile (and may refuse) it themselves.

A change is prepared by every sink first (any may refuse it), stored, then installed by each; a change to consumers
and keys only reaches them as a key delta.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Protocol

from lockgate.gateway_runtime import published
from lockgate.gateway_runtime.data.identities import KeyDelta, KeyEntry
from lockgate.gateway_runtime.data.proxy import DataPlane
from lockgate.gateway_runtime.data.snapshot import compile_snapshot
from lockgate.sdk import GatewayConfig

Install = Callable[[], Awaitable[None]]


class SnapshotSink(Protocol):
    async def prepare(self, config: GatewayConfig, version: int) -> Install:
        """Get ready to serve `config` as `version` (off the event loop); raise CompileError to refuse it.
        The result, called once the change is stored, serves it."""
        ...

    async def apply_keys(self, delta: KeyDelta, version: int) -> None:
        """Serve a stored change to consumers and keys only."""
        ...


class InProcess:
    def __init__(self, data: DataPlane) -> None:
        self.data = data

    async def prepare(self, config: GatewayConfig, version: int) -> Install:
        pool = self.data.pool
        pool.open_sessions(config.upstreams)  # on the loop (aiohttp sessions belong to it); the compile off it
        snapshot = await asyncio.to_thread(compile_snapshot, config, version, pool)

        async def install() -> None:
            self.data.install(snapshot)

        return install

    async def apply_keys(self, delta: KeyDelta, version: int) -> None:
        await asyncio.to_thread(self.data.apply_keys, delta, version)


class PublishedFiles:
    """The published files in `data_dir`; `keys()` lists the state's keys when a whole config is published.
    `on_publish` callbacks run (in a thread) after each write: the cluster endpoint wakes its waiting data planes."""

    def __init__(self, data_dir: Path, keys: Callable[[], Iterable[KeyEntry]]) -> None:
        self.data_dir, self.keys = data_dir, keys
        self.base = 0  # the version of the whole config last published: key deltas go to its journal
        self.head = ""  # its head hash (what data planes report as config_hash)
        self.on_publish: list[Callable[[], None]] = []

    def publish(self, config: GatewayConfig, version: int) -> None:
        self.head = published.publish(self.data_dir, config, version, self.keys())
        self.base = version
        self._published()

    async def prepare(self, config: GatewayConfig, version: int) -> Install:
        async def install() -> None:
            await asyncio.to_thread(self.publish, config, version)

        return install

    async def apply_keys(self, delta: KeyDelta, version: int) -> None:
        def append() -> None:
            published.append_delta(self.data_dir, self.base, version, delta)
            self._published()

        await asyncio.to_thread(append)

    def _published(self) -> None:
        for callback in self.on_publish:
            callback()
