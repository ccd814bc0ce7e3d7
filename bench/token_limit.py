"""A token limit of N per minute hammered by concurrent clients over several workers: the tokens admitted stay within
N plus the estimates of the requests in flight (the bar in the providers issue), and the limit is one limit.

    python bench/token_limit.py [--limit N] [--clients 64] [--workers 4] [--seconds 40]

Starts the fast mock and `lockgate serve --workers W` (key auth, the limit on the bench group), waits for the next
minute to start (so that the whole run is one window), then has every client send non-streamed requests
(`max_tokens` 50) back to back until the minute is nearly over. Counts the answered requests, the refused ones (429
token_limit_exceeded) and the tokens the answers were charged (their `usage.total_tokens`), and writes
bench/token_limit_results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_config import bench_config
from targets import REPO, start_lockgate, start_mock

RESULTS = REPO / "bench" / "token_limit_results.json"
MAX_TOKENS = 50
BODY = orjson.dumps({"model": "mock", "max_tokens": MAX_TOKENS, "messages": [{"role": "user", "content": "hi"}]})
ESTIMATE = 1 + MAX_TOKENS  # what the gateway reserves for BODY: "hi" is a token, plus max_tokens


async def hammer(url: str, key: str, clients: int, until: float) -> dict[str, int]:
    counts = {"answered": 0, "refused": 0, "errors": 0, "charged_tokens": 0}
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:

        async def client() -> None:
            while time.time() < until:
                async with session.post(f"{url}/chat/completions", data=BODY, headers=headers) as response:
                    body = await response.read()
                if response.status == 200:
                    counts["answered"] += 1
                    counts["charged_tokens"] += orjson.loads(body)["usage"]["total_tokens"]
                elif response.status == 429 and b"token_limit_exceeded" in body:
                    counts["refused"] += 1
                    await asyncio.sleep(0.01)
                else:
                    counts["errors"] += 1

        await asyncio.gather(*(client() for _ in range(clients)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=40.0)
    args = parser.parse_args()
    from lockgate.sdk import ConsumerGroup, TokenLimit

    with tempfile.TemporaryDirectory(prefix="lockgate-bench-limit-") as tmp:
        work = Path(tmp)
        mock = start_mock(work)
        config = bench_config(mock.base_url, consumers=100, routes=2)
        groups = [
            ConsumerGroup(name=g.name, rate_limit=g.rate_limit, token_limit=TokenLimit(per_minute=args.limit))
            for g in config.consumer_groups
        ]
        config = config.model_copy(update={"consumer_groups": groups})
        (work / "gateway.json").write_text(config.model_dump_json())
        gateway = start_lockgate(work, mock, args.workers, work / "gateway.json")
        try:
            minute = (int(time.time() // 60) + 1) * 60
            time.sleep(max(0.0, minute + 0.5 - time.time()))  # one whole window: the next minute
            until = min(minute + 58.0, time.time() + args.seconds)
            started = time.monotonic()
            counts = asyncio.run(hammer(gateway.base_url, gateway.auth, args.clients, until))
            seconds = round(time.monotonic() - started, 1)
        finally:
            gateway.stop()
            mock.stop()
    bound = args.limit + args.clients * ESTIMATE
    result = {
        "limit_per_minute": args.limit,
        "clients": args.clients,
        "workers": args.workers,
        "seconds": seconds,
        **counts,
        "in_flight_estimates": args.clients * ESTIMATE,
        "bound": bound,
        "within_bound": counts["charged_tokens"] <= bound,
        "charged_share_of_limit": round(counts["charged_tokens"] / args.limit, 3),
    }
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
