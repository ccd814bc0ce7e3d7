"""lockgate.gateway_runtime: the control plane (admin API, store) and the data plane (proxy) of a gateway."""

from lockgate.gateway_runtime.config_file import ConfigFileError, load_config_file
from lockgate.gateway_runtime.mock_llm import MockSettings, create_mock_app, run_mock
from lockgate.gateway_runtime.server import StartError, run, serve

__all__ = [
    "ConfigFileError",
    "MockSettings",
    "StartError",
    "create_mock_app",
    "load_config_file",
    "run",
    "run_mock",
    "serve",
]
