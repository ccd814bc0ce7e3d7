"""Many concurrent slow streams, an LLM's real load: COUNT streams of about five seconds each, arriving evenly over
ARRIVAL_S seconds, each on its own connection. Prints one JSON object: time to first token (p50, p99), how many
streams completed with [DONE], and the wall time from the first request to the last [DONE].

    python bench/streams.py BASE_URL AUTH COUNT ARRIVAL_S
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from urllib.parse import urlsplit

import orjson
import uvloop

BODY = orjson.dumps({"model": "slow", "stream": True, "messages": [{"role": "user", "content": "Say hello."}]})
TIMEOUT_S = 60.0


async def one_stream(host: str, port: int, request: bytes) -> tuple[float, bool]:
    """(ms to the first data event, completed)."""
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection(host, port)
    first: float | None = None
    tail = b""
    try:
        writer.write(request)
        async with asyncio.timeout(TIMEOUT_S):
            while True:
                chunk = await reader.read(65536)
                if not chunk:
                    return ((first or time.perf_counter()) - started) * 1000, False
                seen = tail + chunk
                if first is None and b"data: " in seen:
                    first = time.perf_counter()
                if b"[DONE]" in seen:
                    return (first - started) * 1000 if first else 0.0, True
                tail = seen[-16:]
    except (OSError, TimeoutError):
        return ((first or time.perf_counter()) - started) * 1000, False
    finally:
        writer.close()


async def main(base_url: str, auth: str, count: int, arrival_s: float) -> dict[str, float]:
    parts = urlsplit(base_url + "/chat/completions")
    assert parts.hostname is not None and parts.port is not None
    request = (
        (
            f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(BODY)}\r\nConnection: close\r\n"
            + (f"Authorization: Bearer {auth}\r\n" if auth else "")
        ).encode()
        + b"\r\n"
        + BODY
    )
    gap = arrival_s / count
    started = time.perf_counter()
    tasks = []
    for index in range(count):
        delay = started + index * gap - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one_stream(parts.hostname, parts.port, request)))
    results = await asyncio.gather(*tasks)
    wall = time.perf_counter() - started
    ttfts = sorted(ttft for ttft, _ in results)
    return {
        "ttft_p50_ms": round(statistics.median(ttfts), 3),
        "ttft_p99_ms": round(ttfts[min(len(ttfts) - 1, int(len(ttfts) * 0.99))], 3),
        "completed": sum(done for _, done in results),
        "wall_s": round(wall, 3),
    }


if __name__ == "__main__":
    uvloop.install()
    url, token, streams, arrival = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    print(orjson.dumps(asyncio.run(main(url, token, streams, arrival))).decode())
