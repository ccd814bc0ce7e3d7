"""After `make demo`: show the reply to one real call, the curl command that makes it, and how to tear down."""

from __future__ import annotations

import json
import shlex

import httpx
from lockgate.cli import iac


def main() -> None:
    root = iac.project_root()

    def output(name: str) -> str:
        return str(iac.terraform(root, "demo", "output", "-raw", name, synthesize=False, capture=True))

    proxy_url, key = output("proxy_url"), output("demo_api_key")
    body = {"model": "mock-1", "messages": [{"role": "user", "content": "Hello, gateway!"}]}
    url = f"{proxy_url}/v1/chat/completions"
    reply = httpx.post(url, json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    curl = (
        f"curl -s {url} -H {shlex.quote('Authorization: Bearer ' + key)} "
        f"-H 'Content-Type: application/json' -d {shlex.quote(json.dumps(body))}"
    )
    print("\nThe demo gateway is up. A chat completion through it:")
    print(f"  HTTP {reply.status_code}: {reply.text[:300]}")
    print("\nTry it yourself (the demo key allows 5 requests per minute; the 6th gets 429):")
    print(f"  {curl}")
    print(f"\nOpenAI SDK: OpenAI(base_url='{proxy_url}/v1', api_key='<the key above>')")
    admin = 'curl -H "Authorization: Bearer $(lockgate admin-token demo)" "$(lockgate output demo admin_url)/status"'
    print(f"Admin API:  {admin}   (with .venv/bin on PATH)")
    print("Tear down:  make demo-down   (or: .venv/bin/lockgate destroy demo --auto-approve)")


if __name__ == "__main__":
    main()
