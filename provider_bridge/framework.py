"""A small framework over `tf`: resources derived from SDK models, plans that fill defaults, drift-aware reads.

`EntityResource` serves every config entity (upstream, route, consumer group, consumer): its schema is generated
from the entity's SDK model plus `id` (server-assigned) and `gateway` (the gateway's name; changing it replaces).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

import grpc
import msgpack
from lockgate.provider_bridge import endpoints
from lockgate.provider_bridge.diagnostics import report, report_invalid, tf_path, validate_known
from lockgate.provider_bridge.endpoints import WrongGateway
from lockgate.provider_bridge.schema import fill_defaults, model_block, parse, state_values
from lockgate.sdk import Conflict, LockgateError, NotFound, TransportError
from lockgate.sdk.client import Entities
from pydantic import BaseModel, ValidationError
from tf import iface
from tf.gen import tfplugin_pb2 as pb
from tf.iface import CreateContext, DeleteContext, ImportContext, PlanContext, ReadContext, UpdateContext
from tf.provider import ProviderServicer, _decode_state, _encode_state
from tf.schema import Attribute, Schema
from tf.types import String, Unknown
from tf.utils import Diagnostics

IMPORT_FORMAT = "GATEWAY/NAME"


class PlanningServicer(ProviderServicer):
    """What `tf` leaves out: creates planned by `Resource.plan` (defaults), and destroys planned at all.

    `tf` answers GetMetadata with plan_destroy but not GetProviderSchema, which is where Terraform reads it; so
    Terraform (>= 1.3) never told the provider about a destroy before applying it. Now it does, and a resource
    may react in `plan_destroy` (the gateway records that it is going; see endpoints).
    """

    def GetProviderSchema(self, request: pb.GetProviderSchema.Request, context: grpc.ServicerContext) -> Any:
        response = super().GetProviderSchema(request, context)
        response.server_capabilities.plan_destroy = True
        response.server_capabilities.get_provider_schema_optional = True
        return response

    def PlanResourceChange(self, request: pb.PlanResourceChange.Request, context: grpc.ServicerContext) -> Any:
        type_name = request.type_name
        attrs, blocks = self._get_res_attrs(type_name), self._get_res_blocks(type_name)
        diags = Diagnostics()
        _, prior = _decode_state(diags, attrs, blocks, request.prior_state)
        proposed_enc, proposed = _decode_state(diags, attrs, blocks, request.proposed_new_state)
        if diags.has_errors() or (prior is None) == (proposed is None):
            return super().PlanResourceChange(request, context)
        inst = self.app.new_resource(self._get_res_cls(type_name))
        ctx = PlanContext(diags, type_name, changed_fields=set(proposed or prior or {}))
        if proposed is None:  # destroy: the planned state is null
            if isinstance(inst, ModelResource):
                inst.plan_destroy(ctx, prior or {})
            null = pb.DynamicValue(msgpack=msgpack.packb(None))
            return pb.PlanResourceChange.Response(planned_state=null, diagnostics=diags.to_pb())
        planned = inst.plan(ctx, None, proposed)
        return pb.PlanResourceChange.Response(
            planned_state=_encode_state(attrs, blocks, planned, proposed_enc), diagnostics=diags.to_pb()
        )


class _Unusable:
    """Stands in for the API of a gateway that must not be used: every call raises why."""

    def __init__(self, error: LockgateError) -> None:
        self.error = error

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise self.error

        return fail


class ModelResource(iface.Resource):
    """Schema = computed attributes + the SDK model's fields; plan fills defaults and marks computed unknown."""

    name: ClassVar[str]
    model: ClassVar[type[BaseModel]]
    doc: ClassVar[str]
    computed: ClassVar[tuple[Attribute, ...]] = ()
    skip: ClassVar[frozenset[str]] = frozenset()
    sensitive: ClassVar[frozenset[str]] = frozenset()
    replace_on: ClassVar[frozenset[str]] = frozenset({"name"})

    def __init__(self, provider: Any) -> None:
        self.provider = provider

    @classmethod
    def get_name(cls) -> str:
        return cls.name

    @classmethod
    def get_schema(cls) -> Schema:
        cached = cls.__dict__.get("_schema")
        if cached is None:
            attrs, blocks = model_block(cls.model, cls.skip, cls.sensitive)
            for attr in attrs:
                attr.requires_replace = attr.name in cls.replace_on
            cached = Schema(attributes=[*cls.computed, *attrs], block_types=blocks, description=cls.doc)
            cls._schema = cached
        return cached

    def validate(self, diags: Diagnostics, type_name: str, config: dict[str, Any]) -> None:
        super().validate(diags, type_name, config)
        validate_known(diags, self.model, config, type_name, self.sensitive)

    def plan(self, ctx: PlanContext, current: dict[str, Any] | None, planned: dict[str, Any]) -> dict[str, Any]:
        planned = fill_defaults(self.model, planned)
        if current is None:
            for attr in self.computed:
                if planned.get(attr.name) is None:
                    planned[attr.name] = Unknown
        return planned

    def plan_destroy(self, ctx: PlanContext, current: dict[str, Any]) -> None:
        """Called when Terraform plans to destroy this resource (the plan may be applied by another process)."""

    def spec(self, state: dict[str, Any]) -> BaseModel:
        return parse(self.model, state)

    def checked_spec(self, diags: Diagnostics, state: dict[str, Any]) -> BaseModel | None:
        """The model of `state`, or None with diagnostics on the attributes: values first known at apply."""
        try:
            return self.spec(state)
        except ValidationError as exc:
            report_invalid(diags, exc, self.model, f"lockgate_{self.name}", self.sensitive)
            return None

    def upgrade(self, ctx: Any, version: int, old: dict[str, Any]) -> dict[str, Any]:
        return old  # schema version 0 only, so far


class EntityResource(ModelResource):
    """A gateway entity managed through the admin API; import ID `GATEWAY/NAME`."""

    kind: ClassVar[str]
    computed: ClassVar[tuple[Attribute, ...]] = (
        Attribute("id", String(), description="Server-assigned id.", computed=True),
    )
    gateway_attr = Attribute(
        "gateway",
        String(),
        description="Name of the lockgate_gateway this belongs to (changing it replaces).",
        required=True,
        requires_replace=True,
    )

    @classmethod
    def get_schema(cls) -> Schema:
        schema = super().get_schema()
        if not any(a.name == "gateway" for a in schema.attributes):
            schema.attributes.insert(1, cls.gateway_attr)
        return schema

    # -- helpers ------------------------------------------------------------------------------------------
    @contextmanager
    def _api(self, diags: Diagnostics, gateway: str, action: str) -> Iterator[Any]:
        """The entity API of the registered gateway (None if none is registered); errors become diagnostics.

        Reading keeps the last known state when the gateway cannot be asked (plan shows no change); anything else
        fails loudly. The provider checks that the process answering is the registered one before any call.
        """
        add = diags.add_warning if action.startswith("Reading") else diags.add_error
        api: Any
        try:
            client = self.provider.admin(gateway)
        except LockgateError as exc:
            api = _Unusable(exc)  # raised again at the first call, inside the caller's block, handled below
        else:
            if client is None:
                yield None
                return
            api = getattr(client, self.kind)
        try:
            yield api
        except WrongGateway as exc:
            add(f"Gateway '{gateway}' is not the process registered for it", f"{action}: {exc}", path=["gateway"])
        except TransportError as exc:
            add(f"Gateway '{gateway}' is not answering", f"{action}: {exc}", path=["gateway"])
        except LockgateError as exc:
            report(diags, action, exc)
        except ValidationError as exc:
            report_invalid(diags, exc, self.model, f"lockgate_{self.name}", self.sensitive)

    def _unreachable(self, diags: Diagnostics, gateway: str) -> None:
        diags.add_error(
            f"Gateway '{gateway}' is not running",
            f"No healthy lockgate gateway named '{gateway}' is registered under LOCKGATE_HOME. Create the "
            "lockgate_gateway first (reference its `id` so Terraform orders them).",
            path=["gateway"],
        )

    def _state(self, gateway: str, record: BaseModel) -> dict[str, Any]:
        dumped = record.model_dump(mode="json")
        return {"id": dumped["id"], "gateway": gateway, **state_values(self.model, dumped)}

    def _send(self, api: Entities[Any, Any], state: dict[str, Any], create: bool) -> BaseModel:
        spec = self.spec(state)
        return api.create(spec) if create else api.update(spec)  # type: ignore[no-any-return]

    # -- CRUD ---------------------------------------------------------------------------------------------
    def create(self, ctx: CreateContext, planned: dict[str, Any]) -> dict[str, Any] | None:
        with self._api(ctx.diagnostics, planned["gateway"], f"Creating {self.name}") as api:
            if api is None:
                self._unreachable(ctx.diagnostics, planned["gateway"])
                return None
            try:
                record = self._send(api, planned, create=True)
            except Conflict as exc:
                self._taken(ctx.diagnostics, planned, exc)
                return None
            return {**planned, "id": record.id}  # type: ignore[attr-defined]
        return None

    def _taken(self, diags: Diagnostics, planned: dict[str, Any], exc: Conflict) -> None:
        gateway, name = planned["gateway"], planned["name"]
        diags.add_error(
            f"Creating {self.name} failed: {exc.message}",
            f"The gateway answered {exc.status}: {exc.message}. Terraform does not change what another owner made. "
            f"To manage it from Terraform, adopt it: terraform import lockgate_{self.name}.<resource name> "
            f"{gateway}/{name} (the import makes Terraform its owner); or pick another name.",
            path=tf_path(exc.field) if exc.field else None,
        )

    def read(self, ctx: ReadContext, current: dict[str, Any]) -> dict[str, Any] | None:
        with self._api(ctx.diagnostics, current["gateway"], f"Reading {self.name}") as api:
            if api is None:
                return None  # the gateway is gone, so is everything in it
            try:
                record = api.get(current["name"])
            except NotFound:
                return None
            if record.owner != endpoints.TERRAFORM:  # adopted by a pipeline or a set: no longer Terraform's
                ctx.diagnostics.add_warning(
                    f"{self.name} '{current['name']}' is now owned by '{record.owner}'",
                    "Terraform no longer manages it and will not change or delete it; `terraform import` adopts it "
                    "back.",
                )
                return None
            if self.spec(current) == self.spec(state_values(self.model, record.model_dump(mode="json"))):
                return {**current, "id": record.id}
            return self._state(current["gateway"], record)
        return current

    def update(self, ctx: UpdateContext, current: dict[str, Any], planned: dict[str, Any]) -> dict[str, Any] | None:
        with self._api(ctx.diagnostics, planned["gateway"], f"Updating {self.name}") as api:
            if api is None:
                self._unreachable(ctx.diagnostics, planned["gateway"])
                return current
            self._send(api, planned, create=False)
            return planned
        return current

    def delete(self, ctx: DeleteContext, current: dict[str, Any]) -> None:
        gateway, name = current["gateway"], current["name"]
        if endpoints.destroy_planned(gateway):
            # the gateway's own destroy removes everything in it, whoever created it: a delete it refuses (an
            # entity added through the admin API still uses this one) or cannot answer is left to that destroy
            diags = Diagnostics()
            self._delete(diags, gateway, name)
            if diags.has_errors():
                ctx.diagnostics.add_warning(
                    f"{self.name} '{name}' is left to the destroy of gateway '{gateway}'",
                    "; ".join(d.summary for d in diags.diagnostics),
                )
            return
        self._delete(ctx.diagnostics, gateway, name)

    def _delete(self, diags: Diagnostics, gateway: str, name: str) -> None:
        with self._api(diags, gateway, f"Deleting {self.name}") as api:
            if api is not None:
                with suppress(NotFound):
                    api.delete(name)

    def import_(self, ctx: ImportContext, id: str) -> dict[str, Any] | None:
        gateway, _, name = id.partition("/")
        if not gateway or not name or "/" in name:
            ctx.diagnostics.add_error(
                f"Invalid import ID {id!r}",
                f"Use {IMPORT_FORMAT}, e.g. 'demo/chat' for the entity 'chat' of the gateway 'demo'.",
            )
            return None
        with self._api(ctx.diagnostics, gateway, f"Importing {self.name}") as api:
            if api is None:
                ctx.diagnostics.add_error(f"Gateway '{gateway}' is not running", f"Cannot import {id!r}.")
                return None
            try:
                return self._state(gateway, api.adopt(name))  # importing makes Terraform its owner
            except NotFound:
                ctx.diagnostics.add_error(
                    f"Cannot import {id!r}", f"The gateway '{gateway}' has no {self.name} named '{name}'."
                )
        return None
