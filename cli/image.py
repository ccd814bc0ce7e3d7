"""`lockgate image build`: the runtime image, on a machine with no image registry (nothing is ever pulled).

1. The base, `lockgate/base:bookworm`: Debian's minbase with python3 and CA certificates, made by debootstrap from
   the Debian mirror apt already uses, trimmed (no apt lists, docs, man pages or locales) and imported into Docker.
2. The Python dependencies the runtime needs (the closure of RUNTIME_REQUIREMENTS, at the versions installed here,
   so requirements.lock), as wheels for the image's Python, installed on the host into the build context; lockgate
   itself as a wheel built from this checkout.
3. `docker build` of gateway_runtime/Dockerfile (through the Engine API) with the base as its BASE argument.

Each image carries a label with the hash of its inputs; one whose inputs have not changed is not built again.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from docker import DockerClient
from docker.errors import BuildError, ImageNotFound
from lockgate.provider_bridge.docker_engine import IMAGE, connect

BASE = "lockgate/base:bookworm"
SUITE = "bookworm"
BASE_PACKAGES = ("python3", "ca-certificates")
PYTHON = "3.11"  # bookworm's python3
PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_34_x86_64")
# what `lockgate serve` imports (the IaC side, cdktn, Terraform's protocol and Docker stay out of the image)
RUNTIME_REQUIREMENTS = (
    "aiohttp", "botocore", "fastapi", "google-re2", "httpx", "jinja2", "jsonschema-rs", "orjson", "pydantic", "pyyaml",
    "typer", "uvicorn", "uvloop",
)  # fmt: skip
# botocore's service models (most of its size): the Bedrock adapter uses only its signer and event stream decoder
UNUSED_DATA = "botocore/data/*/"
TRIM = ("var/cache/apt", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale")
LABEL = "dev.lockgate.inputs"
PACKAGES = ("sdk", "cli", "constructs", "gateway_runtime", "provider_bridge")


class ImageError(RuntimeError):
    """The image could not be built; the message says which step failed and why."""


@dataclass(frozen=True)
class Built:
    tag: str
    id: str
    size_mb: float
    seconds: float
    rebuilt: bool


def build(tag: str = IMAGE, work: Path | None = None) -> Built:
    started = time.monotonic()
    root = _checkout()
    work = work or root / "build" / "image"
    client = connect()
    base = _base(client, work)
    requirements = runtime_requirements()
    dockerfile = resources.files("lockgate.gateway_runtime").joinpath("Dockerfile").read_bytes()
    inputs = _digest([base.id.encode(), dockerfile, "\n".join(requirements).encode(), *_sources(root)])
    current = _existing(client, tag)
    if current is not None and current.labels.get(LABEL) == inputs:
        return Built(tag, current.id, _mb(current.attrs["Size"]), time.monotonic() - started, rebuilt=False)
    context = work / "context"
    shutil.rmtree(context, ignore_errors=True)
    (context / "site-packages").mkdir(parents=True)
    (context / "Dockerfile").write_bytes(dockerfile)
    _install_wheels(root, requirements, context / "site-packages", work)
    try:
        image, _ = client.images.build(
            path=str(context), tag=tag, buildargs={"BASE": base.tags[0]}, labels={LABEL: inputs}, pull=False, rm=True
        )
    except BuildError as exc:
        raise ImageError(f"docker build failed: {exc.msg}") from None
    return Built(tag, image.id, _mb(image.attrs["Size"]), time.monotonic() - started, rebuilt=True)


def runtime_requirements() -> list[str]:
    """`name==version` of every distribution the runtime needs, as installed here (so as requirements.lock)."""
    seen: dict[str, str] = {}
    todo = list(RUNTIME_REQUIREMENTS)
    while todo:
        name = _normal(todo.pop())
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise ImageError(f"{name} is not installed here; run `make setup` first") from None
        seen[name] = dist.version
        for requirement in dist.requires or ():
            spec, _, marker = requirement.partition(";")
            if marker and not _applies(marker):
                continue
            todo.append(re.split(r"[\s<>=!~\[(]", spec.strip(), maxsplit=1)[0])
    return sorted(f"{name}=={version}" for name, version in seen.items())


def _applies(marker: str) -> bool:
    """Whether an environment marker holds in the image (Linux, CPython 3.11, no extras)."""
    from packaging.markers import Marker

    environment = {"python_version": PYTHON, "sys_platform": "linux", "platform_system": "Linux", "extra": ""}
    return Marker(marker).evaluate(environment)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _checkout() -> Path:
    root = Path(__file__).resolve().parents[1]
    if not (root / "pyproject.toml").is_file() or not (root / "gateway_runtime").is_dir():
        raise ImageError("`lockgate image build` runs from a lockgate checkout (it packs this checkout's code)")
    return root


def _sources(root: Path) -> list[bytes]:
    files = [root / "pyproject.toml", *(p for package in PACKAGES for p in sorted((root / package).rglob("*.py")))]
    return [str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() for path in files]


def _digest(parts: list[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:24]


def _existing(client: DockerClient, tag: str):  # type: ignore[no-untyped-def]
    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def _mb(size: int) -> float:
    return round(size / 1e6, 1)


def _run(step: str, args: list[str], cwd: Path | None = None) -> None:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ImageError(f"{step} failed (exit {result.returncode}):\n{tail}")


def _install_wheels(root: Path, requirements: list[str], target: Path, work: Path) -> None:
    wheels = work / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    _run(
        "building lockgate's wheel",
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), "."],
        root,
    )
    (lockgate,) = wheels.glob("lockgate-*.whl")
    platforms = [arg for platform in PLATFORMS for arg in ("--platform", platform)]
    _run(
        "installing the runtime's dependencies",
        [
            *(sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-compile", "--target", str(target)),
            *("--only-binary=:all:", "--python-version", PYTHON, "--implementation", "cp", *platforms),
            *requirements,
            str(lockgate),
        ],
    )
    for junk in (*target.glob("bin"), *target.rglob("__pycache__"), *target.glob(UNUSED_DATA)):
        shutil.rmtree(junk, ignore_errors=True)


# -- the base image --------------------------------------------------------------------------------------------
def _base(client: DockerClient, work: Path):  # type: ignore[no-untyped-def]
    recipe = _digest([SUITE.encode(), " ".join(BASE_PACKAGES).encode(), " ".join(TRIM).encode()])
    current = _existing(client, BASE)
    if current is not None and current.labels.get(LABEL) == recipe:
        return current
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is needed to make the base image: `apt-get install -y debootstrap`")
    rootfs, archive = work / "rootfs", work / "rootfs.tar"
    shutil.rmtree(rootfs, ignore_errors=True)
    rootfs.parent.mkdir(parents=True, exist_ok=True)
    _run(
        "debootstrap",
        ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), _mirror()],
    )
    for folder in TRIM:
        shutil.rmtree(rootfs / folder, ignore_errors=True)
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    shutil.rmtree(rootfs, ignore_errors=True)
    changes = [f'LABEL {LABEL}="{recipe}"', 'CMD ["python3"]']
    repository, _, tag = BASE.partition(":")
    try:
        answer = client.api.import_image_from_file(str(archive), repository=repository, tag=tag, changes=changes)
    finally:
        archive.unlink()
    if "error" in str(answer).lower():
        raise ImageError(f"importing the base image failed: {answer}")
    return client.images.get(BASE)


def _mirror() -> str:
    """The Debian mirror apt on this machine uses (deb822 sources or the classic list)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        if match := re.search(r"^URIs:\s*(\S+)", path.read_text(), re.MULTILINE):
            return match.group(1)
    classic = Path("/etc/apt/sources.list")
    if classic.is_file() and (match := re.search(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", classic.read_text(), re.MULTILINE)):
        return match.group(1)
    raise ImageError("no Debian mirror found in /etc/apt/sources.list(.d): debootstrap needs one")
