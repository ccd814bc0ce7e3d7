"""Entry point Terraform runs: serve the provider over the plugin protocol (via `tf`)."""

from __future__ import annotations

import tf.provider
from lockgate.provider_bridge.framework import PlanningServicer
from lockgate.provider_bridge.provider import LockgateProvider
from tf.runner import run_provider


def main() -> None:
    tf.provider.ProviderServicer = PlanningServicer  # run_provider builds the servicer by name
    run_provider(LockgateProvider())


if __name__ == "__main__":
    main()
