"""Runtime drivers: how a gateway runs. `process` (a local process, the default) and `docker` (a control-plane
container and data-plane containers); a `kubernetes` driver would be a third module (docs/kubernetes.md)."""
