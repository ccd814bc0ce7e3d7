"""lockgate.constructs: the CDK (cdktn) construct library that describes gateways as Python code."""

if __name__ == "constructs":  # imported by its bare folder name from the repository root
    from ._shadow import hand_over_to_jsii_constructs

    hand_over_to_jsii_constructs(__file__)
else:
    from lockgate.constructs.consumers import Consumer, ConsumerGroup, ConsumerSet
    from lockgate.constructs.environment import Environment, EnvironmentStack, Overlay, UpstreamOverlay
    from lockgate.constructs.errors import ConstructValidationError
    from lockgate.constructs.limits import CostBudget, ModelPrice, RateLimit, TokenLimit
    from lockgate.constructs.policies import Policy
    from lockgate.constructs.route import Route
    from lockgate.constructs.runtime import DockerRuntime, Gateway, MockLlm, ProcessRuntime, RemoteGateway
    from lockgate.constructs.upstream import LlmUpstream

    __all__ = [
        "ConstructValidationError",
        "Consumer",
        "ConsumerGroup",
        "ConsumerSet",
        "CostBudget",
        "DockerRuntime",
        "Environment",
        "EnvironmentStack",
        "Gateway",
        "LlmUpstream",
        "MockLlm",
        "ModelPrice",
        "Overlay",
        "Policy",
        "ProcessRuntime",
        "RateLimit",
        "RemoteGateway",
        "Route",
        "TokenLimit",
        "UpstreamOverlay",
    ]
