"""`lockgate consumers apply/export` as a pipeline runs them: the real command against a real `lockgate serve`, exit
codes, what stdout and stderr say (never a key), the keys file, and the gateway's state after each run."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from lockgate.sdk import AdminClient, NotFound

from tests.gateway_runtime.test_consumer_batch import setup, status_with

LOCKGATE = str(Path(sys.executable).parent / "lockgate")
SECRET = re.compile(r"lg-|[0-9a-f]{64}")  # a generated key, or a key's hash


def lockgate(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LOCKGATE, *args],
        cwd=cwd,
        env={**os.environ, "COLUMNS": "120", **(env or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )


@dataclass
class Served:
    """A gateway set up as Terraform would (an upstream, a keyed route, groups gold and free) and the flags that
    name it."""

    proxy_url: str
    admin: AdminClient
    flags: tuple[str, ...]
    cwd: Path

    def apply(self, file: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return lockgate(self.cwd, "consumers", "apply", file, *self.flags, *args, env=env)

    def export(self, *args: str) -> subprocess.CompletedProcess[str]:
        return lockgate(self.cwd, "consumers", "export", *self.flags, *args)

    def version(self) -> int:
        return int(self.admin.status().config_version)


@pytest.fixture
def served(start_gateway: Callable[..., Any], mock_llm: str, tmp_path: Path) -> Any:
    gateway = start_gateway()
    setup(gateway, mock_llm)
    (tmp_path / "token").write_text(gateway.token + "\n")
    flags = ("--admin-url", gateway.admin_url, "--admin-token-file", "token")
    with AdminClient(gateway.admin_url, gateway.token) as admin:
        yield Served(gateway.proxy_url, admin, flags, tmp_path)


def write_csv(path: Path, count: int, groups: str = "gold;free", bad: dict[int, str] | None = None) -> Path:
    """`count` rows cust-0, cust-1, ... (row i on line i + 2); `bad` replaces whole rows by index."""
    lines = ["name,groups", *(f"cust-{i},{groups}" for i in range(count))]
    for index, line in (bad or {}).items():
        lines[index + 1] = line
    path.write_text("\n".join(lines) + "\n")
    return path


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_failed(result: subprocess.CompletedProcess[str], *phrases: str) -> None:
    assert result.returncode == 1, output(result)
    assert result.stdout == "" and "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in result.stderr, result.stderr


def test_a_pipeline_provisions_ten_thousand_consumers_from_a_csv(served: Served) -> None:
    write_csv(served.cwd / "customers.csv", 10_000)
    first = served.apply("customers.csv", "--owner", "billing", "--keys-out", "keys.csv")
    assert first.returncode == 0, output(first)
    summary, written = first.stdout.splitlines()
    assert re.fullmatch(r"\+10,000 created  ~0 updated  -0 deleted  0 unchanged  in \d+\.\d s", summary)
    assert written == "10,000 generated key(s) written to keys.csv (mode 0600)"
    assert first.stderr == ""  # no progress bar where there is no terminal, and no key anywhere
    keys_file = served.cwd / "keys.csv"
    assert stat.S_IMODE(keys_file.stat().st_mode) == 0o600
    with keys_file.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert header == ["consumer", "key_name", "key"] and len(rows) == 10_000
    keys = {consumer: key for consumer, _, key in rows}
    assert rows[4321][:2] == ["cust-4321", "cust-4321-key"] and len(set(keys.values())) == 10_000
    assert status_with(served.proxy_url, keys["cust-4321"]) == 200
    assert served.admin.consumers.get("cust-4321").owner == "pipeline:billing"

    # the same file again, at a terminal: a progress bar on stderr, and nothing to do
    again = served.apply("customers.csv", "--owner", "billing", env={"TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1"})
    assert again.returncode == 0, output(again)
    assert again.stdout.startswith("+0 created  ~0 updated  -0 deleted  10,000 unchanged  in ")
    assert "sending rows" in again.stderr and "applying (all or nothing)" in again.stderr
    assert not SECRET.search(output(first) + output(again))
    version = served.version()

    # one bad row on line 7002 (rows[7000]) among 9,999 changed ones: nothing is applied, the line is named
    write_csv(served.cwd / "bad.csv", 10_000, groups="free", bad={7000: "cust-7000,platinum"})
    bad = served.apply("bad.csv", "--owner", "billing", "--keys-out", "bad-keys.csv")
    assert_failed(bad, "bad.csv line 7002: rows[7000].groups[0]", "'platinum'", "nothing was applied")
    assert not (served.cwd / "bad-keys.csv").exists()  # created before applying, removed as no key came
    assert served.version() == version
    assert served.admin.consumers.get("cust-1").groups == served.admin.consumers.get("cust-7000").groups
    assert served.admin.consumers.get("cust-1").groups == ["gold", "free"]

    # keys would be generated with nowhere to go: refused before anything is applied
    (served.cwd / "new.csv").write_text("name,groups\ncust-0,gold;free\nnew-0,gold\nnew-1,free\n")
    nowhere = served.apply("new.csv", "--owner", "billing")
    assert_failed(nowhere, "2 row(s) without key_sha256", "pass --keys-out FILE", "nothing was applied")
    (served.cwd / "old-keys.csv").write_text("consumer,key_name,key\nsomeone,k,lg-keep-me\n")
    taken = served.apply("new.csv", "--owner", "billing", "--keys-out", "old-keys.csv")
    assert_failed(taken, "--keys-out old-keys.csv exists", "pass a new file")
    assert (served.cwd / "old-keys.csv").read_text().endswith("lg-keep-me\n")
    unwritable = served.apply("new.csv", "--owner", "billing", "--keys-out", "no-such-dir/keys.csv")
    assert_failed(unwritable, "--keys-out no-such-dir/keys.csv: cannot create")
    with pytest.raises(NotFound):
        served.admin.consumers.get("new-0")
    assert served.version() == version

    # a dry run of a shorter file with --prune: what would go, and nothing goes
    write_csv(served.cwd / "short.csv", 9_000)
    dry = served.apply("short.csv", "--owner", "billing", "--prune", "--dry-run", "--keys-out", "unused.csv")
    assert dry.returncode == 0, output(dry)
    summary, deleted = dry.stdout.splitlines()
    assert summary.startswith(
        "dry run: +0 would be created  ~0 would be updated  -1,000 would be deleted  9,000 unchanged  in "
    )
    assert deleted == "  deleted: " + ", ".join(f"cust-{i}" for i in range(9_000, 9_010)) + " ..."
    assert served.version() == version and served.admin.consumers.get("cust-9999")
    assert not (served.cwd / "unused.csv").exists()

    # another owner's consumers are refused, naming their owner
    crm = served.apply("short.csv", "--owner", "crm")
    assert_failed(
        crm, "short.csv line 2: ", "'cust-0' is owned by 'pipeline:billing'", "'pipeline:crm'", "nothing was applied"
    )

    # an export holds no key material, and applied again changes nothing
    for format in ("csv", "jsonl"):
        exported = served.export("--owner", "billing", "--format", format)
        assert exported.returncode == 0 and exported.stderr == "", output(exported)
        assert not SECRET.search(exported.stdout)
        lines = exported.stdout.splitlines()
        assert len(lines) == (10_001 if format == "csv" else 10_000)
        (served.cwd / f"exported.{format}").write_text(exported.stdout)
        reapplied = served.apply(f"exported.{format}", "--owner", "billing")
        assert reapplied.returncode == 0, output(reapplied)
        assert reapplied.stdout.startswith("+0 created  ~0 updated  -0 deleted  10,000 unchanged  in ")
    assert lines[7000] == '{"name": "cust-7000", "groups": ["gold", "free"], "keys": [{"name": "cust-7000-key"}]}'
    assert (served.cwd / "exported.csv").read_text().splitlines()[:2] == [
        "name,groups,expires_at,key_name",
        "cust-0,gold;free,,cust-0-key",
    ]
    assert served.version() == version


def test_jsonl_rows_bring_their_own_keys_several_and_expiring(served: Served) -> None:
    plain = {n: f"{n}-0123456789abcdef" for n in ("old", "new", "expired", "later")}
    sha = {n: hashlib.sha256(key.encode()).hexdigest() for n, key in plain.items()}
    rows = [
        {
            "name": "rot",
            "groups": ["gold"],
            "keys": [{"name": f"rot-{n}", "key_sha256": sha[n]} for n in ("old", "new")],
        },
        {"name": "temp", "groups": "free", "key_sha256": sha["expired"], "expires_at": "2020-01-01T00:00:00Z"},
        {"name": "kept", "key_name": "kept-main", "key_sha256": sha["later"], "expires_at": "2999-01-01T00:00:00Z"},
        {"name": "keyless", "groups": ["gold"], "keys": []},
    ]
    (served.cwd / "mine.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    applied = served.apply("mine.jsonl", "--owner", "pipeline:billing")  # no key is generated: no --keys-out
    assert applied.returncode == 0, output(applied)
    assert applied.stdout.startswith("+4 created  ~0 updated  -0 deleted  0 unchanged  in ")
    assert status_with(served.proxy_url, plain["old"]) == status_with(served.proxy_url, plain["new"]) == 200
    assert status_with(served.proxy_url, plain["later"]) == 200
    answer = httpx.get(f"{served.proxy_url}/v1/models", headers={"Authorization": f"Bearer {plain['expired']}"})
    assert answer.status_code == 401 and answer.json()["error"]["code"] == "expired_api_key"
    assert served.admin.consumers.get("temp").groups == ["free"]
    assert served.admin.api_keys.get("kept-main").expires_at == "2999-01-01T00:00:00Z"
    key_names = {"rot-old", "rot-new", "temp-key", "kept-main"}  # owned by the batch's owner, like its consumers
    assert {k.name for k in served.admin.api_keys.list(owner="pipeline:billing")} == key_names

    exported = served.export("--owner", "billing")  # jsonl by default: several keys, and none, are kept as they are
    assert exported.returncode == 0 and not SECRET.search(exported.stdout), output(exported)
    (served.cwd / "exported.jsonl").write_text(exported.stdout)
    again = served.apply("exported.jsonl", "--owner", "billing")
    assert again.returncode == 0, output(again)
    assert again.stdout.startswith("+0 created  ~0 updated  -0 deleted  4 unchanged  in ")
    assert {k.name for k in served.admin.api_keys.list(owner="pipeline:billing")} == key_names  # none for keyless
    assert status_with(served.proxy_url, plain["new"]) == 200
    as_csv = served.export("--owner", "billing", "--format", "csv")
    assert_failed(as_csv, "consumer 'rot' has 2 keys: a CSV row holds one; export as jsonl")

    # a JSON array names the item of a bad row
    (served.cwd / "bad.json").write_text(json.dumps([{"name": "a"}, {"name": "b", "groups": ["platinum"]}]))
    bad = served.apply("bad.json", "--owner", "billing")
    assert_failed(bad, "bad.json item [1]: rows[1].groups[0]", "'platinum'", "nothing was applied")

    # a token file that holds something else: refused, and what it holds is never shown
    (served.cwd / "notes.txt").write_text("token-in-a-note\nsecond-line-secret\n")
    misread = lockgate(
        served.cwd, "consumers", "export", "--admin-url", served.flags[1], "--admin-token-file", "notes.txt"
    )
    assert_failed(misread, "--admin-token-file notes.txt: does not hold a token")
    assert "secret" not in misread.stderr and "token-in-a-note" not in misread.stderr


@pytest.mark.parametrize(
    ("file", "content", "args", "message"),
    [
        ("c.csv", "name,groups\na,gold\n", (), "say which gateway: --gateway NAME, or --admin-url URL"),
        ("c.csv", "name,groups\na,gold\n", ("--admin-url", "http://127.0.0.1:9"), "needs --admin-token-file FILE"),
        (
            "c.csv",
            "name,groups,color\na,gold,red\n",
            ("--admin-url", "http://127.0.0.1:9", "--admin-token-file", "t"),
            "c.csv line 1: unknown column(s) ['color']; the columns are name, groups, key_sha256",
        ),
        (
            "c.txt",
            "name,groups\na,gold\n",
            ("--admin-url", "http://127.0.0.1:9", "--admin-token-file", "t"),
            "c.txt: cannot tell its format: name it .csv, .json or .jsonl",
        ),
        (
            "c.jsonl",
            '{"name": "a"}\n[1]\n',
            ("--admin-url", "http://127.0.0.1:9", "--admin-token-file", "t"),
            "c.jsonl line 2: a row is an object",
        ),
        (
            "c.csv",
            "name,groups\na,gold\n",
            ("--owner", "Not An Owner", "--admin-url", "http://127.0.0.1:9"),
            "--owner 'Not An Owner' is not an owner",
        ),
    ],
)
def test_usage_errors_say_what_to_fix(
    tmp_path: Path, file: str, content: str, args: tuple[str, ...], message: str
) -> None:
    (tmp_path / file).write_text(content)
    (tmp_path / "t").write_text("token")
    assert_failed(lockgate(tmp_path, "consumers", "apply", file, *args), message)


def test_a_gateway_not_deployed_here_names_lockgate_home(tmp_path: Path, isolated_home: Path) -> None:
    (tmp_path / "c.csv").write_text("name,groups\na,gold\n")
    result = lockgate(tmp_path, "consumers", "apply", "c.csv", "--gateway", "nosuch")
    assert_failed(result, f"no gateway named 'nosuch' is deployed on this machine (under {isolated_home})")
    assert_failed(lockgate(tmp_path, "consumers", "export", "--gateway", "nosuch"), str(isolated_home))
    both = lockgate(tmp_path, "consumers", "export", "--gateway", "x", "--admin-url", "http://127.0.0.1:9")
    assert_failed(both, "say which gateway")
    assert_failed(lockgate(tmp_path, "consumers", "export", "--format", "xml"), "--format 'xml': use one of csv")
