"""`lockgate serve --role data-plane`: the proxy alone, fed by a control plane's cluster endpoint.

- `ConfigSync` long-polls the control plane (docs/cluster.md) and keeps its published files in DATA_DIR, the same
  files local workers read (published.py). A whole config is written aside, checked (it parses, every key parses,
  every secret reference resolves here) and only then moved into place; one that fails is refused whole, reported
  at the next sync, and the previous one keeps serving. Key deltas are checked, then appended to the journal.
- What is in DATA_DIR is the last-known-good config: a data plane started while its control plane is away serves
  it; one that has none does not listen until its first config arrives (it never serves an empty config).
- `UsageShipper` hands the workers' usage logs (DATA_DIR/usage) to the control plane, from the offset the control
  plane has added up to, so a record counts once however often it is sent; a log is removed once it is added up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
from lockgate.gateway_runtime import published
from lockgate.gateway_runtime.data.identities import KeyDelta, KeyEntry
from lockgate.gateway_runtime.data.snapshot import CompileError, resolve_secrets
from lockgate.gateway_runtime.data.usage_log import DIRECTORY, held, read_records, written
from lockgate.sdk import GatewayConfig
from lockgate.sdk.api import DataPlaneReport
from pydantic import ValidationError

log = logging.getLogger("lockgate.data_plane")
logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per sync
WAIT_S = 15.0
RETRY_S = (0.2, 0.5, 1.0, 2.0)  # between failed syncs, then the last again and again
USAGE_INTERVAL_S = 1.0
USAGE_BATCH_BYTES = 4 << 20


class Refused(ValueError):
    """The control plane's config cannot be served here: the message says why. `keys_only` is its consumers and
    keys when they can still be taken (the routes, upstreams and settings are what could not)."""

    def __init__(self, message: str, keys_only: bytes | None = None) -> None:
        super().__init__(message)
        self.keys_only = keys_only


def data_plane_id(data_dir: Path) -> str:
    """This data plane's id, made once and kept in DATA_DIR (a restarted container is the same data plane)."""
    path = data_dir / "data-plane-id"
    if not path.exists():
        path.write_text(f"{socket.gethostname()}-{secrets.token_hex(4)}")
    return path.read_text().strip()


@dataclass
class SyncState:
    at: published.Position
    version: int  # the last version it holds (its base, or the journal's last line)
    refused: int | None = None
    error: str | None = None
    last_sync: float | None = None  # when the control plane last answered
    reachable: bool = False


class ConfigSync:
    def __init__(self, control_plane: str, token: str, data_dir: Path, name: str | None) -> None:
        self.url = control_plane.rstrip("/") + "/cluster/v1/sync"
        self.token, self.data_dir, self.name = token, data_dir, name
        self.id = data_plane_id(data_dir)
        self.state = SyncState(*_held_position(data_dir))
        self.news = asyncio.Event()  # set when new files are in place: a worker in this process looks at once

    def report(self) -> DataPlaneReport:
        s = self.state
        return DataPlaneReport(
            id=self.id,
            name=self.name,
            hostname=socket.gethostname(),
            version=s.version,
            config_hash=s.at.head,
            base=s.at.base,
            offset=s.at.offset,
            epoch=s.at.epoch,
            refused=s.refused,
            error=s.error,
            wait_s=WAIT_S,
        )

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        async with httpx.AsyncClient(timeout=httpx.Timeout(WAIT_S + 10, connect=3.0)) as client:
            while not stop.is_set():
                try:
                    response = await client.post(self.url, content=self.report().model_dump_json(), headers=headers)
                    if response.status_code == 200:
                        await asyncio.to_thread(self._take, response)
                        self.news.set()
                    elif response.status_code != 204:
                        raise httpx.HTTPStatusError(_message(response), request=response.request, response=response)
                except Exception as exc:
                    if not isinstance(exc, httpx.HTTPError):
                        log.exception("the config sync failed; serving config version %d meanwhile", self.state.version)
                    elif self.state.reachable or failures == 0:
                        log.warning(
                            "control plane %s: %s; serving config version %d meanwhile",
                            self.url,
                            exc,
                            self.state.version,
                        )
                    self.state.reachable = False
                    await _sleep(stop, RETRY_S[min(failures, len(RETRY_S) - 1)])
                    failures += 1
                    continue
                if not self.state.reachable:
                    log.info("control plane %s reached; config version %d", self.url, self.state.version)
                failures, self.state.reachable, self.state.last_sync = 0, True, time.time()

    def _take(self, response: httpx.Response) -> None:
        """Check and store what the control plane sent (in a thread: whole configs can be large)."""
        at = published.Position(
            int(response.headers["Lockgate-Base"]),
            response.headers["Lockgate-Config-Hash"],
            int(response.headers["Lockgate-Offset"]),
            response.headers.get("Lockgate-Epoch", ""),
        )
        cut = int(response.headers["Lockgate-Published-Bytes"])
        body = response.content
        try:
            if cut < 0:
                version = self._append(at, body)
            else:
                version = self._install_whole(at, body[:cut], body[cut:])
                self.state.refused = self.state.error = None
        except Refused as exc:
            log.error(
                "refused config version %d from the control plane: %s; still serving version %d",
                at.base,
                exc,
                self.state.version,
            )
            self.state.refused, self.state.error = at.base, str(exc)
            if exc.keys_only is None:
                return
            version = self._install_keys_only(at, exc.keys_only, body[cut:])
        self.state.at, self.state.version = at, version

    def _install_whole(self, at: published.Position, whole: bytes, journal: bytes) -> int:
        head, _, keys = whole.partition(b"\n")
        try:
            config = GatewayConfig.model_validate(orjson.loads(head)["config"])
            for line in keys.splitlines():
                KeyEntry.from_json(orjson.loads(line))
        except (ValidationError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise Refused(f"the published config does not parse: {str(exc)[:300]}") from None
        version = _last_version(journal, at.base)
        try:
            resolve_secrets(config)
        except CompileError as exc:
            # its routes, upstreams and settings cannot be served here; its consumers and keys can, and must be
            # (a key revoked since must stop working here too), beside the routes that keep serving
            raise Refused(str(exc.problem), keys if self.state.version else None) from None
        self._install(at, whole, journal)
        log.info("installed config version %d (whole; hash %s)", version, at.head)
        return version

    def _install_keys_only(self, at: published.Position, keys: bytes, journal: bytes) -> int:
        """The config served so far with the refused one's keys and journal, at the refused one's position (so
        its key deltas keep coming). The head says so: a restart tries the whole config again."""
        with open(self.data_dir / published.FILE, "rb") as source:
            served = orjson.loads(source.readline())
        head = {**served, "version": at.base, "hash": at.head, "epoch": at.epoch, "refused": self.state.error}
        self._install(at, orjson.dumps(head) + b"\n" + keys, journal)
        log.warning("serving the previous routes and upstreams with config version %d's consumers and keys", at.base)
        return _last_version(journal, at.base)

    def _install(self, at: published.Position, whole: bytes, journal: bytes) -> None:
        """Journal, then config, each written aside and renamed into place (a worker reads a whole one or the
        other, never one half written)."""
        target = published.journal(self.data_dir, at.base)
        incoming = target.with_suffix(".incoming")
        incoming.write_bytes(journal)
        os.replace(incoming, target)
        config = self.data_dir / (published.FILE + ".incoming")
        config.write_bytes(whole)
        published.install(self.data_dir, config, at.base)

    def _append(self, at: published.Position, journal: bytes) -> int:
        version = _last_version(journal, self.state.version)
        with open(published.journal(self.data_dir, at.base), "r+b") as out:
            out.truncate(self.state.at.offset)  # whatever an append that failed half way left is not ours
            out.seek(self.state.at.offset)
            out.write(journal)
        return version


def _last_version(journal: bytes, default: int) -> int:
    """The version of the journal's last line, each line checked (a bad one refuses them all)."""
    version = default
    try:
        for line in journal.splitlines():
            raw = orjson.loads(line)
            KeyDelta.from_json(raw)
            version = int(raw["version"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise Refused(f"a key delta does not parse: {str(exc)[:300]}") from None
    return version


def _held_position(data_dir: Path) -> tuple[published.Position, int]:
    """What DATA_DIR holds from an earlier run: its position and last version (a torn last line is cut off). A
    config that was served with a refused one's keys reports no epoch: the control plane sends the refused config
    whole again and it is tried again (the environment may have changed with the restart)."""
    at = published.position(data_dir)
    if at == published.NOTHING:
        return at, 0
    path = published.journal(data_dir, at.base)
    data = path.read_bytes()
    whole = data[: data.rfind(b"\n") + 1]
    if len(whole) != len(data):
        with open(path, "r+b") as out:
            out.truncate(len(whole))
    with open(data_dir / published.FILE, "rb") as source:
        refused = "refused" in orjson.loads(source.readline())
    epoch = "" if refused else at.epoch
    return published.Position(at.base, at.head, len(whole), epoch), _last_version(whole, at.base)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class UsageShipper:
    def __init__(self, control_plane: str, token: str, data_dir: Path, data_plane: str) -> None:
        self.url = control_plane.rstrip("/") + "/cluster/v1/usage"
        self.headers = {"Authorization": f"Bearer {token}"}
        self.directory, self.data_plane = data_dir / DIRECTORY, data_plane
        self.offsets: dict[str, int] = {}  # how far the control plane has added each file up (0 until it says)

    async def run(self, stop: asyncio.Event) -> None:
        with httpx.Client(timeout=10.0) as client:
            while not stop.is_set():
                await _sleep(stop, USAGE_INTERVAL_S)
                try:
                    await asyncio.to_thread(self.ship, client)
                except (httpx.HTTPError, OSError) as exc:
                    log.debug("usage not handed in yet (%s); the logs keep it", exc)

    def ship_now(self) -> None:
        """One last hand-in at shutdown; what does not get through stays in the logs for the next start."""
        try:
            with httpx.Client(timeout=3.0) as client:
                self.ship(client)
        except (httpx.HTTPError, OSError):
            log.info("usage not handed in at shutdown: it stays in %s for the next start", self.directory)

    def ship(self, client: httpx.Client) -> None:
        """Send every log's records the control plane has not added up; remove the logs it has, once finished."""
        if not self.directory.is_dir():
            return
        for path in sorted(self.directory.glob("*.log")):
            start = self.offsets.get(path.name, 0)
            while data := read_records(path, start, USAGE_BATCH_BYTES):
                head = orjson.dumps({"data_plane": self.data_plane, "file": path.name, "start": start})
                response = client.post(self.url, content=head + b"\n" + data, headers=self.headers)
                if response.status_code not in (200, 409):  # 409: it had read up to elsewhere; go on from there
                    raise httpx.HTTPStatusError(_message(response), request=response.request, response=response)
                start = self.offsets[path.name] = int(response.json()["offset"])
            if start >= written(path) and not held(path):
                os.unlink(path)
                self.offsets.pop(path.name, None)
