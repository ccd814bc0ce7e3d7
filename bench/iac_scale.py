"""IaC scale: synth and Terraform plan / apply / no-op plan / destroy times for a gateway with N consumers.

`measure_iac`: each consumer is one `lockgate_consumer` resource, all in one group. `measure_consumer_set`: N
consumers with generated keys in one `lockgate_consumer_set` from a CSV (`ConsumerSet.from_csv`), plus a plan after
the file changed (1% of the members replaced).
`terraform destroy` is timed up to DESTROY_TIMED_UP_TO consumers; larger runs are cleaned up by stopping the gateway
(a 10,000-resource destroy takes far longer than the apply, all of it inside Terraform core).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DESTROY_TIMED_UP_TO = 1000

APP = """
import sys
from cdktn import App, TerraformStack
from lockgate.constructs import Gateway

N = int(sys.argv[1])
app = App()
stack = TerraformStack(app, "scale")
gateway = Gateway(stack, "gateway", name=f"scale-{N}")
group = gateway.add_consumer_group("bulk")
for i in range(N):
    gateway.add_consumer(f"c{i}", groups=[group], with_key=False)
app.synth()
"""


SET_APP = """
import sys
from cdktn import App, TerraformStack
from lockgate.constructs import ConsumerSet, Gateway

N = int(sys.argv[1])
app = App()
stack = TerraformStack(app, "scale")
gateway = Gateway(stack, "gateway", name=f"set-{N}")
gateway.add_consumer_group("bulk")
ConsumerSet.from_csv(stack, "customers", gateway=gateway, path="customers.csv", keys_file="keys.csv")
app.synth()
"""
# what issue 7 asks of a 10,000-member set, in seconds
SET_TARGETS = {"apply_s": 20.0, "noop_plan_s": 3.0, "destroy_s": 20.0}


def _customers(path: Path, size: int, renamed: int = 0) -> None:
    names = [f"c{i}" for i in range(renamed, size)] + [f"new{i}" for i in range(renamed)]
    path.write_text("name,groups\n" + "".join(f"{name},bulk\n" for name in names))


@dataclass(frozen=True)
class _Project:
    """A synthesised, initialised Terraform project in a temporary directory (its own LOCKGATE_HOME)."""

    root: Path
    stack: Path
    env: dict[str, str]
    terraform: str
    synth_s: float

    def time(self, command: str, *args: str, ok: tuple[int, ...] = (0,)) -> float:
        """`terraform COMMAND ARGS...`, timed; flags before a positional (a plan file)."""
        return _timed([self.terraform, command, "-input=false", "-no-color", *args], self.stack, self.env, ok)


@contextmanager
def _project(app: str, size: int, prepare: Callable[[Path], None] = lambda root: None) -> Iterator[_Project]:
    from lockgate.cli.iac import terraform_binary, terraform_env

    with tempfile.TemporaryDirectory(prefix=f"lockgate-iac-{size}-") as tmp:
        root = Path(tmp)
        (root / "app.py").write_text(app)
        prepare(root)
        env = {
            **terraform_env(root),
            "LOCKGATE_HOME": str(root / "home"),
            "CDKTF_OUTDIR": str(root / "out"),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        }
        synth = _timed([sys.executable, "app.py", str(size)], root, env)
        project = _Project(root, root / "out" / "stacks" / "scale", env, terraform_binary(), synth)
        project.time("init")
        yield project


def measure_consumer_set(sizes: list[int]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for size in sizes:
        print(f"  IaC scale: a consumer set of {size} ...", flush=True)
        with _project(SET_APP, size, lambda root, n=size: _customers(root / "customers.csv", n)) as p:
            row: dict[str, object] = {"members": size, "synth_s": p.synth_s}
            try:
                row["apply_s"] = p.time("apply", "-auto-approve")
                row["noop_plan_s"] = p.time("plan", "-detailed-exitcode")
                _customers(p.root / "customers.csv", size, renamed=max(1, size // 100))
                row["changed_plan_s"] = p.time("plan", "-detailed-exitcode", ok=(2,))
            finally:
                row["destroy_s"] = p.time("destroy", "-auto-approve", ok=(0, 1))
            rows.append(row)
    return rows


def _timed(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...] = (0,)) -> float:
    started = time.monotonic()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=3600)
    if result.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)} -> {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}")
    return round(time.monotonic() - started, 2)


def measure_iac(sizes: list[int]) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for size in sizes:
        print(f"  IaC scale: {size} consumers ...", flush=True)
        with _project(APP, size) as p:
            row: dict[str, object] = {"consumers": size, "resources": size + 2, "synth_s": p.synth_s}
            try:
                row["plan_s"] = p.time("plan", "-out=plan")
                row["apply_s"] = p.time("apply", "plan")
                row["noop_plan_s"] = p.time("plan", "-detailed-exitcode")
            finally:
                row["destroy_s"] = p.time("destroy", "-auto-approve", ok=(0, 1))
            rows.append(row)
    return rows


if __name__ == "__main__":
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    print(measure_iac([int(s) for s in sys.argv[1:]] or [100]))
    print(measure_consumer_set([int(s) for s in sys.argv[1:]] or [10_000]))
