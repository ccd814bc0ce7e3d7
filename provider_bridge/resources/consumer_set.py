"""lockgate_consumer_set: many consumers and their keys as one resource, applied through the gateway's consumer batch
API as the owner 'terraform:NAME' (so it never touches another owner's consumers, and they never show as drift).

State keeps no member list for a source file: its hash (`source_hash`), the members' digest (`members_digest`, of
what the gateway exports: names, groups, key names and expiries) and `member_count`. A refresh exports the set from
the gateway and recomputes the digest, so a member changed behind Terraform's back is planned back. A plan that
changes members asks the gateway for a dry run and shows the counts in `changes` ("+3 added  ~1 changed  -2
removed; added: a, b, c") instead of listing members.

Import ID: GATEWAY/OWNER. `demo/pipeline:billing` adopts the consumers of the pipeline 'billing' into the set named
'billing'; `demo/terraform:billing` takes back an existing set (after its state was lost).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from lockgate.provider_bridge import endpoints
from lockgate.provider_bridge.diagnostics import contains_unknown
from lockgate.provider_bridge.framework import EntityResource
from lockgate.provider_bridge.resources.process import computed
from lockgate.sdk import BadRequest, BatchResult, ConsumerRow
from lockgate.sdk.batch import ConsumerSet
from lockgate.sdk.consumer_files import (
    ConsumerFileError,
    KeysFile,
    Source,
    items_of,
    members_digest,
    read_source,
    source_of,
)
from tf.iface import CreateContext, DeleteContext, ImportContext, PlanContext, ReadContext, UpdateContext
from tf.schema import Attribute
from tf.types import Map, Number, String, Unknown
from tf.utils import Diagnostics

SHOWN_NAMES = 3
_LOADED: dict[tuple[Any, ...], tuple[Source, list[ConsumerRow]]] = {}


def owner_of(name: str) -> str:
    return f"terraform:{name}"


class ConsumerSetResource(EntityResource):
    name = "consumer_set"
    kind = "consumers"
    model = ConsumerSet
    doc = (
        "Many consumers and their API keys, owned by this resource ('terraform:NAME'), from a source file or inline "
        "rows. Import ID: GATEWAY/OWNER, e.g. 'demo/pipeline:billing' adopts a pipeline's consumers."
    )
    computed: ClassVar[tuple[Attribute, ...]] = (
        computed("id", "GATEWAY/NAME."),
        computed("source_hash", "SHA-256 of source_file when last planned (an edited file is planned)."),
        computed("members_digest", "Digest of the members as the gateway holds them (drift shows as a change)."),
        computed("member_count", "How many consumers the set holds.", Number()),
        computed("changes", "What the last planned change does: counts, and the first few names."),
        computed("keys", "Generated keys by key name, when there is no keys_file.", Map(String()), True),
    )

    # -- members --------------------------------------------------------------------------------------------
    def _source(self, diags: Diagnostics, state: dict[str, Any]) -> Source | None:
        try:
            if state.get("source_file"):
                return read_source(Path(state["source_file"]))
            raw = state.get("members") or "[]"
            try:
                items = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ConsumerFileError(f"members: not JSON ({exc.msg}): use jsonencode([...])") from None
            return source_of("members", items_of("members", items))
        except ConsumerFileError as exc:
            path = ["source_file" if state.get("source_file") else "members"]
            diags.add_error(f"Invalid lockgate_consumer_set: {exc}", str(exc), path=path)
            return None

    def _rows(self, diags: Diagnostics, state: dict[str, Any]) -> tuple[Source, list[ConsumerRow]] | None:
        """The members, validated; a file is read and checked once per provider process while it is unchanged
        (Terraform validates, then plans, then applies)."""
        key = self._cache_key(state)
        if key in _LOADED:
            return _LOADED[key]
        source = self._source(diags, state)
        if source is None:
            return None
        try:
            loaded = source, source.validated()
        except ConsumerFileError as exc:
            diags.add_error(f"Invalid lockgate_consumer_set: {exc}", str(exc), path=[self._origin(state)])
            return None
        if key is not None:
            _LOADED.clear()  # one set's members at a time: a 1,000,000-row file is not kept twice
            _LOADED[key] = loaded
        return loaded

    @staticmethod
    def _cache_key(state: dict[str, Any]) -> tuple[Any, ...] | None:
        if not state.get("source_file"):
            return ("members", state.get("members"))
        try:
            found = os.stat(state["source_file"])
        except OSError:
            return None
        return (state["source_file"], found.st_mtime_ns, found.st_size)

    @staticmethod
    def _origin(state: dict[str, Any]) -> str:
        return "source_file" if state.get("source_file") else "members"

    @staticmethod
    def _source_hash(state: dict[str, Any]) -> str | None:
        """For a source file: the SHA-256 of its bytes (key hashes and all, which the digest leaves out)."""
        if not state.get("source_file"):
            return None  # inline members are in the state themselves
        return hashlib.sha256(Path(state["source_file"]).read_bytes()).hexdigest()

    # -- plan -----------------------------------------------------------------------------------------------
    def validate(self, diags: Diagnostics, type_name: str, config: dict[str, Any]) -> None:
        super().validate(diags, type_name, config)
        if not diags.has_errors() and not contains_unknown(config):
            self._rows(diags, config)

    def plan(self, ctx: PlanContext, current: dict[str, Any] | None, planned: dict[str, Any]) -> dict[str, Any]:
        planned = super().plan(ctx, current, planned)
        if contains_unknown({k: planned.get(k) for k in ("name", "gateway", "source_file", "members")}):
            return planned
        planned["id"] = f"{planned['gateway']}/{planned['name']}"
        loaded = self._rows(ctx.diagnostics, planned)
        if loaded is None:
            return planned
        source, rows = loaded
        planned["source_hash"] = self._source_hash(planned)
        planned["members_digest"] = members_digest(rows)
        planned["member_count"] = len(rows)
        unchanged = current is not None and all(
            current.get(k) == planned[k] for k in ("source_hash", "members_digest", "member_count")
        )
        if unchanged and current is not None:
            planned["changes"], planned["keys"] = current.get("changes"), current.get("keys")
            return planned
        planned["changes"] = self._dry_run(ctx.diagnostics, planned, source) if current is not None else Unknown
        planned["keys"] = (current or {}).get("keys") if planned.get("keys_file") else Unknown
        if planned.get("keys_file") and planned["keys"] is None:
            planned["keys"] = {}
        return planned

    def _dry_run(self, diags: Diagnostics, planned: dict[str, Any], source: Source) -> Any:
        """What applying would do, asked of the gateway: a row it refuses fails the plan, naming the row; unknown
        if the gateway cannot be asked now."""
        with self._api(Diagnostics(), planned["gateway"], f"Reading {self.name}") as api:
            if api is None:
                return Unknown
            try:
                return describe(api.apply(source.rows, owner=owner_of(planned["name"]), prune=True, dry_run=True))
            except BadRequest as exc:
                self._refused(diags, planned, source, exc, "Planning")
        return Unknown

    def _refused(self, diags: Diagnostics, state: dict[str, Any], source: Source, exc: BadRequest, verb: str) -> None:
        diags.add_error(
            f"{verb} {self.name} failed: {source.place_of(exc.field)}: {exc.message}",
            f"The gateway answered {exc.status}: {exc.message}",
            path=[self._origin(state)],
        )

    # -- CRUD -----------------------------------------------------------------------------------------------
    def create(self, ctx: CreateContext, planned: dict[str, Any]) -> dict[str, Any] | None:
        return self._apply(ctx.diagnostics, planned, None)

    def update(self, ctx: UpdateContext, current: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any] | None:
        return self._apply(ctx.diagnostics, planned, current) or current

    def _apply(
        self, diags: Diagnostics, planned: dict[str, Any], current: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        loaded = self._rows(diags, planned)
        if loaded is None:
            return None
        source, rows = loaded
        gateway, owner = planned["gateway"], owner_of(planned["name"])
        try:  # opened before applying: keys are shown once
            keys_file = (
                KeysFile(Path(planned["keys_file"]), "keys_file", append=True) if planned.get("keys_file") else None
            )
        except ConsumerFileError as exc:
            diags.add_error(f"Applying {self.name} failed: {exc}", str(exc), path=["keys_file"])
            return None
        with keys_file or contextlib.nullcontext(), self._api(diags, gateway, f"Applying {self.name}") as api:
            if api is None:
                self._unreachable(diags, gateway)
                return None
            try:
                result = api.apply(source.rows, owner=owner, prune=True)
            except BadRequest as exc:
                self._refused(diags, planned, source, exc, "Applying")
                return None
            keys = dict((current or {}).get("keys") or {})
            if keys_file is not None:
                if result.keys:
                    keys_file.write(result.keys)
            else:
                members = {k.name for r in rows for k in r.keys}
                keys = {name: key for name, key in keys.items() if name in members}
                keys.update({k.name: k.key for k in result.keys})
            changes = planned.get("changes")
            return {
                **planned,
                "id": f"{gateway}/{planned['name']}",
                "source_hash": self._source_hash(planned),
                "members_digest": members_digest(rows),
                "member_count": len(rows),
                "changes": describe(result) if changes in (None, Unknown) else changes,
                "keys": {} if planned.get("keys_file") else keys,
            }
        return None

    def read(self, ctx: ReadContext, current: dict[str, Any]) -> dict[str, Any] | None:
        with self._api(ctx.diagnostics, current["gateway"], f"Reading {self.name}") as api:
            if api is None:
                return None  # the gateway is gone, so is everything in it
            held = api.export(owner=owner_of(current["name"]))
            return {**current, "members_digest": members_digest(held), "member_count": len(held)}
        return current

    def delete(self, ctx: DeleteContext, current: dict[str, Any]) -> None:
        gateway = current["gateway"]
        diags = Diagnostics() if endpoints.destroy_planned(gateway) else ctx.diagnostics
        with self._api(diags, gateway, f"Deleting {self.name}") as api:
            if api is not None:
                api.apply([], owner=owner_of(current["name"]), prune=True)
        if diags is not ctx.diagnostics and diags.has_errors():  # the gateway's own destroy removes them anyway
            ctx.diagnostics.add_warning(
                f"consumer set '{current['name']}' is left to the destroy of gateway '{gateway}'",
                "; ".join(d.summary for d in diags.diagnostics),
            )

    def import_(self, ctx: ImportContext, id: str) -> dict[str, Any] | None:
        gateway, _, owner = id.partition("/")
        kind, _, name = owner.partition(":")
        if not gateway or kind not in ("pipeline", "terraform") or not name:
            ctx.diagnostics.add_error(
                f"Invalid import ID {id!r}",
                "Use GATEWAY/OWNER: 'demo/pipeline:billing' adopts the pipeline 'billing''s consumers into the set "
                "'billing'; 'demo/terraform:billing' takes back the set 'billing'.",
            )
            return None
        with self._api(ctx.diagnostics, gateway, f"Importing {self.name}") as api:
            if api is None:
                ctx.diagnostics.add_error(f"Gateway '{gateway}' is not running", f"Cannot import {id!r}.")
                return None
            rows = api.export(owner=owner)
            if kind == "pipeline":
                api.apply(rows, owner=owner_of(name), prune=True, adopt_from=owner)
            return {
                "id": f"{gateway}/{name}",
                "gateway": gateway,
                "name": name,
                "source_file": None,
                "members": None,
                "keys_file": None,
                "source_hash": None,
                "members_digest": members_digest(rows),
                "member_count": len(rows),
                "changes": f"imported {len(rows):,} consumers from {owner}",
                "keys": {},
            }
        return None


def describe(result: BatchResult) -> str:
    """'+3 added  ~1 changed  -2 removed; added: a, b, c ...' (what a plan shows instead of every member)."""
    counts = f"+{result.created:,} added  ~{result.updated:,} changed  -{result.deleted:,} removed"
    named = []
    for label, names, count in (
        ("added", result.examples.created, result.created),
        ("changed", result.examples.updated, result.updated),
        ("removed", result.examples.deleted, result.deleted),
    ):
        if names:
            more = " ..." if count > SHOWN_NAMES else ""
            named.append(f"{label}: {', '.join(names[:SHOWN_NAMES])}{more}")
    return "; ".join([counts, *named])
