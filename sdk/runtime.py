"""How a gateway runtime (or the mock LLM) is deployed: driver, addresses, settings."""

from __future__ import annotations

from typing import Literal

from lockgate.sdk._base import Name, StrictModel
from lockgate.sdk.entities import GatewaySettings
from pydantic import Field


class GatewayRuntime(StrictModel):
    """A running gateway: control plane + data plane. Driver `process` runs it as a local process."""

    name: Name
    driver: Literal["process"] = Field(default="process", description="How the runtime runs: 'process' (local).")
    host: str = Field(default="127.0.0.1", description="Address both ports bind to.")
    proxy_port: int | None = Field(default=None, ge=1, le=65535, description="Proxy port; a free one when unset.")
    admin_port: int | None = Field(default=None, ge=1, le=65535, description="Admin API port; a free one when unset.")
    settings: GatewaySettings | None = Field(default=None, description="Data plane settings (see GatewaySettings).")


class MockLlmRuntime(StrictModel):
    """A local OpenAI-compatible mock upstream (`lockgate mock-llm`) for demos and tests."""

    name: Name
    host: str = Field(default="127.0.0.1", description="Address to bind.")
    port: int | None = Field(default=None, ge=1, le=65535, description="Port; a free one when unset.")
    chunks: int = Field(default=8, ge=1, le=1000, description="SSE chunks per streamed reply.")
    chunk_delay_ms: float = Field(default=0.0, ge=0, le=10_000, description="Pause between SSE chunks.")
    latency_ms: float = Field(default=0.0, ge=0, le=60_000, description="Pause before every answer.")
