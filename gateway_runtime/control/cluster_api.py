"""The control plane's cluster endpoint (`--cluster-port`): data planes fetch their config and hand in their usage.

Every call carries the cluster token (`Authorization: Bearer ...`); it is not the admin token and opens nothing of
the admin API. The wire format is in docs/cluster.md:

    POST /cluster/v1/sync    the data plane's report (JSON) -> the published files' bytes it does not have yet
                             (long poll: answered as soon as there is news, or 204 after `wait_s`)
    POST /cluster/v1/usage   a data plane's usage log bytes from an offset -> the offset now added up

The published files (published.py) are sent as they are, so a data plane stores exactly what local workers read.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import orjson
from aiohttp import web
from lockgate.gateway_runtime import published
from lockgate.gateway_runtime.control.sinks import PublishedFiles
from lockgate.gateway_runtime.control.store import Store
from lockgate.gateway_runtime.control.usage_drain import add_lines
from lockgate.sdk.api import DataPlaneReport, DataPlanes, DataPlaneState, DataPlaneStatus
from lockgate.sdk.problems import problems_of
from pydantic import ValidationError

log = logging.getLogger("lockgate.cluster")
MAX_WAIT_S = 30.0
MAX_REPORT_BYTES = 64 << 10
MAX_USAGE_BYTES = 8 << 20
CHUNK = 1 << 20
LOST_AFTER_S = 3 * MAX_WAIT_S  # a data plane that has not asked for this long is reported lost
FORGET_AFTER_S = 10 * 60  # and after this long it is gone (scaled down, replaced): no longer listed


class Reports:
    """Who has synced, what they serve and when they were last seen (in memory: they report again within
    `wait_s` of a control plane's restart)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[DataPlaneReport, float]] = {}

    def saw(self, report: DataPlaneReport) -> None:
        self._seen[report.id] = (report, time.time())

    def statuses(self, version: int, head: str) -> list[DataPlaneStatus]:
        now = time.time()
        for gone in [id for id, (_, seen) in self._seen.items() if now - seen > FORGET_AFTER_S]:
            del self._seen[gone]
        out = []
        for report, seen in sorted(self._seen.values(), key=lambda item: item[0].id):
            state: DataPlaneState
            if now - seen > LOST_AFTER_S:
                state = "lost"
            elif report.error:
                state = "error"
            else:
                state = "in_sync" if report.version == version and report.config_hash == head else "behind"
            out.append(DataPlaneStatus(**report.model_dump(), last_seen=seen, state=state))
        return out


class Cluster:
    def __init__(self, files: PublishedFiles, store_path: Path, token: str) -> None:
        self.files, self.token, self.reports = files, token, Reports()
        self._store = Store(store_path)  # its own connection: usage is added up in a thread, one batch at a time
        self._adding = threading.Lock()
        self._news = asyncio.Event()
        loop = asyncio.get_running_loop()

        def wake() -> None:  # called in the thread that published
            loop.call_soon_threadsafe(self._wake)

        files.on_publish.append(wake)

    def _wake(self) -> None:
        self._news.set()
        self._news = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._authorized], client_max_size=MAX_USAGE_BYTES + CHUNK)
        app.router.add_post("/cluster/v1/sync", self.sync)
        app.router.add_post("/cluster/v1/usage", self.usage)
        return app

    def close(self) -> None:
        self._store.close()

    def listing(self, version: int) -> DataPlanes:
        """`GET /data-planes`: the control plane's version and what every data plane reported."""
        head = self.files.head
        return DataPlanes(config_version=version, config_hash=head, data_planes=self.reports.statuses(version, head))

    @web.middleware
    async def _authorized(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return _error(
                401,
                "the cluster token is missing or wrong: give the data plane the control plane's "
                "DATA_DIR/cluster-token (--cluster-token-file)",
                "invalid_cluster_token",
            )
        return await handler(request)

    # -- config ----------------------------------------------------------------------------------------------
    async def sync(self, request: web.Request) -> web.StreamResponse:
        if (request.content_length or 0) > MAX_REPORT_BYTES:
            return _error(413, f"a report is at most {MAX_REPORT_BYTES} bytes", "report_too_large")
        try:
            report = DataPlaneReport.model_validate_json(await request.read())
        except ValidationError as exc:
            problem = problems_of(exc.errors(), DataPlaneReport)[0]
            return _error(400, f"the data plane's report is not valid: {problem}", "invalid_report")
        self.reports.saw(report)
        have = published.Position(report.base, report.config_hash, report.offset, report.epoch)
        deadline = time.monotonic() + min(report.wait_s, MAX_WAIT_S)
        while True:
            news = self._news
            answer = await asyncio.to_thread(_news_for, self.files.data_dir, have, report.refused)
            if answer is not None:
                return await self._send(request, *answer)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return web.Response(status=204)
            try:
                await asyncio.wait_for(news.wait(), remaining)
            except TimeoutError:
                return web.Response(status=204)

    async def _send(
        self, request: web.Request, at: published.Position, full: bytes | None, journal: bytes
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "application/jsonl",
                "Lockgate-Base": str(at.base),
                "Lockgate-Config-Hash": at.head,
                "Lockgate-Epoch": at.epoch,
                "Lockgate-Offset": str(at.offset),
                "Lockgate-Published-Bytes": str(len(full) if full is not None else -1),
            }
        )
        await response.prepare(request)
        for part in (full or b"", journal):
            for start in range(0, len(part), CHUNK):
                await response.write(part[start : start + CHUNK])
        await response.write_eof()
        return response

    # -- usage -----------------------------------------------------------------------------------------------
    def _add(self, file: str, start: int, lines: bytes) -> tuple[bool, int]:
        with self._adding:
            return add_lines(self._store, file, start, lines)

    async def usage(self, request: web.Request) -> web.Response:
        body = await request.read()
        head, _, lines = body.partition(b"\n")
        try:
            meta = orjson.loads(head)
            file, start = f"{meta['data_plane']}/{meta['file']}", int(meta["start"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return _error(400, 'the first line must be {"data_plane", "file", "start"}', "invalid_usage")
        added, offset = await asyncio.to_thread(self._add, file, start, lines)
        return web.json_response({"offset": offset}, status=200 if added else 409)


def _news_for(
    data_dir: Path, have: published.Position, refused: int | None
) -> tuple[published.Position, bytes | None, bytes] | None:
    """What a data plane at `have` lacks: (the position after, the whole config or None, journal bytes), or None
    when it is up to date (or refused the config now published; it waits for the next)."""
    while True:
        try:
            with open(data_dir / published.FILE, "rb") as source:
                head = source.readline()
                parsed = orjson.loads(head)
                base, digest, epoch = int(parsed["version"]), str(parsed["hash"]), str(parsed.get("epoch", ""))
                if base == refused and have.base != base:
                    return None  # it could not serve this one and holds nothing of it: wait for the next
                same = (base, digest, epoch) == (have.base, have.head, have.epoch)
                full = None if same else head + source.read()
                with open(published.journal(data_dir, base), "rb") as journal:
                    journal.seek(have.offset if same else 0)
                    lines = journal.read()
        except FileNotFoundError:
            if (data_dir / published.FILE).exists():
                continue  # a newer config was published meanwhile: read that one
            return None
        lines = lines[: lines.rfind(b"\n") + 1]
        if full is None and not lines:
            return None
        return published.Position(base, digest, (have.offset if same else 0) + len(lines), epoch), full, lines


def _error(status: int, message: str, code: str) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "cluster_error", "code": code}}, status=status)
