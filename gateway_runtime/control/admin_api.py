"""The admin API (FastAPI): CRUD for every entity, consumer batches, usage, status; OpenAPI at /openapi.json.

Errors use the proxy's shape, `{"error": {"message", "type", "code", "field"}}`, with `field` the path of the
offending field so that the Terraform provider can attach its diagnostic to the right attribute (admin_errors.py).
Every write says who makes it in the `Lockgate-Owner` header (`api` when absent); only an entity's owner, or a
plain `api` call, changes or deletes it.
"""

import asyncio
import hmac
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from lockgate.gateway_runtime.control.admin_errors import AdminGate, install_error_handlers
from lockgate.gateway_runtime.control.batch_body import (
    BATCH_BODY,
    BATCH_PATH,
    MAX_BATCH_BYTES,
    document_batch_rows,
    read_rows,
)
from lockgate.gateway_runtime.control.service import ChangeRejected, ControlPlane
from lockgate.sdk import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRecord,
    ConsumerUsage,
    ErrorResponse,
    GatewayConfig,
    GatewaySettings,
    Health,
    Status,
)
from lockgate.sdk._base import NAME_PATTERN, OWNER_PATTERN, whole_numbers_as_int
from lockgate.sdk.api import DataPlanes, Promotion, Promotions, UsageReport
from lockgate.sdk.batch import BatchResult
from lockgate.sdk.client import PATHS
from lockgate.sdk.kinds import KINDS
from pydantic import BaseModel, BeforeValidator

Responses = dict[int | str, dict[str, Any]]


# Why each error status happens; an operation documents exactly the ones it can answer (see _errors).
_WHY = {
    400: "The body is not UTF-8 JSON.",
    401: "The admin token is missing or wrong (`Authorization: Bearer <admin token>`).",
    404: "No entity of this kind has this name.",
    405: "This gateway serves a declarative config file (DB-less): change the file instead. `Allow` lists the methods "
    "it accepts here.",
    409: "The name is taken.",
    413: "The request body is larger than the admin API's limit (32 MiB); refused before it is read.",
    422: "The body does not fit the model, or the change would break the configuration: a reference to an entity "
    "that does not exist, or a secret reference that cannot be resolved. `field` names the offending field.",
}


def _errors(*statuses: int, why: dict[int, str] | None = None, token: bool = True) -> Responses:
    """The error responses one operation can answer, documented (every one may answer 413; with a token, 401)."""
    reasons = {**_WHY, **(why or {})}
    listed = {413, *statuses} | ({401} if token else set())
    return {status: {"model": ErrorResponse, "description": reasons[status]} for status in sorted(listed)}


def _body(model: type[BaseModel]) -> Any:
    """A request body of `model`; whole-number floats reach its int fields as ints (JSON Schema's integers)."""
    return Annotated[model, BeforeValidator(partial(whole_numbers_as_int, model))]


EntityName = Annotated[
    str,
    Path(
        description="The entity's name: lowercase letters, digits, '-', '_', '.', at most 63 characters.",
        json_schema_extra={"pattern": NAME_PATTERN, "examples": ["chat", "gold"]},
    ),
]
OwnerHeader = Annotated[
    str,
    Header(
        alias="Lockgate-Owner",
        pattern=OWNER_PATTERN,
        description="Who makes this change: 'terraform', 'terraform:SET', 'api' (the default) or 'pipeline:NAME'. "
        "A change to an entity of another owner is refused (409), except from 'api'.",
    ),
]
OwnerFilter = Annotated[
    str | None, Query(pattern=OWNER_PATTERN, description="Only the entities of this owner ('pipeline:billing').")
]
READ = _errors()
CREATE = _errors(400, 405, 409, 422)
CREATE_KEY = _errors(400, 405, 409, 422, why={409: "The name is taken, or another API key has the same key."})
GET = _errors(404)
UPDATE = _errors(
    400,
    404,
    405,
    409,
    422,
    why={
        400: "The body is not UTF-8 JSON, or its `name` is not the URL's: names cannot change.",
        409: "Another owner has this entity (the message names it and how to adopt it).",
    },
)
DELETE = _errors(
    404, 405, 409, why={409: "Other entities still use this one, or another owner has it (the message says which)."}
)
ADOPT = _errors(404, 405)
EXPORTED: Responses = {
    200: {
        "description": "JSON Lines: one ConsumerRow per line, key hashes left out.",
        "content": {"application/jsonl": {"schema": {"$ref": "#/components/schemas/ConsumerRow"}}},
    }
}
BATCH = _errors(
    400,
    405,
    413,
    422,
    why={
        400: "The body is not UTF-8.",
        413: "The body is larger than 256 MiB, a line longer than 64 KiB, or there are more than 1,000,000 rows.",
        422: "A row cannot be applied: the message and `field` (`['rows', INDEX, ...]`) name the first one, its "
        "field, the value and the fix. Nothing was applied.",
    },
)
RELOAD = _errors(
    409,
    422,
    why={
        409: "This gateway keeps its config in its store: there is no file to reload.",
        422: "The file cannot be served (the message names the field); the running config stays.",
    },
)


def create_admin_app(
    control: ControlPlane,
    admin_token: str,
    identity: Health | None = None,
    data_planes: Callable[[], DataPlanes] | None = None,
) -> FastAPI:
    """The admin API of `control`; `data_planes` lists the data planes of a control plane (a standalone gateway has
    none of its own)."""
    bearer = HTTPBearer(auto_error=False)
    identity = identity or Health(status="ok", instance_id=uuid.uuid4().hex)

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        # AdminGate has refused tokenless requests before their body was read; this documents the scheme in OpenAPI
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), admin_token.encode()):
            raise ChangeRejected(401, "missing or wrong admin token: send 'Authorization: Bearer <admin token>'")

    app = FastAPI(title="lockgate admin API", version="1")

    install_error_handlers(app)
    app.add_middleware(AdminGate, token=admin_token, limits={BATCH_PATH: MAX_BATCH_BYTES})

    @app.get("/health", tags=["status"], responses=_errors(token=False))
    async def health() -> Health:
        """Liveness and identity (the gateway's name and instance id), without authentication."""
        return identity

    api = APIRouter(dependencies=[Depends(require_token)])

    async def current_status() -> Status:
        config_hash = await asyncio.to_thread(control.config_hash)  # O(all entities) once per version
        return Status(status="ok", config_version=control.version, config_hash=config_hash)

    @api.get("/status", tags=["status"], responses=READ)
    async def status() -> Status:
        return await current_status()

    @api.get("/data-planes", tags=["status"], responses=READ)
    async def list_data_planes() -> DataPlanes:
        """The data planes that have synced with this control plane since it started: the version and config hash
        each serves, when it was last seen, and whether it is in sync, behind, refusing a config or lost."""
        if data_planes is None:
            return DataPlanes(config_version=control.version, config_hash="", data_planes=[])
        return data_planes()

    @api.get("/config", tags=["config"], responses=READ)
    async def config() -> GatewayConfig:
        """The whole declarative configuration the gateway serves (API keys as hashes)."""
        return control.config()

    @api.post("/config/reload", tags=["config"], responses=RELOAD)
    async def reload_config() -> Status:
        """DB-less gateways: read the config file again and serve it (like SIGHUP); on any error the running
        config stays and the error names the field."""
        await control.reload()
        return await current_status()

    @api.get("/gateway", tags=["gateway"], responses=READ)
    async def get_gateway() -> GatewaySettings:
        return control.settings

    @api.put("/gateway", tags=["gateway"], responses=_errors(400, 405, 422))
    async def put_gateway(settings: _body(GatewaySettings)) -> GatewaySettings:  # type: ignore[valid-type]
        return await control.update_settings(settings)

    for kind in KINDS.values():
        if kind.create is None:  # API keys are created from a key (or none), not from what is stored
            _crud(api, control, kind.name, kind.model, kind.record)
    _api_keys(api, control)

    @api.post(BATCH_PATH, tags=["consumers"], responses=BATCH, openapi_extra=BATCH_BODY)
    async def apply_consumer_batch(
        request: Request,
        owner: OwnerHeader = "api",
        prune: Annotated[bool, Query(description="Delete the owner's consumers that no row names.")] = False,
        dry_run: Annotated[bool, Query(description="Only answer what would change.")] = False,
        adopt_from: Annotated[
            str | None,
            Query(pattern=OWNER_PATTERN, description="Take over the consumers of this owner that rows name."),
        ] = None,
    ) -> BatchResult:
        """Apply consumers and their API keys for one owner, all or nothing: JSON Lines, one `ConsumerRow` per
        line, each the whole state of its consumer (groups, keys). Keys without `key_sha256` are generated once
        and shown in this answer only."""
        rows, refused = await read_rows(request)
        return await control.apply_batch(rows, refused, owner, prune, dry_run, adopt_from)

    @api.get(BATCH_PATH, tags=["consumers"], responses={**READ, **EXPORTED}, response_class=Response)
    async def export_consumers(owner: OwnerFilter = None) -> Response:
        """The consumers (of `owner`, or all) as batch rows, key hashes left out: a pipeline diffs against it, and
        applying it again changes nothing."""
        rows = await control.export(owner)
        body = b"".join(orjson.dumps(row.model_dump(mode="json", exclude_defaults=True)) + b"\n" for row in rows)
        return Response(body, media_type="application/jsonl")

    @api.get("/consumers/{name}/usage", tags=["consumers"], responses=GET)
    async def consumer_usage(name: EntityName) -> ConsumerUsage:
        """Totals and the last 100 requests, with every answered request added up first."""
        control.get("consumers", name)
        await asyncio.to_thread(control.flush_usage)  # not on the loop: it may serve the proxy too
        return control.usage(name)

    @api.get("/usage", tags=["usage"], responses=READ)
    async def usage_report(
        group_by: Annotated[
            list[Literal["consumer", "route", "model"]] | None,
            Query(
                description="Sum per these keys (repeat it: group_by=consumer&group_by=model); all together if none."
            ),
        ] = None,
        bucket: Annotated[Literal["hour", "day"] | None, Query(description="And per time bucket (UTC).")] = None,
        since: Annotated[float | None, Query(description="Unix seconds; 24 hours ago when omitted.")] = None,
        until: Annotated[float | None, Query(description="Unix seconds; now when omitted.")] = None,
        consumer: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only this consumer.")] = None,
        route: Annotated[str | None, Query(pattern=NAME_PATTERN, description="Only this route.")] = None,
        model: Annotated[str | None, Query(max_length=256, description="Only this model.")] = None,
    ) -> UsageReport:
        """Requests, tokens (prompt, completion, cached, reasoning) and cost, summed per consumer, route, model and
        hour or day, with every answered request added up first. Buckets are whole hours: `since` and `until` are
        widened to them."""
        now = time.time()
        await asyncio.to_thread(control.flush_usage)
        where = {k: v for k, v in (("consumer", consumer), ("route", route), ("model", model)) if v is not None}
        start, end = now - 86_400 if since is None else since, now if until is None else until
        return control.usage_report(list(dict.fromkeys(group_by or ())), bucket, start, end, where)

    @api.post("/promotions", tags=["promotions"], status_code=201, responses=_errors(400, 422))
    async def record_promotion(promotion: _body(Promotion)) -> Promotion:  # type: ignore[valid-type]
        """Record a promotion that reached this gateway (`lockgate promote` does, after each target)."""
        return await control.record_promotion(promotion)

    @api.get("/promotions", tags=["promotions"], responses=READ)
    async def list_promotions() -> Promotions:
        """The promotions recorded here, newest first (the last 1,000)."""
        return await control.promotions()

    app.include_router(api)
    openapi = app.openapi
    app.openapi = lambda: app.openapi_schema or document_batch_rows(openapi())  # type: ignore[method-assign]
    return app


def _crud(api: APIRouter, control: ControlPlane, kind: Any, spec_model: Any, record_model: Any) -> None:
    path, tag = PATHS[kind], PATHS[kind]
    body = _body(spec_model)

    @api.get(f"/{path}", tags=[tag], name=f"list_{kind}", responses=READ)
    async def list_entities(owner: OwnerFilter = None) -> dict[str, list[record_model]]:
        return {"data": [e.record() for e in control.all(kind) if owner is None or e.owner == owner]}

    @api.post(
        f"/{path}", tags=[tag], status_code=201, response_model=record_model, name=f"create_{kind}", responses=CREATE
    )
    async def create(spec: body, owner: OwnerHeader = "api") -> Any:  # type: ignore[valid-type]
        return (await control.create(kind, spec, owner)).record()

    @api.get(f"/{path}/{{name}}", tags=[tag], response_model=record_model, name=f"get_{kind}", responses=GET)
    async def get(name: EntityName) -> Any:
        return control.get(kind, name).record()

    @api.put(f"/{path}/{{name}}", tags=[tag], response_model=record_model, name=f"update_{kind}", responses=UPDATE)
    async def update(name: EntityName, spec: body, owner: OwnerHeader = "api") -> Any:  # type: ignore[valid-type]
        return (await control.update(kind, name, spec, owner)).record()

    @api.delete(f"/{path}/{{name}}", tags=[tag], status_code=204, name=f"delete_{kind}", responses=DELETE)
    async def delete(name: EntityName, owner: OwnerHeader = "api") -> Response:
        await control.delete(kind, name, owner)
        return Response(status_code=204)

    _adopt(api, control, kind, record_model)


def _adopt(api: APIRouter, control: ControlPlane, kind: Any, record_model: Any) -> None:
    path = PATHS[kind]

    @api.post(
        f"/{path}/{{name}}/adopt", tags=[path], response_model=record_model, name=f"adopt_{kind}", responses=ADOPT
    )
    async def adopt(name: EntityName, owner: OwnerHeader = "api") -> Any:
        """Make the caller (`Lockgate-Owner`) this entity's owner, whoever had it: how `terraform import` takes
        over what a pipeline or the API made. Adopting a consumer adopts its API keys."""
        return (await control.adopt(kind, name, owner)).record()


def _api_keys(api: APIRouter, control: ControlPlane) -> None:
    tag = "api-keys"

    @api.get("/api-keys", tags=[tag], responses=READ)
    async def list_keys(owner: OwnerFilter = None) -> dict[str, list[ApiKeyRecord]]:
        keys = (e for e in control.all("api_keys") if owner is None or e.owner == owner)
        return {"data": [ApiKeyRecord.model_validate(e.record()) for e in keys]}

    @api.post("/api-keys", tags=[tag], status_code=201, responses=CREATE_KEY)
    async def create_key(request: _body(ApiKeyCreate), owner: OwnerHeader = "api") -> ApiKeyCreated:  # type: ignore[valid-type]
        """Create a key; the response is the only time the key itself is shown. A consumer may hold several
        keys at once (rotation: create the new one, then delete the old)."""
        entity, key = await control.create_api_key(request, owner)
        return ApiKeyCreated.model_validate({**entity.record(), "key": key})

    @api.get("/api-keys/{name}", tags=[tag], responses=GET)
    async def get_key(name: EntityName) -> ApiKeyRecord:
        return ApiKeyRecord.model_validate(control.get("api_keys", name).record())

    @api.delete("/api-keys/{name}", tags=[tag], status_code=204, responses=DELETE)
    async def delete_key(name: EntityName, owner: OwnerHeader = "api") -> Response:
        await control.delete("api_keys", name, owner)
        return Response(status_code=204)

    _adopt(api, control, "api_keys", ApiKeyRecord)
