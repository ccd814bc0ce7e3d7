"""The control plane's entities in memory, with the indexes that let a change be checked and applied in O(entities it
touches): who refers to whom (from the kinds table) and which key hash belongs to which key.

A `Change` is checked against the state (`problems`) before anything is stored, and applied in place (`apply`) only
once the store has it; `apply` answers the key delta that brings a data plane's key table up to date.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, cast

from lockgate.gateway_runtime.data.identities import KeyDelta, KeyEntry, OwnLimits
from lockgate.sdk import ApiKey, Consumer, ConsumerGroup, GatewayConfig, GatewaySettings, LlmUpstream, Route
from lockgate.sdk.config import ENTITY_KINDS, EntityKind
from lockgate.sdk.entities import expiry_time
from lockgate.sdk.kinds import KINDS, Loc

EntitySpec = LlmUpstream | Route | ConsumerGroup | Consumer | ApiKey
Key = tuple[EntityKind, str]
# Changes to these alone are key deltas; any other kind (or the settings) makes the data plane recompile.
KEY_KINDS = frozenset({"consumers", "api_keys"})


@dataclass(frozen=True, slots=True)
class Entity:
    id: str
    created_at: float
    updated_at: float
    spec: EntitySpec
    owner: str = "api"

    def record(self) -> dict[str, Any]:
        body = self.spec.model_dump(mode="json")
        body.pop("key_sha256", None)
        return {
            "id": self.id,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "owner": self.owner,
            **body,
        }


@dataclass(frozen=True, slots=True)
class Problem:
    key: Key  # the entity the problem is in
    loc: Loc  # where inside it
    message: str
    status: int = 422  # 409: it conflicts with what exists (a key in use, an entity still used)


@dataclass
class Change:
    """Entities to add or replace and entities to remove, as one unit."""

    puts: dict[Key, Entity] = field(default_factory=dict)
    drops: dict[Key, None] = field(default_factory=dict)  # ordered set
    settings: GatewaySettings | None = None

    def put(self, kind: EntityKind, entity: Entity) -> None:
        self.drops.pop((kind, entity.spec.name), None)
        self.puts[(kind, entity.spec.name)] = entity

    def drop(self, kind: EntityKind, name: str) -> None:
        self.puts.pop((kind, name), None)
        self.drops[(kind, name)] = None

    def only_keys(self) -> bool:
        return self.settings is None and all(kind in KEY_KINDS for kind, _ in (*self.puts, *self.drops))

    def __bool__(self) -> bool:
        return bool(self.puts or self.drops or self.settings)


def references(kind: EntityKind, spec: EntitySpec) -> Iterator[tuple[Loc, Key]]:
    for reference in KINDS[kind].references:
        for loc, name in reference.names(spec):
            yield loc, (reference.target, name)


class State:
    def __init__(self) -> None:
        self.entities: dict[EntityKind, dict[str, Entity]] = {kind: {} for kind in ENTITY_KINDS}
        self._referrers: dict[Key, dict[Key, None]] = {}
        self._key_names: dict[str, str] = {}  # key_sha256 -> API key name

    @classmethod
    def of(cls, entities: Iterator[tuple[EntityKind, Entity]]) -> State:
        state = cls()
        for kind, entity in entities:
            state._add(kind, entity)
        return state

    def get(self, kind: EntityKind, name: str) -> Entity | None:
        return self.entities[kind].get(name)

    def referrers(self, kind: EntityKind, name: str) -> list[Key]:
        """Entities that refer to kind/name (they block its deletion), in the order they were made."""
        return list(self._referrers.get((kind, name), ()))

    def key_named_by_hash(self, key_sha256: str) -> str | None:
        return self._key_names.get(key_sha256)

    def config(self, settings: GatewaySettings, change: Change | None = None) -> GatewayConfig:
        """The whole config (with `change` applied, if given): O(all entities), for compiles and GET /config."""
        lists: dict[str, Any] = {}
        for kind in ENTITY_KINDS:
            entities = self.entities[kind]
            if change is not None:
                entities = dict(entities)
                for key in change.drops:
                    if key[0] == kind:
                        entities.pop(key[1], None)
                entities.update({name: e for (k, name), e in change.puts.items() if k == kind})
            lists[kind] = [e.spec for e in list(entities.values())]  # list() first: a batch may be applying
        if change is not None and change.settings is not None:
            settings = change.settings
        return GatewayConfig.model_construct(gateway=settings, **lists)

    # -- checking ------------------------------------------------------------------------------------------
    def problems(self, change: Change) -> Iterator[Problem]:
        """The cross-entity rules, for what `change` touches only: references name entities that exist after it,
        nothing it removes is still used, and no two API keys share a key."""

        def exists(key: Key) -> bool:
            return key in change.puts or (key not in change.drops and key[1] in self.entities[key[0]])

        hashes: dict[str, str] = {}
        for (kind, name), entity in change.puts.items():
            for loc, target in references(kind, entity.spec):
                if not exists(target):
                    what = KINDS[target[0]].singular
                    message = f"{what} {target[1]!r} does not exist; create it first or fix the name"
                    yield Problem((kind, name), loc, message)
            if kind == "api_keys":
                digest = cast(ApiKey, entity.spec).key_sha256
                other = hashes.get(digest) or self._key_names.get(digest)
                if other is not None and other != name and self._still_has(change, other, digest):
                    message = "this key is already in use by another API key; pick another key"
                    yield Problem((kind, name), ("key",), message, 409)
                hashes[digest] = name
        for kind, name in change.drops:
            users = [
                f"{user[0]}/{user[1]}"
                for user in self._referrers.get((kind, name), ())
                if user not in change.drops and user not in change.puts  # puts were checked above
            ]
            if users:
                message = f"{KINDS[kind].singular} {name!r} is still used by {', '.join(users)}; change those first"
                yield Problem((kind, name), (), message, 409)

    def _still_has(self, change: Change, key_name: str, digest: str) -> bool:
        """Whether API key `key_name` has `digest` once `change` is applied."""
        key: Key = ("api_keys", key_name)
        if key in change.puts:
            return cast(ApiKey, change.puts[key].spec).key_sha256 == digest
        return key not in change.drops and key_name in self.entities["api_keys"]

    # -- applying ------------------------------------------------------------------------------------------
    def apply(self, change: Change) -> KeyDelta:
        """Make `change` (checked, and stored) the state; answers what the data planes' key tables must do."""
        delta = KeyDelta()
        rekey: dict[str, None] = {}  # consumers whose keys must be sent again (their groups changed)
        for kind, name in change.drops:
            old = self._remove(kind, name)
            if old is not None and kind == "api_keys":
                delta.drop.append(bytes.fromhex(cast(ApiKey, old.spec).key_sha256))
        for (kind, name), entity in change.puts.items():
            old = self._remove(kind, name)
            self._add(kind, entity)
            if kind == "api_keys":
                old_digest = cast(ApiKey, old.spec).key_sha256 if old is not None else None
                if old_digest is not None and old_digest != cast(ApiKey, entity.spec).key_sha256:
                    delta.drop.append(bytes.fromhex(old_digest))
                rekey[cast(ApiKey, entity.spec).consumer] = None
            elif kind == "consumers" and (old is None or old.spec != entity.spec):
                rekey[name] = None
        for consumer in rekey:
            delta.put.extend(self._key_entries(consumer))
        return delta

    def key_entries(self) -> Iterator[KeyEntry]:
        """Every key as the data planes' key tables hold it, a consumer's keys together."""
        for name in list(self.entities["consumers"]):
            yield from self._key_entries(name)

    def _key_entries(self, consumer: str) -> Iterator[KeyEntry]:
        owner = self.entities["consumers"].get(consumer)
        if owner is None:
            return
        spec = cast(Consumer, owner.spec)
        groups, own = tuple(spec.groups), OwnLimits.of(spec)
        for kind, name in self._referrers.get(("consumers", consumer), ()):
            if kind == "api_keys":
                key = cast(ApiKey, self.entities["api_keys"][name].spec)
                yield KeyEntry(bytes.fromhex(key.key_sha256), consumer, groups, expiry_time(key.expires_at), own)

    def _add(self, kind: EntityKind, entity: Entity) -> None:
        self.entities[kind][entity.spec.name] = entity
        for _, target in references(kind, entity.spec):
            self._referrers.setdefault(target, {})[(kind, entity.spec.name)] = None
        if kind == "api_keys":
            self._key_names[cast(ApiKey, entity.spec).key_sha256] = entity.spec.name

    def _remove(self, kind: EntityKind, name: str) -> Entity | None:
        old = self.entities[kind].pop(name, None)
        if old is None:
            return None
        for _, target in references(kind, old.spec):
            users = self._referrers.get(target)
            if users is not None:
                users.pop((kind, name), None)
                if not users:
                    del self._referrers[target]
        if kind == "api_keys":
            self._key_names.pop(cast(ApiKey, old.spec).key_sha256, None)
        return old
