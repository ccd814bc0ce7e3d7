"""The full policy chain against the relay on one gateway, interleaved (pairs of equal runs), so the machine's drift
between two rows measured minutes apart (which moves the share by ±20% here) cancels out. bench/run.py runs it
(3 pairs of 2 s when quick); `python bench/full_chain.py` runs 6 pairs of 4 s. Writes bench/full_chain_results.json:
each pair's RPS and the median share."""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gateway_config import bench_config
from load import body, wrk
from targets import REPO, start_lockgate, start_mock

RESULTS = REPO / "bench" / "full_chain_results.json"


def measure(pairs: int = 6, seconds: float = 4) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="lockgate-bench-") as tmp:
        work = Path(tmp)
        mock = start_mock(work)
        config = work / "gateway.json"
        config.write_text(bench_config(mock.base_url).model_dump_json())
        gateway = start_lockgate(work, mock, 1, config)
        try:
            relay, full = gateway.base_url, gateway.base_url.removesuffix("/v1") + "/full/v1"
            for url in (relay, full):
                wrk(url, gateway.auth, body("mock", False), 8, 1)  # warm-up
            runs = []
            for _ in range(pairs):
                a = wrk(relay, gateway.auth, body("mock", False), 32, seconds).rps
                b = wrk(full, gateway.auth, body("mock", False), 32, seconds).rps
                runs.append({"relay_rps": round(a), "full_chain_rps": round(b)})
                print(f"  relay {a:,.0f} RPS, full chain {b:,.0f} RPS: {b / a:.0%}", flush=True)
        finally:
            gateway.stop()
            mock.stop()
    share = statistics.median(r["full_chain_rps"] / r["relay_rps"] for r in runs)
    result: dict[str, object] = {"seconds": seconds, "pairs": runs, "median_share": round(share, 3)}
    RESULTS.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    print(f"median share {measure()['median_share']:.0%} (target ≥ 70%)")
