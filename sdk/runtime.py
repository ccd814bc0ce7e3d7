"""How a gateway runtime (or the mock LLM) is deployed: driver, addresses, settings."""

from __future__ import annotations

from typing import Literal

from lockgate.sdk._base import Name, SecretRef, StrictModel
from lockgate.sdk.entities import GatewaySettings
from lockgate.sdk.providers import Provider
from pydantic import Field, ValidationInfo, field_validator, model_validator

Role = Literal["standalone", "control-plane", "data-plane"]
Port = int


class ServeOptions(StrictModel):
    """`lockgate serve`'s options: the CLI's flags, the process driver's command line and a container's command are
    all made from this model (`args()`), so an option is defined once.

    Roles: `standalone` (the default) runs the admin API and the proxy in one process; `control-plane` runs the admin
    API and the cluster endpoint that data planes fetch their config from; `data-plane` runs only the proxy, serving
    the last config it fetched (kept in `data_dir`) even while the control plane is away."""

    role: Role = Field(default="standalone", description="standalone | control-plane | data-plane.")
    data_dir: str = Field(
        default=".lockgate/serve",
        description="Where the store, the tokens and (data plane) the last-known-good config and usage logs live.",
    )
    config: str | None = Field(default=None, description="Serve this declarative GatewayConfig (YAML/JSON), DB-less.")
    proxy_host: str = Field(default="127.0.0.1", description="Address the proxy binds (not on a control plane).")
    proxy_port: Port = Field(default=8000, ge=1, le=65535, description="Proxy port.")
    admin_host: str = Field(default="127.0.0.1", description="Address the admin API binds (not on a data plane).")
    admin_port: Port = Field(default=8001, ge=1, le=65535, description="Admin API port.")
    admin_token_file: str | None = Field(
        default=None, description="File holding the admin token (default: DATA_DIR/admin-token, made on first start)."
    )
    cluster_host: str = Field(default="127.0.0.1", description="Address the cluster endpoint binds (control plane).")
    cluster_port: Port = Field(default=8005, ge=1, le=65535, description="Cluster endpoint port (control plane).")
    cluster_token_file: str | None = Field(
        default=None,
        description="File holding the cluster token: a control plane makes DATA_DIR/cluster-token when unset; a data "
        "plane must be given it.",
    )
    control_plane: str | None = Field(
        default=None, description="The control plane's cluster endpoint URL (data plane), e.g. http://cp:8005."
    )
    workers: int = Field(default=1, ge=1, le=64, description="Data-plane processes sharing the proxy port.")
    env_dir: str | None = Field(
        default=None,
        description="Read each file in this directory into the environment at start (its name is the variable's): "
        "secrets a config names as env:NAME, kept out of a container's configuration.",
    )
    name: str | None = Field(default=None, description="The gateway's (or data plane's) name, reported by /health.")
    instance_id: str | None = Field(
        default=None, description="Reported by /health, so a starter can tell its process from another (random)."
    )

    @model_validator(mode="after")
    def _role_fits(self) -> ServeOptions:
        if self.role == "data-plane":
            missing = [
                f"--{f.replace('_', '-')}" for f in ("control_plane", "cluster_token_file") if not getattr(self, f)
            ]
            if missing:
                raise ValueError(f"a data plane needs {' and '.join(missing)} (where its config comes from)")
            if self.config is not None:
                raise ValueError("a data plane serves its control plane's config: --config is for the other roles")
        elif self.control_plane is not None:
            raise ValueError(f"--control-plane is for --role data-plane, not {self.role}")
        return self

    def args(self) -> list[str]:
        """The `lockgate serve ...` command line for these options (defaults left out)."""
        out = ["serve"]
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if value is not None and value != field.default:
                out += [f"--{name.replace('_', '-')}", str(value)]
        return out


DEFAULT_IMAGE = "lockgate/runtime:latest"  # what `lockgate image build` tags


class GatewayRuntime(StrictModel):
    """A running gateway. Driver `process` runs it as one local process (admin API + proxy); driver `docker` as a
    control-plane container and `data_planes` data-plane containers on a network of their own."""

    name: Name
    driver: Literal["process", "docker"] = Field(
        default="process", description="How the runtime runs: 'process' (a local process) or 'docker' (containers)."
    )
    host: str = Field(default="127.0.0.1", description="Address the ports bind (or are published) on.")
    proxy_port: int | None = Field(
        default=None, ge=1, le=65535, description="Proxy port (docker: the first data plane's); a free one when unset."
    )
    admin_port: int | None = Field(default=None, ge=1, le=65535, description="Admin API port; a free one when unset.")
    workers: int = Field(default=1, ge=1, le=64, description="Proxy processes (docker: per data plane).")
    data_planes: int = Field(default=1, ge=1, le=16, description="docker: data-plane containers, each on its own port.")
    image: str = Field(default=DEFAULT_IMAGE, description="docker: the runtime image (`lockgate image build`).")
    environment: str | None = Field(default=None, description="docker: an `environment` label on every container.")
    region: str | None = Field(default=None, description="docker: a `region` label on every container.")
    pass_env: list[str] = Field(
        default_factory=list,
        description="docker: names of environment variables handed from Terraform's environment to the data planes "
        "(the upstream secrets they resolve as `env:NAME`); the values never enter the configuration or state.",
    )
    keep_volume: bool = Field(default=False, description="docker: destroy keeps the control plane's store volume.")
    settings: GatewaySettings | None = Field(default=None, description="Data plane settings (see GatewaySettings).")

    @field_validator("data_planes", "image", "environment", "region", "pass_env", "keep_volume")
    @classmethod
    def _docker_only(cls, value: object, info: ValidationInfo) -> object:
        name = str(info.field_name)
        if info.data.get("driver") == "process" and value != cls.model_fields[name].get_default(
            call_default_factory=True
        ):
            raise ValueError(
                f"{name} is for driver 'docker'; a 'process' gateway is one local process (set driver = 'docker', "
                "or leave it out)"
            )
        return value


class MockLlmRuntime(StrictModel):
    """A local mock upstream (`lockgate mock-llm`) for demos and tests, in one provider's wire format: a local
    process, or (driver `docker`) a container on a docker gateway's network, where its data planes reach it."""

    name: Name
    type: Provider = Field(
        default="openai", description="The provider whose wire format it speaks: one of lockgate's upstream types."
    )
    driver: Literal["process", "docker"] = Field(default="process", description="'process' or 'docker'.")
    network: str | None = Field(
        default=None,
        validate_default=True,
        description="docker: the network to join (a docker lockgate_gateway's `network`).",
    )
    image: str = Field(default=DEFAULT_IMAGE, description="docker: the runtime image (it runs `lockgate mock-llm`).")
    host: str = Field(default="127.0.0.1", description="Address to bind (docker: to publish the port on).")
    port: int | None = Field(default=None, ge=1, le=65535, description="Port; a free one when unset.")
    chunks: int = Field(default=8, ge=1, le=1000, description="SSE chunks per streamed reply.")
    chunk_delay_ms: float = Field(default=0.0, ge=0, le=10_000, description="Pause between SSE chunks.")
    latency_ms: float = Field(default=0.0, ge=0, le=60_000, description="Pause before every answer.")

    @property
    def base_path(self) -> str:
        """What an upstream of the mock's type puts after its address in its base_url."""
        return {"azure": "", "bedrock": "", "gemini": "/v1beta", "cohere": "/v2"}.get(self.type, "/v1")

    @field_validator("network")
    @classmethod
    def _network_for_docker(cls, value: str | None, info: ValidationInfo) -> str | None:
        if (info.data.get("driver") == "docker") != (value is not None):
            raise ValueError("a docker mock needs a network (a docker gateway's `network`); a process mock takes none")
        return value


class RemoteGateway(StrictModel):
    """A gateway managed through its admin API from elsewhere: the provider's `gateway` block (`RemoteGateway`)."""

    name: Name
    admin_url: str = Field(pattern=r"^https?://", description="Its admin API, e.g. https://cp.eu.example:8001.")
    admin_token_ref: SecretRef = Field(description="A secret reference to its admin token.")
