"""acl (access phase, 950): the consumer must be in one of the route's allowed groups; 403 naming them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lockgate.gateway_runtime.data.policies.base import Access, Respond

if TYPE_CHECKING:  # the snapshot compiles the policies package
    from lockgate.gateway_runtime.data.snapshot import CompiledRoute


def acl(route: CompiledRoute, access: Access) -> Respond | None:
    assert route.acl_allow is not None and access.consumer is not None
    if route.acl_allow.isdisjoint(access.consumer.groups):
        return Respond(
            403,
            f"Consumer '{access.consumer.name}' may not use route '{route.name}': "
            f"it is not in any of the groups {sorted(route.acl_allow)}.",
            "access_denied",
        )
    return None
