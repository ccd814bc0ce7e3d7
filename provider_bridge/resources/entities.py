"""lockgate_llm_upstream, lockgate_route, lockgate_consumer_group, lockgate_consumer: one SDK model each.

Import IDs are `GATEWAY/NAME`, e.g. `terraform import lockgate_route.chat demo/chat`.
"""

from __future__ import annotations

from lockgate.provider_bridge.framework import EntityResource
from lockgate.sdk import Consumer, ConsumerGroup, LlmUpstream, Route


class LlmUpstreamResource(EntityResource):
    name = "llm_upstream"
    kind = "upstreams"
    model = LlmUpstream
    doc = "An LLM provider endpoint of a gateway. Import ID: GATEWAY/NAME."


class RouteResource(EntityResource):
    name = "route"
    kind = "routes"
    model = Route
    doc = "Paths of a gateway that lead to an upstream through policies. Import ID: GATEWAY/NAME."


class ConsumerGroupResource(EntityResource):
    name = "consumer_group"
    kind = "consumer_groups"
    model = ConsumerGroup
    doc = "A group of consumers that share ACL access and a rate limit. Import ID: GATEWAY/NAME."


class ConsumerResource(EntityResource):
    name = "consumer"
    kind = "consumers"
    model = Consumer
    doc = "A caller of the gateway (a customer, app or team). Import ID: GATEWAY/NAME."
