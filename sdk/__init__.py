"""lockgate.sdk: the configuration models every part of lockgate shares, and the admin API client."""

from lockgate.sdk.api import (
    ApiKeyCreated,
    ApiKeyRecord,
    ConsumerGroupRecord,
    ConsumerRecord,
    ConsumerUsage,
    ErrorResponse,
    Health,
    RouteRecord,
    Status,
    UpstreamRecord,
    UsageRecord,
)
from lockgate.sdk.batch import BatchResult, ConsumerRow, GeneratedKey, KeyRow
from lockgate.sdk.client import AdminClient, AsyncAdminClient
from lockgate.sdk.config import ENTITY_KINDS, ConfigProblem, GatewayConfig, find_problems
from lockgate.sdk.entities import ApiKey, ApiKeyCreate, Consumer, ConsumerGroup, GatewaySettings, LlmUpstream, Route
from lockgate.sdk.errors import (
    ApiError,
    BadRequest,
    Conflict,
    LockgateError,
    NotFound,
    ServerError,
    TransportError,
    Unauthorized,
)
from lockgate.sdk.policies import Acl, KeyAuth, RateLimit, RoutePolicies, UsageAccounting
from lockgate.sdk.runtime import GatewayRuntime, MockLlmRuntime
from lockgate.sdk.secrets import SecretError, resolve_secret

__all__ = [
    "ENTITY_KINDS",
    "Acl",
    "AdminClient",
    "ApiError",
    "ApiKey",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyRecord",
    "AsyncAdminClient",
    "BadRequest",
    "BatchResult",
    "ConfigProblem",
    "Conflict",
    "Consumer",
    "ConsumerGroup",
    "ConsumerGroupRecord",
    "ConsumerRecord",
    "ConsumerRow",
    "ConsumerUsage",
    "ErrorResponse",
    "GatewayConfig",
    "GatewayRuntime",
    "GatewaySettings",
    "GeneratedKey",
    "Health",
    "KeyAuth",
    "KeyRow",
    "LlmUpstream",
    "LockgateError",
    "MockLlmRuntime",
    "NotFound",
    "RateLimit",
    "Route",
    "RoutePolicies",
    "RouteRecord",
    "SecretError",
    "ServerError",
    "Status",
    "TransportError",
    "Unauthorized",
    "UpstreamRecord",
    "UsageAccounting",
    "UsageRecord",
    "find_problems",
    "resolve_secret",
]
