"""Every code block in README.md runs as written, against the demo deployed as the README says.

A block that is not run here is preceded by `<!-- readme-test: REASON -->` naming why (another test runs it, or it
is the command that runs this test); a block without one must run. The names a block uses without defining them
(PROXY_URL, DEMO_API_KEY, ADMIN_URL, ADMIN_TOKEN) are the ones its own comment says where to get.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_demo_stack import LOCKGATE, lockgate

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"(?:<!-- readme-test: (?P<reason>[^>]+) -->\n)?```(?P<lang>[a-z]*)\n(?P<code>.*?)```", re.S)


def blocks() -> list[tuple[str, str, str | None]]:
    """(language, code, reason not to run) of every fenced block, in order."""
    text = (REPO / "README.md").read_text()
    return [(m["lang"], m["code"], m["reason"]) for m in BLOCK.finditer(text)]


def test_every_block_is_run_or_says_why_not() -> None:
    for lang, code, reason in blocks():
        assert lang, f"a code block needs a language (or is a plain listing: use ```text):\n{code[:200]}"
        if reason is not None:
            assert len(reason.split()) >= 3, f"say why this block is not run: {reason!r}"


def test_the_demo_listing_is_stacks_demo_py_in_full() -> None:
    listing = next(code for lang, code, _ in blocks() if lang == "python" and "class DemoStack" in code)
    assert listing == (REPO / "stacks" / "demo.py").read_text()


@pytest.mark.e2e
def test_the_readme_blocks_run_against_the_deployed_demo(project: Path, isolated_home: Path, tmp_path: Path) -> None:
    deployed = lockgate(project, "deploy", "demo", "--auto-approve")
    try:
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        names = {
            "PROXY_URL": lockgate(project, "output", "demo", "proxy_url").stdout,
            "DEMO_API_KEY": lockgate(project, "output", "demo", "demo_api_key").stdout,
            "ADMIN_URL": lockgate(project, "output", "demo", "admin_url").stdout,
            "ADMIN_TOKEN": lockgate(project, "admin-token", "demo").stdout.strip(),
        }
        ran = 0
        for lang, code, reason in blocks():
            if reason is not None or lang == "text" or "class DemoStack" in code:
                continue  # (the demo listing is checked against stacks/demo.py above)
            ran += 1
            if lang == "python":
                exec(compile(code, "README.md", "exec"), dict(names))
            elif lang == "sh":
                env = {**os.environ, "PATH": f"{Path(LOCKGATE).parent}:{os.environ['PATH']}"}
                result = subprocess.run(["sh", "-ec", code], cwd=project, env=env, capture_output=True, text=True)
                assert result.returncode == 0, f"{code}\n{result.stdout}{result.stderr}"
            elif lang == "yaml":
                serve_declarative_file(code, tmp_path)
            else:
                raise AssertionError(f"no way to run a {lang!r} block:\n{code[:200]}")
        assert ran >= 4
    finally:
        lockgate(project, "destroy", "demo", "--auto-approve")


def serve_declarative_file(code: str, tmp_path: Path) -> None:
    """`lockgate serve --config` the README's file (its secret reference resolved from a made-up environment)."""
    from tests.conftest import free_port, stop, wait_healthy

    config = tmp_path / "gateway.yaml"
    config.write_text(code)
    admin = free_port()
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "lockgate.cli.main", "serve", "--config", str(config)),
            *("--data-dir", str(tmp_path / "d"), "--proxy-port", str(free_port()), "--admin-port", str(admin)),
        ],
        env={**os.environ, "OPENAI_API_KEY": "sk-not-a-real-key"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_healthy(f"http://127.0.0.1:{admin}/health", process)
        token = (tmp_path / "d" / "admin-token").read_text()
        served = httpx.get(f"http://127.0.0.1:{admin}/config", headers={"Authorization": f"Bearer {token}"}).json()
        assert [r["name"] for r in served["routes"]] == ["chat"]
        key = re.search(r"# key: (\S+)", code)
        assert key and served["api_keys"][0]["key_sha256"] == hashlib.sha256(key[1].encode()).hexdigest()
    finally:
        stop(process)
        shutil.rmtree(tmp_path / "d", ignore_errors=True)
