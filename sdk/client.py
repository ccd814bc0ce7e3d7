"""Typed admin API clients on httpx: `AdminClient` (sync) and `AsyncAdminClient`.

with AdminClient("http://127.0.0.1:8001", token="...") as admin:
    admin.routes.create(Route(name="chat", paths=["/v1"], upstream="openai"))
    admin.consumers.usage("alice")
    admin.consumers.apply(rows, owner="pipeline:billing", prune=True)   # a whole batch, all or nothing

`owner` (default 'api') is sent with every write as `Lockgate-Owner`: only an entity's owner changes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Generic, TypeVar

import httpx
import orjson
from lockgate.sdk.api import (
    ApiKeyCreated,
    ApiKeyRecord,
    ConsumerGroupRecord,
    ConsumerRecord,
    ConsumerUsage,
    DataPlanes,
    Promotion,
    Promotions,
    RouteRecord,
    Status,
    UpstreamRecord,
    UsageReport,
)
from lockgate.sdk.batch import BatchResult, ConsumerRow
from lockgate.sdk.config import GatewayConfig
from lockgate.sdk.entities import ApiKeyCreate, Consumer, ConsumerGroup, GatewaySettings, LlmUpstream, Route
from lockgate.sdk.errors import TransportError, error_for_status
from lockgate.sdk.kinds import KINDS
from pydantic import BaseModel

Spec = TypeVar("Spec", bound=BaseModel)
Rec = TypeVar("Rec", bound=BaseModel)
T = TypeVar("T")

# URL path segment per entity kind.
PATHS: dict[str, str] = {kind.name: kind.path for kind in KINDS.values()}
BATCH_PATH = "/consumer-batches"


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()["error"]
        message, field = str(body["message"]), body.get("field")
    except (ValueError, KeyError, TypeError):
        message, field = response.text or response.reason_phrase, None
    raise error_for_status(response.status_code, message, field)


def _json(body: BaseModel | None) -> Any:
    return body.model_dump(mode="json") if body is not None else None


def _result(response: httpx.Response) -> Any:
    _raise_for(response)
    if response.status_code == 204:
        return None
    if response.headers.get("content-type", "").startswith("application/jsonl"):
        return [orjson.loads(line) for line in response.content.splitlines() if line.strip()]
    return response.json()


BATCH_TIMEOUT_S = 600.0  # a batch's answer comes once all of it is checked and stored
ROWS_PER_CHUNK = 1000


class _Transport:
    """One request: send, map transport failures and error statuses to SDK errors, return the JSON body.

    `lines` streams a JSON Lines body (one request, however long: the gateway applies it as one transaction)."""

    def __init__(self, send: Callable[..., Any]) -> None:
        self._send = send

    def _request(self, method: str, path: str, body: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
        lines = kwargs.pop("lines", None)
        if lines is not None:
            kwargs["content"] = self._stream(lines)
            kwargs["headers"] = {**kwargs.get("headers", {}), "Content-Type": "application/jsonl"}
            kwargs["timeout"] = BATCH_TIMEOUT_S
        else:
            kwargs["json"] = _json(body)
        return kwargs

    def _stream(self, lines: Iterator[bytes]) -> Any:
        return lines

    def __call__(self, method: str, path: str, body: BaseModel | None = None, **kwargs: Any) -> Any:
        try:
            response = self._send(method, path, **self._request(method, path, body, kwargs))
        except httpx.TransportError as exc:
            raise TransportError(f"admin API unreachable: {exc}") from exc
        return _result(response)


class _AsyncTransport(_Transport):
    def _stream(self, lines: Iterator[bytes]) -> Any:
        async def chunks() -> AsyncIterator[bytes]:
            for chunk in lines:
                yield chunk

        return chunks()

    async def __call__(self, method: str, path: str, body: BaseModel | None = None, **kwargs: Any) -> Any:
        try:
            response = await self._send(method, path, **self._request(method, path, body, kwargs))
        except httpx.TransportError as exc:
            raise TransportError(f"admin API unreachable: {exc}") from exc
        return _result(response)


def _row_lines(
    rows: Iterable[ConsumerRow | Mapping[str, Any]], progress: Callable[[int], None] | None
) -> Iterator[bytes]:
    """JSON Lines, ROWS_PER_CHUNK rows per chunk; `progress` hears how many rows have been sent so far."""
    chunk: list[bytes] = []
    sent = 0
    for row in rows:
        raw = row.model_dump(mode="json", exclude_defaults=True) if isinstance(row, BaseModel) else row
        chunk.append(orjson.dumps(raw))
        if len(chunk) == ROWS_PER_CHUNK:
            sent += len(chunk)
            yield b"\n".join(chunk) + b"\n"
            chunk = []
            if progress:
                progress(sent)
    if chunk:
        sent += len(chunk)
        yield b"\n".join(chunk) + b"\n"
    if progress:
        progress(sent)


class Entities(Generic[Spec, Rec]):
    """CRUD for one entity kind; names are the keys."""

    def __init__(self, call: Callable[..., Any], kind: str, record: type[Rec], created: type[BaseModel] | None = None):
        self._call, self._path, self._record = call, PATHS[kind], record
        self._created = created or record

    def _one(self, value: Any, model: type[Any]) -> Any:
        return _convert(value, model.model_validate)

    def _many(self, value: Any) -> Any:
        return _convert(value, lambda items: [self._record.model_validate(i) for i in items["data"]])

    def create(self, spec: Spec) -> Any:
        """Create an entity; returns its record (for API keys: `ApiKeyCreated`, with the key)."""
        return self._one(self._call("POST", f"/{self._path}", spec), self._created)

    def get(self, name: str) -> Any:
        return self._one(self._call("GET", f"/{self._path}/{name}"), self._record)

    def list(self, owner: str | None = None) -> Any:
        """Every entity of this kind, or only `owner`'s."""
        return self._many(self._call("GET", f"/{self._path}", params={"owner": owner} if owner else None))

    def update(self, spec: Spec) -> Any:
        """Replace the entity named `spec.name` with `spec`."""
        name = getattr(spec, "name")  # noqa: B009 - every entity model has a name
        return self._one(self._call("PUT", f"/{self._path}/{name}", spec), self._record)

    def delete(self, name: str) -> Any:
        return self._call("DELETE", f"/{self._path}/{name}")

    def adopt(self, name: str) -> Any:
        """Make this client's owner the entity's owner (a consumer's keys come with it)."""
        return self._one(self._call("POST", f"/{self._path}/{name}/adopt"), self._record)


def _convert(value: Any, convert: Callable[[Any], Any]) -> Any:
    """Convert a JSON body, or (async client) the awaitable that will produce it."""
    return _then(value, convert) if isinstance(value, Awaitable) else convert(value)


async def _then(awaitable: Awaitable[T], convert: Callable[[T], Any]) -> Any:
    return convert(await awaitable)


class _Consumers(Entities[Consumer, ConsumerRecord]):
    def usage(self, name: str) -> Any:
        """Tokens and requests recorded for a consumer (`ConsumerUsage`)."""
        return self._one(self._call("GET", f"/consumers/{name}/usage"), ConsumerUsage)

    def apply(
        self,
        rows: Iterable[ConsumerRow | Mapping[str, Any]],
        *,
        owner: str,
        prune: bool = False,
        dry_run: bool = False,
        progress: Callable[[int], None] | None = None,
        adopt_from: str | None = None,
    ) -> Any:
        """Apply consumers and their keys for `owner` ('pipeline:billing') as one transaction, however many rows:
        a bad row anywhere applies nothing (BadRequest naming it). Returns a `BatchResult`; its `keys` are the
        generated keys, shown this once. Rows are `ConsumerRow`s or dicts of the same shape, streamed as they
        are read."""
        params = {"prune": str(prune).lower(), "dry_run": str(dry_run).lower()}
        if adopt_from is not None:  # take over the consumers of this owner that rows name
            params["adopt_from"] = adopt_from
        answer = self._call(
            "POST",
            BATCH_PATH,
            lines=_row_lines(rows, progress),
            params=params,
            headers={"Lockgate-Owner": owner},
        )
        return _convert(answer, BatchResult.model_validate)

    def export(self, owner: str | None = None) -> Any:
        """The consumers (of `owner`, or all) as `ConsumerRow`s without key hashes: applying them changes nothing."""
        params = {"owner": owner} if owner else {}
        return _convert(
            self._call("GET", BATCH_PATH, params=params), lambda lines: [ConsumerRow.model_validate(r) for r in lines]
        )


class _Api:
    def __init__(self, call: Callable[..., Any]) -> None:
        self._call = call
        self.upstreams: Entities[LlmUpstream, UpstreamRecord] = Entities(call, "upstreams", UpstreamRecord)
        self.routes: Entities[Route, RouteRecord] = Entities(call, "routes", RouteRecord)
        self.consumer_groups: Entities[ConsumerGroup, ConsumerGroupRecord] = Entities(
            call, "consumer_groups", ConsumerGroupRecord
        )
        self.consumers = _Consumers(call, "consumers", ConsumerRecord)
        self.api_keys: Entities[ApiKeyCreate, ApiKeyRecord] = Entities(call, "api_keys", ApiKeyRecord, ApiKeyCreated)

    def status(self) -> Any:
        """Health and the config version being served (`Status`)."""
        return _convert(self._call("GET", "/status"), Status.model_validate)

    def usage(
        self,
        group_by: Sequence[str] = ("consumer",),
        bucket: str | None = None,
        since: float | None = None,
        until: float | None = None,
        **where: str,
    ) -> Any:
        """Usage and cost summed per `group_by` ('consumer', 'route', 'model') and `bucket` ('hour', 'day'), over
        [since, until) (the last 24 hours by default); `where` filters: consumer=, route=, model= (`UsageReport`)."""
        params: list[tuple[str, str]] = [("group_by", key) for key in group_by]
        params += [(k, str(v)) for k, v in (("bucket", bucket), ("since", since), ("until", until)) if v is not None]
        params += list(where.items())
        return _convert(self._call("GET", "/usage", params=params), UsageReport.model_validate)

    def data_planes(self) -> Any:
        """A control plane's data planes: what each serves and whether it is in sync (`DataPlanes`)."""
        return _convert(self._call("GET", "/data-planes"), DataPlanes.model_validate)

    def config(self) -> Any:
        """The whole declarative configuration (keys as hashes)."""
        return _convert(self._call("GET", "/config"), GatewayConfig.model_validate)

    def reload_config(self) -> Any:
        """DB-less gateways: re-read the config file and serve it (like SIGHUP); returns the new `Status`."""
        return _convert(self._call("POST", "/config/reload"), Status.model_validate)

    def settings(self) -> Any:
        """The gateway-wide data plane settings (`GatewaySettings`)."""
        return _convert(self._call("GET", "/gateway"), GatewaySettings.model_validate)

    def update_settings(self, settings: GatewaySettings) -> Any:
        return _convert(self._call("PUT", "/gateway", settings), GatewaySettings.model_validate)

    def record_promotion(self, promotion: Promotion) -> Any:
        """Record a promotion that reached this gateway (`lockgate promote` does)."""
        return _convert(self._call("POST", "/promotions", promotion), Promotion.model_validate)

    def promotions(self) -> Any:
        """The promotions recorded on this gateway, newest first (`Promotions`)."""
        return _convert(self._call("GET", "/promotions"), Promotions.model_validate)


def _headers(token: str, owner: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "User-Agent": "lockgate-sdk", "Lockgate-Owner": owner}


class AdminClient(_Api):
    """Synchronous admin API client."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0, owner: str = "api") -> None:
        self._http = httpx.Client(base_url=base_url, headers=_headers(token, owner), timeout=timeout)
        super().__init__(_Transport(self._http.request))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncAdminClient(_Api):
    """Asynchronous admin API client: the same methods, awaited."""

    def __init__(self, base_url: str, token: str, timeout: float = 10.0, owner: str = "api") -> None:
        self._http = httpx.AsyncClient(base_url=base_url, headers=_headers(token, owner), timeout=timeout)
        super().__init__(_AsyncTransport(self._http.request))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncAdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
