"""The admin API's wire shapes beyond the config models: stored records, usage, errors, status."""

from __future__ import annotations

from typing import Literal

from lockgate.sdk._base import Name, Owner, StrictModel
from lockgate.sdk.entities import Consumer, ConsumerGroup, Expiry, LlmUpstream, Route
from pydantic import BaseModel, Field


class _Stored(BaseModel):
    id: str = Field(description="Server-assigned id.")
    created_at: float = Field(description="Unix time of creation.")
    updated_at: float = Field(description="Unix time of the last change.")
    owner: Owner = Field(default="api", description="Who manages it; only its owner changes or deletes it.")


class UpstreamRecord(LlmUpstream, _Stored):
    """An LlmUpstream as stored."""


class RouteRecord(Route, _Stored):
    """A Route as stored."""


class ConsumerGroupRecord(ConsumerGroup, _Stored):
    """A ConsumerGroup as stored."""


class ConsumerRecord(Consumer, _Stored):
    """A Consumer as stored."""


class ApiKeyRecord(StrictModel, _Stored):
    """An API key as the admin API shows it: never the key or its hash."""

    name: Name
    consumer: Name
    key_prefix: str
    expires_at: Expiry = None


class ApiKeyCreated(ApiKeyRecord):
    """The answer to creating a key: the only time the key itself is shown."""

    key: str


class UsageCounts(StrictModel):
    """Tokens as the providers counted them: `prompt_tokens` includes `cached_tokens` (read from a prompt cache),
    `completion_tokens` includes `reasoning_tokens`. Cost in micro-units of the price catalogue's currency (USD):
    integers, so sums never drift."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    cost_micros: int = 0


class UsageRecord(UsageCounts):
    """Tokens used by one request. `estimated`: the provider did not say (a stream cut short, a client that left);
    the counts are the gateway's estimate."""

    at: float
    route: str
    model: str
    stream: bool
    status: int
    estimated: bool = False


class ConsumerUsage(UsageCounts):
    """A consumer's usage since the gateway's store was created, and its most recent requests."""

    consumer: str
    requests: int = 0
    estimated_requests: int = Field(default=0, description="Requests whose counts are the gateway's estimate.")
    recent: list[UsageRecord] = []


class UsageRow(UsageCounts):
    """One row of a usage report: the keys it was grouped by (the others are null), its time bucket's start (Unix
    seconds, when bucketed) and the sums."""

    consumer: str | None = None
    route: str | None = None
    model: str | None = None
    bucket_start: int | None = None
    requests: int = 0
    estimated_requests: int = 0


class UsageReport(StrictModel):
    """Usage summed over [since, until) (whole hours), grouped as asked."""

    since: int
    until: int
    group_by: list[str]
    bucket: str | None
    rows: list[UsageRow]


class ErrorBody(StrictModel):
    message: str
    type: str
    code: str | None = None
    field: list[str | int] | None = Field(default=None, description="Path of the offending field, if any.")


class ErrorResponse(StrictModel):
    """Every admin API and proxy error: OpenAI-style `{"error": {...}}`."""

    error: ErrorBody


class Health(StrictModel):
    """`GET /health` (no token): liveness, and whom it reached, so a caller can tell its gateway from another one."""

    status: str
    name: str | None = Field(default=None, description="The gateway's name (`lockgate serve --name`).")
    instance_id: str = Field(description="Unique per process start (`--instance-id`, random by default).")


class Status(StrictModel):
    """Health and the configuration version the data plane is serving."""

    status: str
    config_version: int
    config_hash: str


class Promotion(StrictModel):
    """One promotion to a target, as `lockgate promote` records it in the target's control plane (`POST
    /promotions`): who, when, from which source and config, to which targets, and how it ended here."""

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$", description="The promotion's id.")
    at: float = Field(ge=0, description="Unix time it ended on this target.")
    actor: str = Field(min_length=1, max_length=256, description="Who ran it ($LOCKGATE_ACTOR, else user@host).")
    source: str = Field(min_length=1, max_length=256, description="The source stack.")
    source_config_hash: str = Field(max_length=128, description="The config hash the source ran.")
    targets: list[str] = Field(min_length=1, max_length=64, description="Every target, in the order applied.")
    target: str = Field(min_length=1, max_length=256, description="This target.")
    result: Literal["applied", "apply_failed", "smoke_failed", "rolled_back"]
    config_hash_before: str = Field(default="", max_length=128)
    config_hash_after: str = Field(default="", max_length=128)
    detail: str = Field(default="", max_length=4096, description="What went wrong, or the rollback's source.")


class Promotions(StrictModel):
    """`GET /promotions`: this gateway's promotions, newest first."""

    promotions: list[Promotion]


class DataPlaneReport(StrictModel):
    """What a data plane tells its control plane at every sync (cluster endpoint; docs/cluster.md)."""

    id: str = Field(max_length=128, description="Unique per data plane (kept in its DATA_DIR across restarts).")
    name: str | None = Field(default=None, max_length=128, description="`lockgate serve --name`, if given.")
    hostname: str = Field(default="", max_length=255)
    version: int = Field(default=0, ge=0, description="The config version it serves (0: none yet).")
    config_hash: str = Field(
        default="", max_length=64, description="Hash of the config it serves, consumers and keys aside."
    )
    base: int = Field(default=0, ge=0, description="The version of the whole config it holds.")
    offset: int = Field(default=0, ge=0, description="How much of that config's key-delta journal it holds (bytes).")
    epoch: str = Field(default="", max_length=64, description="Which publish of that version it holds.")
    refused: int | None = Field(default=None, description="A whole config it could not compile (it keeps serving).")
    error: str | None = Field(default=None, max_length=2000, description="Why, if it refused a config.")
    wait_s: float = Field(default=15.0, ge=0, le=30, description="How long to wait for news before answering 204.")


DataPlaneState = Literal["in_sync", "behind", "error", "lost"]


class DataPlaneStatus(DataPlaneReport):
    """A data plane as `GET /data-planes` shows it."""

    last_seen: float = Field(description="Unix time of its last sync.")
    state: DataPlaneState = Field(
        description="in_sync: serves the control plane's version; behind: an older one; error: it refused a config "
        "and serves its previous one (with the new consumers and keys); lost: not seen for 90 s (listed for 10 min)."
    )


class DataPlanes(StrictModel):
    """`GET /data-planes`: the control plane's version and every data plane that has synced since it started."""

    config_version: int
    config_hash: str = Field(description="Hash of the published config, consumers and keys aside.")
    data_planes: list[DataPlaneStatus]
