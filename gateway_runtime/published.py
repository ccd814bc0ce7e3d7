"""What the control plane publishes for data-plane workers, in DATA_DIR:

- `published.json`: a whole config and its version, replaced atomically when routes, upstreams, groups or settings
  change (workers recompile it). JSON Lines: the first line is the version and the config without its consumers and
  API keys, each further line one key as the key table holds it (`KeyEntry`), so a worker reads 1,000,000 keys one
  line at a time and never holds them as models;
- `published-V.deltas`: the key deltas made since version V was published, appended one JSON line per version
  (workers apply them in place: a change to k consumers costs O(k) in every worker). Each full publish starts a new
  journal and removes the old one.

Workers poll both, and keep serving the last good config if a new one cannot be compiled. A remote data plane keeps
a copy of both in its own DATA_DIR (the cluster endpoint sends the bytes as they are: cluster.md), so its workers read
it the same way, and it is the last-known-good config it serves from when it starts while the control plane is away.
A position in them is (base, config hash, journal offset); the hash also tells two configs published under the
same version apart (a control plane that lost its store).
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import orjson
from lockgate.gateway_runtime.data.identities import KeyDelta, KeyEntry
from lockgate.sdk import GatewayConfig

FILE = "published.json"
KEYS_PER_LINE = 10_000
READ_BYTES = 8 << 20


class Position(NamedTuple):
    base: int  # the version of the whole config
    head: str  # its config hash (`config_hash`)
    offset: int  # bytes of its journal, whole lines only
    epoch: str = ""  # random per publish: a journal belongs to one publish, whatever its version and hash


NOTHING = Position(0, "", 0)


def journal(data_dir: Path, version: int) -> Path:
    return data_dir / f"published-{version}.deltas"


def config_hash(dumped: dict[str, object]) -> str:
    """The hash of a published config (consumers and keys aside): the same config has the same hash whatever its
    version, so two gateways (or a gateway before and after a restart) can be compared."""
    return hashlib.sha256(orjson.dumps(dumped, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def publish(data_dir: Path, config: GatewayConfig, version: int, keys: Iterable[KeyEntry]) -> str:
    """Publish a whole config; answers its config hash."""
    dumped = config.model_dump(mode="json", exclude={"consumers", "api_keys"})
    digest = config_hash(dumped)
    head = orjson.dumps({"version": version, "hash": digest, "epoch": secrets.token_hex(8), "config": dumped})
    journal(data_dir, version).touch()
    temporary = (data_dir / FILE).with_suffix(".tmp")
    with open(temporary, "wb") as out:
        out.write(head + b"\n")
        for entry in keys:
            out.write(orjson.dumps(entry.to_json()) + b"\n")
    install(data_dir, temporary, version)
    return digest


def install(data_dir: Path, written: Path, version: int) -> None:
    """Make `written` (a whole config of `version`, its journal already in place) the published one, atomically."""
    os.replace(written, data_dir / FILE)
    for old in data_dir.glob("published-*.deltas"):
        if old != journal(data_dir, version):
            old.unlink(missing_ok=True)


def position(data_dir: Path) -> Position:
    """Where the published files in `data_dir` stand (NOTHING if there are none)."""
    try:
        with open(data_dir / FILE, "rb") as source:
            head = orjson.loads(source.readline())
        base = int(head["version"])
        size = journal(data_dir, base).stat().st_size
    except (OSError, ValueError, KeyError, TypeError):
        return NOTHING
    return Position(base, str(head["hash"]), size, str(head.get("epoch", "")))


def append_delta(data_dir: Path, base: int, version: int, delta: KeyDelta) -> None:
    """Add the delta that makes `version` to the journal of the config published as `base`, KEYS_PER_LINE keys a
    line (a worker reads and applies a 1,000,000-key batch a line at a time; lines apply in order, so a delta split
    over several is the same delta)."""
    with open(journal(data_dir, base), "ab") as out:
        for part in _parts(delta):
            out.write(orjson.dumps({"version": version, **part.to_json()}) + b"\n")  # one write per line


def _parts(delta: KeyDelta) -> Iterator[KeyDelta]:
    for start in range(0, len(delta.drop), KEYS_PER_LINE):
        yield KeyDelta(drop=delta.drop[start : start + KEYS_PER_LINE])
    for start in range(0, len(delta.put), KEYS_PER_LINE):
        yield KeyDelta(put=delta.put[start : start + KEYS_PER_LINE])
    if not delta.drop and not delta.put:
        yield delta  # still a line: it carries the version


def read(data_dir: Path) -> tuple[int, GatewayConfig, Iterator[KeyEntry]]:
    """The published version, config (no consumers or keys) and its keys, read as they are consumed."""
    source = open(data_dir / FILE, "rb")  # noqa: SIM115 - closed by `keys` once read
    head = orjson.loads(source.readline())

    def keys() -> Iterator[KeyEntry]:
        with source:
            for line in source:
                yield KeyEntry.from_json(orjson.loads(line))

    return int(head["version"]), GatewayConfig.model_validate(head["config"]), keys()


def read_deltas(data_dir: Path, base: int, offset: int) -> tuple[list[tuple[int, KeyDelta]], int]:
    """The deltas in base's journal from byte `offset` on (about READ_BYTES of them at a time, whole lines only), and
    the offset after the last line read."""
    try:
        with open(journal(data_dir, base), "rb") as source:
            source.seek(offset)
            chunk = source.read(READ_BYTES)
            while chunk and b"\n" not in chunk and len(more := source.read(READ_BYTES)) > 0:
                chunk += more  # one line longer than READ_BYTES
    except FileNotFoundError:
        return [], offset  # a newer config was published: the caller sees it at its next look
    end = chunk.rfind(b"\n") + 1
    deltas = []
    for line in chunk[:end].splitlines():
        raw = orjson.loads(line)
        deltas.append((int(raw["version"]), KeyDelta.from_json(raw)))
    return deltas, offset + end


def stamp(data_dir: Path) -> tuple[int, int, int]:
    """Changes whenever a new config is published (cheap enough to poll): each publish is a new file (a new
    inode), so two within one tick of the clock differ too. (0, 0, 0) when there is none."""
    try:
        status = (data_dir / FILE).stat()
    except FileNotFoundError:
        return (0, 0, 0)
    return (status.st_ino, status.st_mtime_ns, status.st_size)
