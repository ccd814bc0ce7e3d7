"""The admin API (FastAPI): CRUD for every entity, usage, status; OpenAPI at /openapi.json.

Errors use the proxy's shape, `{"error": {"message", "type", "code", "field"}}`, with `field` the path of the
offending field so that the Terraform provider can attach its diagnostic to the right attribute (admin_errors.py).
"""

import hmac
import uuid
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from lockgate.gateway_runtime.control.admin_errors import AdminGate, install_error_handlers
from lockgate.gateway_runtime.control.service import ChangeRejected, ControlPlane
from lockgate.sdk import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRecord,
    Consumer,
    ConsumerGroup,
    ConsumerGroupRecord,
    ConsumerRecord,
    ConsumerUsage,
    ErrorResponse,
    GatewayConfig,
    GatewaySettings,
    Health,
    LlmUpstream,
    Route,
    RouteRecord,
    Status,
    UpstreamRecord,
)
from lockgate.sdk.client import PATHS

_ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorResponse} for s in (400, 401, 404, 405, 409, 413, 422)}


def create_admin_app(control: ControlPlane, admin_token: str, identity: Health | None = None) -> FastAPI:
    bearer = HTTPBearer(auto_error=False)
    identity = identity or Health(status="ok", instance_id=uuid.uuid4().hex)

    async def require_token(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        # AdminGate has refused tokenless requests before their body was read; this documents the scheme in OpenAPI
        if credentials is None or not hmac.compare_digest(credentials.credentials.encode(), admin_token.encode()):
            raise ChangeRejected(401, "missing or wrong admin token: send 'Authorization: Bearer <admin token>'")

    app = FastAPI(title="lockgate admin API", version="1", responses=_ERRORS)

    install_error_handlers(app)
    app.add_middleware(AdminGate, token=admin_token)

    @app.get("/health", tags=["status"])
    async def health() -> Health:
        """Liveness and identity (the gateway's name and instance id), without authentication."""
        return identity

    api = APIRouter(dependencies=[Depends(require_token)])

    @api.get("/status", tags=["status"])
    async def status() -> Status:
        return Status(status="ok", config_version=control.version, config_hash=control.data.snapshot.hash)

    @api.get("/config", tags=["config"])
    async def config() -> GatewayConfig:
        """The whole declarative configuration the gateway serves (API keys as hashes)."""
        return control.config()

    @api.post("/config/reload", tags=["config"])
    async def reload_config() -> Status:
        """DB-less gateways: read the config file again and serve it (like SIGHUP); on any error the running
        config stays and the error names the field."""
        control.reload()
        return Status(status="ok", config_version=control.version, config_hash=control.data.snapshot.hash)

    @api.get("/gateway", tags=["gateway"])
    async def get_gateway() -> GatewaySettings:
        return control.settings

    @api.put("/gateway", tags=["gateway"])
    async def put_gateway(settings: GatewaySettings) -> GatewaySettings:
        return control.update_settings(settings)

    _crud(api, control, "upstreams", LlmUpstream, UpstreamRecord)
    _crud(api, control, "routes", Route, RouteRecord)
    _crud(api, control, "consumer_groups", ConsumerGroup, ConsumerGroupRecord)
    _crud(api, control, "consumers", Consumer, ConsumerRecord)
    _api_keys(api, control)

    @api.get("/consumers/{name}/usage", tags=["consumers"])
    async def consumer_usage(name: str) -> ConsumerUsage:
        """Totals and the last 100 requests (with several workers: up to a second behind)."""
        return control.usage(name)

    app.include_router(api)
    return app


def _crud(api: APIRouter, control: ControlPlane, kind: Any, spec_model: Any, record_model: Any) -> None:
    path, tag = PATHS[kind], PATHS[kind]

    @api.get(f"/{path}", tags=[tag], name=f"list_{kind}")
    async def list_entities() -> dict[str, list[record_model]]:
        return {"data": [e.record() for e in control.state[kind].values()]}

    @api.post(f"/{path}", tags=[tag], status_code=201, response_model=record_model, name=f"create_{kind}")
    async def create(spec: spec_model) -> Any:
        return control.create(kind, spec).record()

    @api.get(f"/{path}/{{name}}", tags=[tag], response_model=record_model, name=f"get_{kind}")
    async def get(name: str) -> Any:
        return control.get(kind, name).record()

    @api.put(f"/{path}/{{name}}", tags=[tag], response_model=record_model, name=f"update_{kind}")
    async def update(name: str, spec: spec_model) -> Any:
        return control.update(kind, name, spec).record()

    @api.delete(f"/{path}/{{name}}", tags=[tag], status_code=204, name=f"delete_{kind}")
    async def delete(name: str) -> Response:
        control.delete(kind, name)
        return Response(status_code=204)


def _api_keys(api: APIRouter, control: ControlPlane) -> None:
    tag = "api-keys"

    @api.get("/api-keys", tags=[tag])
    async def list_keys() -> dict[str, list[ApiKeyRecord]]:
        return {"data": [ApiKeyRecord.model_validate(e.record()) for e in control.state["api_keys"].values()]}

    @api.post("/api-keys", tags=[tag], status_code=201)
    async def create_key(request: ApiKeyCreate) -> ApiKeyCreated:
        """Create a key; the response is the only time the key itself is shown."""
        entity, key = control.create_api_key(request)
        return ApiKeyCreated.model_validate({**entity.record(), "key": key})

    @api.get("/api-keys/{name}", tags=[tag])
    async def get_key(name: str) -> ApiKeyRecord:
        return ApiKeyRecord.model_validate(control.get("api_keys", name).record())

    @api.delete("/api-keys/{name}", tags=[tag], status_code=204)
    async def delete_key(name: str) -> Response:
        control.delete("api_keys", name)
        return Response(status_code=204)
