"""The control plane: every change is checked against the state, stored as the next config version in one
transaction, then handed to its snapshot sinks (sinks.py): a change to consumers and keys only as a key delta applied
in place (O(what changed), off the event loop), anything else as a whole config.

Changes run one at a time, in order. A rejected change (invalid entity, broken reference, another owner's entity,
unresolvable secret, store failure) leaves both the store and the running data plane untouched.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import cast

import orjson
from lockgate.gateway_runtime.config_file import ConfigFileError, load_config_file
from lockgate.gateway_runtime.control.batch import RowProblem, generate_key, plan_batch
from lockgate.gateway_runtime.control.sinks import Install, SnapshotSink
from lockgate.gateway_runtime.control.state import Change, Entity, EntitySpec, State
from lockgate.gateway_runtime.control.store import Row, Store
from lockgate.gateway_runtime.control.usage_drain import UsageDrain
from lockgate.gateway_runtime.data.snapshot import CompileError
from lockgate.sdk import (
    ApiKey,
    ApiKeyCreate,
    Consumer,
    ConsumerUsage,
    GatewayConfig,
    GatewaySettings,
    Promotion,
    Promotions,
    UsageRecord,
    UsageReport,
    UsageRow,
)
from lockgate.sdk.batch import BatchResult, ConsumerRow, KeyRow
from lockgate.sdk.config import ENTITY_KINDS, EntityKind
from lockgate.sdk.kinds import KINDS


class ChangeRejected(Exception):
    """A change that would break the config. `status` is the HTTP status; `field` the offending path."""

    def __init__(self, status: int, message: str, field: list[str | int] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field = status, message, field


class ControlPlane:
    def __init__(
        self, store: Store, state: State, settings: GatewaySettings, version: int, read_only: bool, data_dir: Path
    ) -> None:
        self.store, self.state, self.settings, self.version = store, state, settings, version
        self.read_only, self.data_dir = read_only, data_dir
        self.flush_usage = UsageDrain(data_dir, store.path)  # adds every data plane's usage log up into the store
        self.config_file: Path | None = None  # DB-less: the declarative file, re-read by `reload`
        self.sinks: list[SnapshotSink] = []  # where each stored version is served (sinks.py), added by the server
        self._writing = asyncio.Lock()  # one change at a time, in the order they arrive
        self._hash: tuple[int, str] = (0, "")

    @classmethod
    def start(
        cls,
        store: Store,
        declared: GatewayConfig | None,
        data_dir: Path,
        config_file: Path | None = None,
    ) -> ControlPlane:
        """From the store (or, DB-less, a declarative config), as the next version; the caller serves it first.

        In DB-less mode the store still keeps usage; entities come from the file and cannot be changed. Usage logs
        (this process's and its workers') live in DATA_DIR/usage."""
        settings = GatewaySettings()
        if declared is not None:
            state, settings = _declared_state(declared)
        else:
            saved = store.settings()
            settings = GatewaySettings.model_validate(saved) if saved else settings
            state = State.of(
                (
                    row.kind,  # type: ignore[misc]
                    Entity(
                        row.id,
                        row.created_at,
                        row.updated_at,
                        cast(EntitySpec, KINDS[row.kind].model.model_validate(row.body)),  # type: ignore[index]
                        row.owner,
                    ),
                )
                for row in store.rows()
            )
        # versions only grow, across restarts too: workers (and later remote data planes) keep the newest they see
        version = store.version() + 1
        store.commit([], [], version=version)
        control = cls(store, state, settings, version, declared is not None, data_dir)
        control.config_file = config_file
        return control

    # -- reads -----------------------------------------------------------------------------------------------
    def config(self) -> GatewayConfig:
        return self.state.config(self.settings)

    def config_hash(self) -> str:
        """A hash of the whole config being served: O(all entities) once per version (call it off the loop)."""
        version, digest = self._hash
        if version != self.version:
            dumped = orjson.dumps(self.config().model_dump(mode="json"), option=orjson.OPT_SORT_KEYS)
            version, digest = self.version, hashlib.sha256(dumped).hexdigest()[:16]
            self._hash = (version, digest)
        return digest

    def get(self, kind: EntityKind, name: str) -> Entity:
        entity = self.state.get(kind, name)
        if entity is None:
            raise ChangeRejected(404, f"{_singular(kind)} {name!r} does not exist")
        return entity

    def all(self, kind: EntityKind) -> list[Entity]:
        return list(self.state.entities[kind].values())  # one C-level copy: safe while a batch applies

    async def export(self, owner: str | None) -> list[ConsumerRow]:
        """The consumers (of `owner`, or all) as batch rows, without key hashes: applying them changes nothing.
        Read between changes (off the loop), so a batch being applied is in it whole or not at all."""
        async with self._writing:
            return await asyncio.to_thread(self._export, owner)

    def _export(self, owner: str | None) -> list[ConsumerRow]:
        rows = []
        for entity in self.all("consumers"):
            if owner is not None and entity.owner != owner:
                continue
            consumer = cast(Consumer, entity.spec)
            keys = [
                KeyRow(name=key.name, expires_at=key.expires_at)
                for kind, name in self.state.referrers("consumers", consumer.name)
                if kind == "api_keys" and (key := cast(ApiKey, self.get("api_keys", name).spec))
            ]
            rows.append(ConsumerRow(**consumer.model_dump(exclude_defaults=True), keys=keys))
        return rows

    # -- changes: checked and stored off the event loop, one at a time -------------------------------------
    async def create(self, kind: EntityKind, spec: EntitySpec, owner: str = "api") -> Entity:
        def prepare() -> Change:
            current = self.state.get(kind, spec.name)
            if current is not None:
                raise ChangeRejected(
                    409,
                    f"{_singular(kind)} {spec.name!r} already exists (owner {current.owner!r}); update it or pick "
                    "another name",
                    ["name"],
                )
            now = time.time()
            return Change(puts={(kind, spec.name): Entity(str(uuid.uuid4()), now, now, spec, owner)})

        await self._write(prepare)
        return self.get(kind, spec.name)

    async def create_api_key(self, request: ApiKeyCreate, owner: str = "api") -> tuple[Entity, str]:
        if request.key is not None:
            key, digest = request.key, hashlib.sha256(request.key.encode()).hexdigest()
        else:
            key, digest = generate_key()
        spec = ApiKey(
            name=request.name,
            consumer=request.consumer,
            key_sha256=digest,
            key_prefix=key[:6],
            expires_at=request.expires_at,
        )
        return await self.create("api_keys", spec, owner), key

    async def update(self, kind: EntityKind, name: str, spec: EntitySpec, owner: str = "api") -> Entity:
        def prepare() -> Change:
            current = self._changeable(kind, name, owner)
            if spec.name != name:
                raise ChangeRejected(
                    400, f"name {spec.name!r} does not match the URL's {name!r}; names cannot change", ["name"]
                )
            return Change(puts={(kind, name): replace(current, spec=spec, updated_at=time.time())})

        await self._write(prepare)
        return self.get(kind, name)

    async def delete(self, kind: EntityKind, name: str, owner: str = "api") -> None:
        def prepare() -> Change:
            self._changeable(kind, name, owner)
            return Change(drops={(kind, name): None})

        await self._write(prepare)

    async def adopt(self, kind: EntityKind, name: str, owner: str) -> Entity:
        """Make `owner` the owner of kind/name (and of a consumer's keys): how Terraform import takes over."""

        def prepare() -> Change:
            change = Change()
            current = self.get(kind, name)
            change.put(kind, replace(current, owner=owner))
            if kind == "consumers":
                for user_kind, user in self.state.referrers(kind, name):
                    if user_kind == "api_keys":
                        change.put("api_keys", replace(self.get("api_keys", user), owner=owner))
            return change

        await self._write(prepare)
        return self.get(kind, name)

    async def update_settings(self, settings: GatewaySettings) -> GatewaySettings:
        await self._write(lambda: Change(settings=settings))
        return settings

    async def apply_batch(
        self,
        rows: list[tuple[int, ConsumerRow]],
        refused: list[RowProblem],
        owner: str,
        prune: bool = False,
        dry_run: bool = False,
        adopt_from: str | None = None,
    ) -> BatchResult:
        """Apply (or, dry, only plan) a consumer batch for `owner`: all of it, or nothing and a 422 naming rows.
        Consumers of `adopt_from` that rows name are taken over."""
        started = time.perf_counter()
        self._check_writable()
        async with self._writing:
            plan = await asyncio.to_thread(plan_batch, self.state, rows, owner, prune, dry_run, refused, adopt_from)
            if plan.problems:
                first = min(plan.problems, key=lambda p: p.index)
                more = f" (and {len(plan.problems) - 1} more problem(s))" if len(plan.problems) > 1 else ""
                field: list[str | int] = ["rows", first.index, *first.loc]
                raise ChangeRejected(422, f"{first}{more}; nothing was applied", field)
            if plan.change and not dry_run:
                await self._commit(plan.change)
        return BatchResult(
            owner=owner,
            dry_run=dry_run,
            created=len(plan.created),
            updated=len(plan.updated),
            deleted=len(plan.deleted),
            unchanged=plan.unchanged,
            generated=plan.generated,
            examples=plan.examples(),
            keys=plan.keys,
            config_version=self.version,
            seconds=round(time.perf_counter() - started, 4),
        )

    async def reload(self) -> None:
        """DB-less: read the config file again and serve it, atomically; a file that cannot be served is refused
        whole (ChangeRejected naming the field) and the running config stays."""
        if self.config_file is None:
            raise ChangeRejected(409, "this gateway keeps its config in its store: there is no file to reload")
        async with self._writing:
            try:
                declared = await asyncio.to_thread(load_config_file, self.config_file)
            except ConfigFileError as exc:
                raise ChangeRejected(422, str(exc)) from None
            state, settings = _declared_state(declared)
            version = self.version + 1
            try:
                installs = await self._prepared(state.config(settings), version)
            except CompileError as exc:
                raise ChangeRejected(422, f"{self.config_file}: {exc.problem}") from None
            await asyncio.to_thread(self.store.commit, [], [], None, version)
            self.state, self.settings, self.version = state, settings, version
            for install in installs:
                await install()

    def _check_writable(self) -> None:
        if self.read_only:
            raise ChangeRejected(
                405, "this gateway serves a declarative config file (DB-less): change the file instead"
            )

    def _changeable(self, kind: EntityKind, name: str, owner: str) -> Entity:
        """The entity, if `owner` may change it: its own owner, or a plain admin API call (the operator's way in)."""
        current = self.get(kind, name)
        if owner != "api" and current.owner != owner:
            raise ChangeRejected(
                409,
                f"{_singular(kind)} {name!r} is owned by {current.owner!r}, not {owner!r}, and only its owner "
                f"changes it; to take it over, adopt it (POST /{KINDS[kind].path}/{name}/adopt)",
            )
        return current

    async def _write(self, prepare: Callable[[], Change]) -> None:
        self._check_writable()
        async with self._writing:
            change = await asyncio.to_thread(self._checked, prepare)
            if change:
                await self._commit(change)

    def _checked(self, prepare: Callable[[], Change]) -> Change:
        change = prepare()
        for problem in self.state.problems(change):
            raise ChangeRejected(problem.status, problem.message, list(problem.loc) or None)
        return change

    async def _prepared(self, config: GatewayConfig, version: int) -> list[Install]:
        """Every sink ready to serve `config`; a CompileError from any refuses the change."""
        return [await sink.prepare(config, version) for sink in self.sinks]

    async def _commit(self, change: Change) -> None:
        """Store `change` as the next version, then serve it: for consumers and keys a key delta applied in place,
        for routes, upstreams, groups and settings the whole config; both computed off the event loop."""
        version = self.version + 1
        installs = None
        if not change.only_keys() and not self._only_owners(change):
            try:
                config = await asyncio.to_thread(self.state.config, self.settings, change)
                installs = await self._prepared(config, version)
            except CompileError as exc:
                raise ChangeRejected(422, exc.problem.message, list(exc.problem.loc[2:])) from None
        rows = [_row(kind, entity) for (kind, _), entity in change.puts.items()]
        settings = change.settings.model_dump(mode="json") if change.settings else None
        await asyncio.to_thread(self.store.commit, rows, list(change.drops), settings, version)
        if installs is None:
            delta = await asyncio.to_thread(self.state.apply, change)
            self.version = version
            for sink in self.sinks:
                await sink.apply_keys(delta, version)
        else:
            self.state.apply(change)
            self.settings = change.settings or self.settings
            self.version = version
            for install in installs:
                await install()

    def _only_owners(self, change: Change) -> bool:
        """Whether `change` only hands entities to another owner (nothing to serve differently)."""
        if change.drops or change.settings:
            return False
        return all(
            (current := self.state.get(kind, name)) is not None and current.spec == entity.spec
            for (kind, name), entity in change.puts.items()
        )

    # -- promotions ------------------------------------------------------------------------------------------
    async def record_promotion(self, promotion: Promotion) -> Promotion:
        """Kept in the store beside the config (a DB-less gateway records them too: they are not config)."""
        await asyncio.to_thread(self.store.add_promotion, promotion.model_dump(mode="json"))
        return promotion

    async def promotions(self) -> Promotions:
        rows = await asyncio.to_thread(self.store.promotions)
        return Promotions(promotions=[Promotion.model_validate(row) for row in rows])

    # -- usage -----------------------------------------------------------------------------------------------
    def usage(self, consumer: str) -> ConsumerUsage:
        """What the store holds for `consumer`; call `flush_usage` first (off the event loop) for up-to-date totals."""
        self.get("consumers", consumer)
        sums, recent = self.store.usage(consumer)
        fields = ("at", "route", "model", "stream", "status", *COUNTS, "cached_tokens", "reasoning_tokens")
        return ConsumerUsage(
            consumer=consumer,
            **dict(zip(SUMS, sums, strict=True)),
            recent=[
                UsageRecord.model_validate(
                    {**dict(zip(fields, r, strict=False)), "stream": bool(r[3]), "estimated": bool(r[10])}
                    | {"cost_micros": r[11]}
                )
                for r in recent
            ],
        )

    def usage_report(
        self, group_by: list[str], bucket: str | None, since: float, until: float, where: dict[str, str]
    ) -> UsageReport:
        """Sums from the store (flush_usage first); `bucket` is 'hour' or 'day' (UTC), or None for one per group."""
        start, end = int(since // 3600) * 3600, int(-(-until // 3600)) * 3600
        bucket_s = {"hour": 3600, "day": 86_400, None: None}[bucket]
        rows = []
        for row in self.store.usage_report(tuple(group_by), bucket_s, start, end, where):
            keys = dict(zip(group_by, row, strict=False))
            rest = row[len(group_by) :]
            if bucket_s:
                keys["bucket_start"], rest = rest[0], rest[1:]
            rows.append(UsageRow.model_validate({**keys, **dict(zip(SUMS, rest, strict=True))}))
        return UsageReport(since=start, until=end, group_by=group_by, bucket=bucket, rows=rows)


COUNTS = ("prompt_tokens", "completion_tokens", "total_tokens")
# the store's sums, in its order, as the API names them
SUMS = ("requests", *COUNTS, "cached_tokens", "reasoning_tokens", "cost_micros", "estimated_requests")


def _declared_state(declared: GatewayConfig) -> tuple[State, GatewaySettings]:
    """Entities from a declarative config, with ids that stay the same across reloads."""
    now = time.time()
    return State.of(
        (kind, Entity(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}/{spec.name}")), now, now, spec, "api"))
        for kind in ENTITY_KINDS
        for spec in getattr(declared, kind)
    ), declared.gateway


def _row(kind: str, entity: Entity) -> Row:
    spec = entity.spec
    return Row(
        kind, spec.name, entity.id, entity.created_at, entity.updated_at, spec.model_dump(mode="json"), entity.owner
    )


def _singular(kind: EntityKind) -> str:
    return KINDS[kind].singular
