"""The admin API (FastAPI): CRUD for every entity, usage, status; OpenAPI at /openapi.json.

Errors use the proxy's shape, `{"error": {"message", "type", "code", "field"}}`, with `field` the path of the
offending field so that the Terraform provider can attach its diagnostic to the right attribute (admin_errors.py).
"""

import asyncio
import hmac
import uuid
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from lockgate.gateway_runtime.control.admin_errors import AdminGate, install_error_handlers
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
from lockgate.sdk._base import NAME_PATTERN, whole_numbers_as_int
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
READ = _errors()
CREATE = _errors(400, 405, 409, 422)
CREATE_KEY = _errors(400, 405, 409, 422, why={409: "The name is taken, or another API key has the same key."})
GET = _errors(404)
UPDATE = _errors(
    400, 404, 405, 422, why={400: "The body is not UTF-8 JSON, or its `name` is not the URL's: names cannot change."}
)
DELETE = _errors(404, 405, 409, why={409: "Other entities still use this one (the message names them)."})
RELOAD = _errors(
    409,
    422,
    why={
        409: "This gateway keeps its config in its store: there is no file to reload.",
        422: "The file cannot be served (the message names the field); the running config stays.",
    },
)


def create_admin_app(control: ControlPlane, admin_token: str, identity: Health | None = None) -> FastAPI:
    bearer = HTTPBearer(auto_error=False)
    identity = identity or Health(status="ok", instance_id=uuid.uuid4().hex)

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        # AdminGate has refused tokenless requests before their body was read; this documents the scheme in OpenAPI
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), admin_token.encode()):
            raise ChangeRejected(401, "missing or wrong admin token: send 'Authorization: Bearer <admin token>'")

    app = FastAPI(title="lockgate admin API", version="1")

    install_error_handlers(app)
    app.add_middleware(AdminGate, token=admin_token)

    @app.get("/health", tags=["status"], responses=_errors(token=False))
    async def health() -> Health:
        """Liveness and identity (the gateway's name and instance id), without authentication."""
        return identity

    api = APIRouter(dependencies=[Depends(require_token)])

    @api.get("/status", tags=["status"], responses=READ)
    async def status() -> Status:
        return Status(status="ok", config_version=control.version, config_hash=control.data.snapshot.hash)

    @api.get("/config", tags=["config"], responses=READ)
    async def config() -> GatewayConfig:
        """The whole declarative configuration the gateway serves (API keys as hashes)."""
        return control.config()

    @api.post("/config/reload", tags=["config"], responses=RELOAD)
    async def reload_config() -> Status:
        """DB-less gateways: read the config file again and serve it (like SIGHUP); on any error the running
        config stays and the error names the field."""
        control.reload()
        return Status(status="ok", config_version=control.version, config_hash=control.data.snapshot.hash)

    @api.get("/gateway", tags=["gateway"], responses=READ)
    async def get_gateway() -> GatewaySettings:
        return control.settings

    @api.put("/gateway", tags=["gateway"], responses=_errors(400, 405, 422))
    async def put_gateway(settings: _body(GatewaySettings)) -> GatewaySettings:  # type: ignore[valid-type]
        return control.update_settings(settings)

    for kind in KINDS.values():
        if kind.create is None:  # API keys are created from a key (or none), not from what is stored
            _crud(api, control, kind.name, kind.model, kind.record)
    _api_keys(api, control)

    @api.get("/consumers/{name}/usage", tags=["consumers"], responses=GET)
    async def consumer_usage(name: EntityName) -> ConsumerUsage:
        """Totals and the last 100 requests, with every answered request added up first."""
        control.get("consumers", name)
        await asyncio.to_thread(control.flush_usage)  # not on the loop: it may serve the proxy too
        return control.usage(name)

    app.include_router(api)
    return app


def _crud(api: APIRouter, control: ControlPlane, kind: Any, spec_model: Any, record_model: Any) -> None:
    path, tag = PATHS[kind], PATHS[kind]
    body = _body(spec_model)

    @api.get(f"/{path}", tags=[tag], name=f"list_{kind}", responses=READ)
    async def list_entities() -> dict[str, list[record_model]]:
        return {"data": [e.record() for e in control.state[kind].values()]}

    @api.post(
        f"/{path}", tags=[tag], status_code=201, response_model=record_model, name=f"create_{kind}", responses=CREATE
    )
    async def create(spec: body) -> Any:  # type: ignore[valid-type]
        return control.create(kind, spec).record()

    @api.get(f"/{path}/{{name}}", tags=[tag], response_model=record_model, name=f"get_{kind}", responses=GET)
    async def get(name: EntityName) -> Any:
        return control.get(kind, name).record()

    @api.put(f"/{path}/{{name}}", tags=[tag], response_model=record_model, name=f"update_{kind}", responses=UPDATE)
    async def update(name: EntityName, spec: body) -> Any:  # type: ignore[valid-type]
        return control.update(kind, name, spec).record()

    @api.delete(f"/{path}/{{name}}", tags=[tag], status_code=204, name=f"delete_{kind}", responses=DELETE)
    async def delete(name: EntityName) -> Response:
        control.delete(kind, name)
        return Response(status_code=204)


def _api_keys(api: APIRouter, control: ControlPlane) -> None:
    tag = "api-keys"

    @api.get("/api-keys", tags=[tag], responses=READ)
    async def list_keys() -> dict[str, list[ApiKeyRecord]]:
        return {"data": [ApiKeyRecord.model_validate(e.record()) for e in control.state["api_keys"].values()]}

    @api.post("/api-keys", tags=[tag], status_code=201, responses=CREATE_KEY)
    async def create_key(request: _body(ApiKeyCreate)) -> ApiKeyCreated:  # type: ignore[valid-type]
        """Create a key; the response is the only time the key itself is shown."""
        entity, key = control.create_api_key(request)
        return ApiKeyCreated.model_validate({**entity.record(), "key": key})

    @api.get("/api-keys/{name}", tags=[tag], responses=GET)
    async def get_key(name: EntityName) -> ApiKeyRecord:
        return ApiKeyRecord.model_validate(control.get("api_keys", name).record())

    @api.delete("/api-keys/{name}", tags=[tag], status_code=204, responses=DELETE)
    async def delete_key(name: EntityName) -> Response:
        control.delete("api_keys", name)
        return Response(status_code=204)
