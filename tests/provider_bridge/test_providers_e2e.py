"""Upstreams of each provider, the gateway's prices and prompt policies (gateway, route, group) through the real
Terraform and the real provider: typed settings blocks (repeated ones too), defaults filled in by the plan (so a
second plan is empty), and the OpenAI SDK through the gateway to each mock."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import openai
import pytest
from lockgate.gateway_runtime.mock_llm import REPLY
from lockgate.sdk import AdminClient

BODY = """
resource "lockgate_gateway" "gw" {
  name = "providers"
  settings {
    prices {
      model  = "gpt-4o-prod"
      input  = 2.5
      output = 10
    }
    prices {
      model        = "claude-x"
      input        = 3
      output       = 15
      cached_input = 0.3
    }
    policies {
      prompt_guard {
        deny    = ["(?i)ignore (all )?previous instructions"]
        message = "Refused by policy."
      }
      error_template {
        body = "{\\"fault\\": {\\"code\\": {{ code | tojson }}, \\"text\\": {{ message | tojson }}}}"
      }
    }
  }
}
resource "lockgate_mock_llm" "claude" {
  name     = "claude"
  type     = "anthropic"
}
resource "lockgate_mock_llm" "azure" {
  name     = "azure"
  type     = "azure"
}
resource "lockgate_llm_upstream" "claude" {
  gateway  = lockgate_gateway.gw.id
  name     = "claude"
  type     = "anthropic"
  base_url = lockgate_mock_llm.claude.base_url
  anthropic { max_tokens = MAX_TOKENS }
}
resource "lockgate_llm_upstream" "azure" {
  gateway  = lockgate_gateway.gw.id
  name     = "azure"
  type     = "azure"
  base_url = lockgate_mock_llm.azure.base_url
  azure { deployment = "gpt-4o-prod" }
}
resource "lockgate_route" "claude" {
  gateway  = lockgate_gateway.gw.id
  name     = "claude"
  paths    = ["/claude/v1"]
  upstream = lockgate_llm_upstream.claude.name
  models {
    name     = "smart"
    upstream = lockgate_llm_upstream.claude.name
    model    = "claude-x"
  }
  models {
    name     = "fast"
    upstream = lockgate_llm_upstream.azure.name
    model    = "gpt-4o"
  }
  policies {
    key_auth {}
    usage {}
    prompt_decorator {
      prepend { content = "Be brief." }
      append {
        role    = "user"
        content = "Answer in English."
      }
    }
    prompt_template {
      templates {
        name = "summary"
        messages { content = "Summarise {{ text }}." }
      }
    }
    request_validation {
      body_schema = jsonencode({
        type       = "object"
        required   = ["messages"]
        properties = { messages = { type = "array" } }
      })
    }
    request_transform {
      add_headers {
        name  = "x-team"
        value = "blue"
      }
      set_body {
        field      = "temperature"
        json_value = "0.2"
      }
      identity { secret = "file:HMAC_FILE" }
    }
    response_transform {
      add_headers {
        name  = "x-served-by"
        value = "lockgate"
      }
    }
  }
}
resource "lockgate_route" "azure" {
  gateway  = lockgate_gateway.gw.id
  name     = "azure"
  paths    = ["/azure/v1"]
  upstream = lockgate_llm_upstream.azure.name
  policies {
    key_auth {}
    pii_redaction {
      detectors = ["email", "payment_card"]
      custom {
        name    = "employee_id"
        pattern = "EMP-[0-9]{6}"
      }
    }
  }
}
resource "lockgate_consumer_group" "metered" {
  gateway = lockgate_gateway.gw.id
  name    = "metered"
  token_limit {
    per_minute = 100000
    per_day    = 1000000
  }
  cost_budget { usd = 25.5 }
  policies {
    prompt_guard { enabled = false }
  }
}
resource "lockgate_consumer" "alice" {
  gateway = lockgate_gateway.gw.id
  name    = "alice"
  groups  = [lockgate_consumer_group.metered.name]
  token_limit { per_day = 500000 }
}
resource "lockgate_api_key" "alice" {
  gateway  = lockgate_gateway.gw.id
  name     = "alice-key"
  consumer = lockgate_consumer.alice.name
}
output "proxy_url" { value = lockgate_gateway.gw.proxy_url }
output "key" {
  value     = lockgate_api_key.alice.key
  sensitive = true
}
"""


@pytest.mark.e2e
def test_anthropic_and_azure_upstreams_from_terraform(project: Callable, tmp_path: Path) -> None:
    secret = tmp_path / "hmac"
    secret.write_text("hmac-e2e-secret")
    body = BODY.replace("HMAC_FILE", str(secret))
    p = project(body.replace("MAX_TOKENS", "256"))
    plan = p.tf("plan", "-input=false").stdout
    assert 'api_version = "2024-10-21"' in plan and 'version    = "2023-06-01"' in plan, "defaults shown in the plan"
    p.apply()
    p.tf("plan", "-detailed-exitcode", "-input=false")  # exit 0: nothing to change after apply
    endpoint = p.endpoint("providers")
    token = Path(str(endpoint["admin_token_ref"]).removeprefix("file:")).read_text()
    with AdminClient(str(endpoint["admin_url"]), token) as admin:
        prices = admin.settings().prices
        assert admin.consumers.get("alice").token_limit.per_day == 500_000, "a consumer's own limit, typed"
    assert [(price.model, price.input, price.cached_input) for price in prices] == [
        ("gpt-4o-prod", 2.5, None),
        ("claude-x", 3.0, 0.3),
    ], "the typed price blocks reached the gateway in order"
    proxy_url = p.tf("output", "-raw", "proxy_url").stdout
    key = p.tf("output", "-raw", "key").stdout
    hi: list[openai.types.chat.ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]
    for route, asked, answered in (
        ("claude", "smart", "claude-x"),
        ("claude", "fast", "gpt-4o-prod"),
        ("azure", "x", "gpt-4o-prod"),
    ):
        client = openai.OpenAI(base_url=f"{proxy_url}/{route}/v1", api_key=key, max_retries=0)
        reply = client.chat.completions.create(model=asked, messages=hi)
        assert reply.choices[0].message.content == REPLY and reply.model == answered, "aliases, typed blocks"
    with AdminClient(str(endpoint["admin_url"]), token) as admin:
        assert admin.routes.get("claude").policies.prompt_decorator.append[0].content == "Answer in English."
        assert admin.settings().policies.prompt_guard.message == "Refused by policy."
        assert admin.consumer_groups.get("metered").policies.prompt_guard.enabled is False
        pii = admin.routes.get("azure").policies.pii_redaction
        assert pii.detectors == ["email", "payment_card"] and pii.custom[0].max_length == 64 and pii.mode == "mask"
        claude = admin.routes.get("claude").policies
        assert claude.request_transform.identity.signature_header == "x-lockgate-signature", "defaults filled in"
        assert claude.prompt_template.templates[0].messages[0].role == "user"
    client = openai.OpenAI(base_url=f"{proxy_url}/claude/v1", api_key=key, max_retries=0)
    templated = client.chat.completions.with_raw_response.create(
        model="smart",
        messages=[{"role": "user", "content": "{template://summary}"}],
        extra_body={"properties": {"text": "x"}},
    )
    assert templated.parse().choices[0].message.content == REPLY and templated.headers["x-served-by"] == "lockgate"
    with pytest.raises(openai.BadRequestError) as invalid:
        client.chat.completions.create(model="smart", messages=[], extra_body={"messages": None})
    assert invalid.value.body == {
        "fault": {"code": "invalid_request_body", "text": invalid.value.body["fault"]["text"]}
    }

    p.write(body.replace("MAX_TOKENS", "512"))
    plan = p.tf("plan", "-input=false").stdout
    assert "1 to change, 0 to destroy" in plan and "256 -> 512" in plan, "a setting changes in place"
    p.apply()
    p.tf("plan", "-detailed-exitcode", "-input=false")

    p.write(body.replace("MAX_TOKENS", "256").replace('"azure"\n  base_url', '"openai"\n  base_url'))
    refused = p.tf("plan", "-input=false", ok=(1,))
    assert "azure: settings for type 'azure', but type is 'openai'" in refused.stderr.replace("\n", " ")
