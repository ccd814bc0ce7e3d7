"""The control plane: every change is validated, compiled and stored as one unit, then swapped into the data plane.

A rejected change (invalid entity, broken reference, unresolvable secret, store failure) leaves both the store and
the running snapshot untouched.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, cast

from lockgate.gateway_runtime.config_file import ConfigFileError, load_config_file
from lockgate.gateway_runtime.control.store import Row, Store
from lockgate.gateway_runtime.control.usage_drain import UsageDrain
from lockgate.gateway_runtime.data.proxy import DataPlane
from lockgate.gateway_runtime.data.snapshot import CompileError, Snapshot, compile_snapshot
from lockgate.gateway_runtime.data.upstream import UpstreamPool
from lockgate.gateway_runtime.data.usage_log import UsageLog
from lockgate.sdk import (
    ENTITY_KINDS,
    ApiKey,
    ApiKeyCreate,
    Consumer,
    ConsumerGroup,
    ConsumerUsage,
    GatewayConfig,
    GatewaySettings,
    LlmUpstream,
    Route,
    UsageRecord,
    find_problems,
)
from lockgate.sdk.config import EntityKind, referrers
from lockgate.sdk.kinds import KINDS

KEY_PREFIX = "lg-"
EntitySpec = LlmUpstream | Route | ConsumerGroup | Consumer | ApiKey


class ChangeRejected(Exception):
    """A change that would break the config. `status` is the HTTP status; `field` the offending path."""

    def __init__(self, status: int, message: str, field: list[str | int] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    created_at: float
    updated_at: float
    spec: EntitySpec

    def record(self) -> dict[str, Any]:
        body = self.spec.model_dump(mode="json")
        body.pop("key_sha256", None)
        return {"id": self.id, "created_at": self.created_at, "updated_at": self.updated_at, **body}


State = dict[str, dict[str, Entity]]


class ControlPlane:
    def __init__(
        self, store: Store, data: DataPlane, state: State, settings: GatewaySettings, read_only: bool, data_dir: Path
    ) -> None:
        self.store, self.data, self.state, self.settings = store, data, state, settings
        self.read_only, self.data_dir = read_only, data_dir
        self.flush_usage = UsageDrain(data_dir, store.path)  # adds every data plane's usage log up into the store
        self.config_file: Path | None = None  # DB-less: the declarative file, re-read by `reload`
        self.version = data.snapshot.version
        self.on_change: list[Callable[[ControlPlane], None]] = []

    @classmethod
    def start(
        cls,
        store: Store,
        declared: GatewayConfig | None,
        pool: UpstreamPool,
        data_dir: Path,
        config_file: Path | None = None,
    ) -> ControlPlane:
        """From the store (or, DB-less, a declarative config): compile the first snapshot; fail loudly if broken.

        In DB-less mode the store still keeps usage; entities come from the file and cannot be changed. Usage logs
        (this process's and its workers') live in DATA_DIR/usage."""
        state: State = {kind: {} for kind in ENTITY_KINDS}
        settings = GatewaySettings()
        if declared is not None:
            state, settings = _declared_state(declared)
        else:
            saved = store.settings()
            settings = GatewaySettings.model_validate(saved) if saved else settings
            for row in store.rows():
                state[row.kind][row.name] = Entity(
                    row.id,
                    row.created_at,
                    row.updated_at,
                    cast(EntitySpec, KINDS[row.kind].model.model_validate(row.body)),  # type: ignore[index]
                )
        # versions only grow, across restarts too: workers (and later remote data planes) keep the newest they see
        version = store.version() + 1
        snapshot = compile_snapshot(_config(state, settings), version, pool)
        store.commit([], [], version=version)
        data = DataPlane(snapshot, pool, UsageLog(data_dir))
        control = cls(store, data, state, settings, declared is not None, data_dir)
        control.config_file = config_file
        return control

    def config(self) -> GatewayConfig:
        return _config(self.state, self.settings)

    def reload(self) -> None:
        """DB-less: read the config file again and serve it, atomically; a file that cannot be served is refused
        whole (ChangeRejected naming the field) and the running config stays."""
        if self.config_file is None:
            raise ChangeRejected(409, "this gateway keeps its config in its store: there is no file to reload")
        try:
            declared = load_config_file(self.config_file)
        except ConfigFileError as exc:
            raise ChangeRejected(422, str(exc)) from None
        state, settings = _declared_state(declared)
        try:
            snapshot = compile_snapshot(_config(state, settings), self.version + 1, self.data.pool)
        except CompileError as exc:
            raise ChangeRejected(422, f"{self.config_file}: {exc.problem}") from None
        self.store.commit([], [], version=snapshot.version)
        self.state, self.settings = state, settings
        self._install(snapshot)

    # -- changes ---------------------------------------------------------------------------------------------
    def create(self, kind: EntityKind, spec: EntitySpec) -> Entity:
        name = spec.name
        if name in self.state[kind]:
            raise ChangeRejected(
                409, f"{_singular(kind)} {name!r} already exists; update it or pick another name", ["name"]
            )
        now = time.time()
        entity = Entity(str(uuid.uuid4()), now, now, spec)
        self._apply(kind, lambda entities: entities.__setitem__(name, entity))
        return entity

    def create_api_key(self, request: ApiKeyCreate) -> tuple[Entity, str]:
        key = request.key or KEY_PREFIX + secrets.token_urlsafe(32)
        digest = hashlib.sha256(key.encode()).hexdigest()
        if any(getattr(e.spec, "key_sha256", None) == digest for e in self.state["api_keys"].values()):
            raise ChangeRejected(409, "this key is already in use by another API key; pick another key", ["key"])
        spec = ApiKey(name=request.name, consumer=request.consumer, key_sha256=digest, key_prefix=key[:6])
        return self.create("api_keys", spec), key

    def update(self, kind: EntityKind, name: str, spec: EntitySpec) -> Entity:
        current = self._get(kind, name)
        if spec.name != name:
            raise ChangeRejected(
                400, f"name {spec.name!r} does not match the URL's {name!r}; names cannot change", ["name"]
            )
        entity = replace(current, spec=spec, updated_at=time.time())
        self._apply(kind, lambda entities: entities.__setitem__(name, entity))
        return entity

    def delete(self, kind: EntityKind, name: str) -> None:
        self._get(kind, name)
        users = referrers(self.config(), kind, name)
        if users:
            raise ChangeRejected(
                409, f"{_singular(kind)} {name!r} is still used by {', '.join(users)}; change those first"
            )
        self._apply(kind, lambda entities: entities.pop(name))

    def get(self, kind: EntityKind, name: str) -> Entity:
        return self._get(kind, name)

    def _get(self, kind: EntityKind, name: str) -> Entity:
        entity = self.state[kind].get(name)
        if entity is None:
            raise ChangeRejected(404, f"{_singular(kind)} {name!r} does not exist")
        return entity

    def update_settings(self, settings: GatewaySettings) -> GatewaySettings:
        self._check_writable()
        snapshot = self._compile(_config(self.state, settings))
        self.store.commit([], [], settings.model_dump(mode="json"), snapshot.version)
        self.settings = settings
        self._install(snapshot)
        return settings

    def _check_writable(self) -> None:
        if self.read_only:
            raise ChangeRejected(
                405, "this gateway serves a declarative config file (DB-less): change the file instead"
            )

    def _apply(self, kind: EntityKind, mutate: Callable[[dict[str, Entity]], object]) -> None:
        self._check_writable()
        candidate = dict(self.state)
        candidate[kind] = dict(self.state[kind])
        mutate(candidate[kind])
        config = _config(candidate, self.settings)
        problems = find_problems(config)
        if problems:
            problem = problems[0]
            raise ChangeRejected(422, problem.message, list(problem.loc[2:]) or None)
        snapshot = self._compile(config)
        before, after = self.state[kind], candidate[kind]
        upserts = [_row(kind, n, e) for n, e in after.items() if before.get(n) is not e]
        deletes: list[tuple[str, str]] = [(kind, n) for n in before if n not in after]
        self.store.commit(upserts, deletes, version=snapshot.version)
        self.state = candidate
        self._install(snapshot)

    def _install(self, snapshot: Snapshot) -> None:
        self.version = snapshot.version
        self.data.install(snapshot)
        for listener in self.on_change:
            listener(self)

    def _compile(self, config: GatewayConfig) -> Snapshot:
        try:
            return compile_snapshot(config, self.version + 1, self.data.pool)
        except CompileError as exc:
            raise ChangeRejected(422, exc.problem.message, list(exc.problem.loc[2:])) from None

    # -- usage -----------------------------------------------------------------------------------------------
    def usage(self, consumer: str) -> ConsumerUsage:
        """What the store holds for `consumer`; call `flush_usage` first (off the event loop) for up-to-date totals."""
        self.get("consumers", consumer)
        (requests, prompt, completion, total), recent = self.store.usage(consumer)
        fields = ("at", "route", "model", "stream", "status", "prompt_tokens", "completion_tokens", "total_tokens")
        return ConsumerUsage(
            consumer=consumer,
            requests=requests,
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=total,
            recent=[
                UsageRecord.model_validate({**dict(zip(fields, r, strict=True)), "stream": bool(r[3])}) for r in recent
            ],
        )


def _declared_state(declared: GatewayConfig) -> tuple[State, GatewaySettings]:
    """Entities from a declarative config, with ids that stay the same across reloads."""
    now = time.time()
    state: State = {kind: {} for kind in ENTITY_KINDS}
    for kind in ENTITY_KINDS:
        for spec in getattr(declared, kind):
            state[kind][spec.name] = Entity(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{spec.name}")), now, now, spec)
    return state, declared.gateway


def _config(state: State, settings: GatewaySettings) -> GatewayConfig:
    lists: dict[str, Any] = {kind: [e.spec for e in state[kind].values()] for kind in ENTITY_KINDS}
    return GatewayConfig.model_construct(gateway=settings, **lists)


def _row(kind: str, name: str, entity: Entity) -> Row:
    return Row(kind, name, entity.id, entity.created_at, entity.updated_at, entity.spec.model_dump(mode="json"))


def _singular(kind: EntityKind) -> str:
    return KINDS[kind].singular
