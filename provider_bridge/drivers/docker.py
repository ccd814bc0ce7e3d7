"""The `docker` runtime driver: a gateway as one control-plane container and N data-plane containers.

    network   lockgate-NAME               a bridge network of its own
    volumes   lockgate-NAME-store         the control plane's store (kept across re-creation; destroy removes it
                                          unless `keep_volume`)
              lockgate-NAME-dp-I          data plane I's last-known-good config and usage not yet handed in
    containers lockgate-NAME-cp           `serve --role control-plane`; admin API on 127.0.0.1:ADMIN_PORT
              lockgate-NAME-dp-I          `serve --role data-plane`; proxy on 127.0.0.1:PROXY_PORT_I

Every object is labelled with the gateway's name (and environment and region), which is how status and stop find
them. Tokens are made on the host (the gateway's directory under LOCKGATE_HOME) and, like the `pass_env` secrets,
copied into the containers as files before they start (`serve --env-dir` reads the secrets into the environment):
never in a command line, the container's configuration (`docker inspect`) or Terraform state. Load balancing in
front of the data planes belongs to the platform: each data plane has its own port.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import tarfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from docker import DockerClient
from docker.errors import APIError, DockerException, ImageNotFound, NotFound
from docker.models.containers import Container
from lockgate.provider_bridge.docker_engine import connect
from lockgate.provider_bridge.drivers.base import DriverError, Placement, Started
from lockgate.provider_bridge.drivers.process import port_holder
from lockgate.sdk import GatewayRuntime, ServeOptions

log = logging.getLogger("lockgate.docker")
LABEL = "dev.lockgate.gateway"
DATA = "/var/lib/lockgate/data"
SECRETS = "/run/lockgate"
UID = 10001  # the image's `lockgate` user
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30  # a data plane finishes what it serves and hands in its last usage before it exits


@dataclass(frozen=True)
class DockerGateway:
    """What the driver needs to run one gateway."""

    name: str
    image: str
    admin_port: int
    proxy_ports: tuple[int, ...]  # one per data plane
    workers: int = 1
    host: str = "127.0.0.1"
    labels: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)  # handed to the data planes as files (upstream secrets)
    instance_id: str = ""

    @property
    def network(self) -> str:
        return f"lockgate-{self.name}"

    @property
    def control_plane(self) -> str:
        return f"lockgate-{self.name}-cp"

    def data_plane(self, index: int) -> str:
        return f"lockgate-{self.name}-dp-{index}"


def _labels(gateway: DockerGateway, role: str, index: int | None = None) -> dict[str, str]:
    labels = {LABEL: gateway.name, "dev.lockgate.role": role, **gateway.labels}
    if index is not None:
        labels["dev.lockgate.index"] = str(index)
    return labels


def _tokens_archive(tokens: dict[str, str]) -> bytes:
    """A tar of SECRETS/NAME files (NAME may be `env/VARIABLE`) owned by the image's user, mode 0600, for
    put_archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        if any(name.startswith("env/") for name in tokens):
            folder = tarfile.TarInfo("env")
            folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o700, UID, UID
            tar.addfile(folder)
        for name, token in tokens.items():
            data = token.encode()
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.uid, info.gid = len(data), 0o600, UID, UID
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


class DockerDriver:
    def __init__(self, client: DockerClient | None = None) -> None:
        self._client = client

    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    # -- start ---------------------------------------------------------------------------------------------------
    def start(self, gateway: DockerGateway, admin_token: str, cluster_token: str) -> None:
        """Start the whole gateway and wait until its control plane and every data plane answer; on any failure
        remove what this start made (the store volume, if it was there before, stays) and raise DriverError."""
        self.require_image(gateway.image)
        made: list[Any] = []
        try:
            self._network(gateway, made)
            self._start_control_plane(gateway, admin_token, cluster_token, made)
            for index in range(len(gateway.proxy_ports)):
                self._start_data_plane(gateway, index, cluster_token, made)
            for index in range(len(gateway.proxy_ports)):
                self._wait_data_plane(gateway, index)
        except BaseException:
            for thing in reversed(made):
                remove(thing)
            raise

    def require_image(self, image: str) -> None:
        try:
            self.client.images.get(image)
        except ImageNotFound:
            raise DriverError(
                f"the image {image!r} is not on this Docker engine (nothing is pulled): build it with "
                "`lockgate image build`, or set `image` to one `docker images` lists"
            ) from None

    def _network(self, gateway: DockerGateway, made: list[Any]) -> None:
        try:
            self.client.networks.get(gateway.network)
        except NotFound:
            made.append(
                self.client.networks.create(gateway.network, driver="bridge", labels=_labels(gateway, "network"))
            )

    def _volume(self, name: str, gateway: DockerGateway, role: str, made: list[Any]) -> str:
        try:
            self.client.volumes.get(name)
        except NotFound:
            made.append(self.client.volumes.create(name, labels=_labels(gateway, role)))
        return name

    def _run(
        self,
        gateway: DockerGateway,
        name: str,
        options: ServeOptions,
        ports: dict[str, tuple[str, int]],
        volume: str,
        labels: dict[str, str],
        tokens: dict[str, str],
        made: list[Any],
    ) -> Container:
        remove_container(self.client, name)  # a stopped leftover of an earlier start would hold the name
        container = self.client.containers.create(
            gateway.image,
            options.args(),
            name=name,
            hostname=name,
            labels=labels,
            ports=ports,
            volumes={volume: {"bind": DATA, "mode": "rw"}},
            network=gateway.network,
            restart_policy={"Name": "unless-stopped"},
            stop_signal="SIGTERM",
        )
        made.append(container)
        container.put_archive(SECRETS, _tokens_archive(tokens))
        try:
            container.start()
        except APIError as exc:
            raise DriverError(start_failure(name, exc, ports)) from None
        return container

    def _start_control_plane(
        self, gateway: DockerGateway, admin_token: str, cluster_token: str, made: list[Any]
    ) -> None:
        options = ServeOptions(
            role="control-plane",
            data_dir=DATA,
            admin_host="0.0.0.0",
            cluster_host="0.0.0.0",
            admin_token_file=f"{SECRETS}/admin-token",
            cluster_token_file=f"{SECRETS}/cluster-token",
            name=gateway.name,
            instance_id=gateway.instance_id or None,
        )
        volume = self._volume(f"{gateway.network}-store", gateway, "control-plane", made)
        container = self._run(
            gateway,
            gateway.control_plane,
            options,
            {"8001/tcp": (gateway.host, gateway.admin_port)},
            volume,
            _labels(gateway, "control-plane"),
            {"admin-token": admin_token, "cluster-token": cluster_token},
            made,
        )
        url = f"http://{gateway.host}:{gateway.admin_port}/health"
        wait_ready(container, lambda: _answers(url, gateway.instance_id), f"control plane of gateway '{gateway.name}'")

    def _start_data_plane(self, gateway: DockerGateway, index: int, cluster_token: str, made: list[Any]) -> None:
        name = gateway.data_plane(index)
        options = ServeOptions(
            role="data-plane",
            data_dir=DATA,
            proxy_host="0.0.0.0",
            admin_host="0.0.0.0",
            control_plane=f"http://{gateway.control_plane}:8005",
            cluster_token_file=f"{SECRETS}/cluster-token",
            workers=gateway.workers,
            name=name,
            env_dir=f"{SECRETS}/env" if gateway.env else None,
        )
        volume = self._volume(name, gateway, "data-plane", made)
        secrets = {"cluster-token": cluster_token, **{f"env/{k}": v for k, v in gateway.env.items()}}
        self._run(
            gateway,
            name,
            options,
            {"8000/tcp": (gateway.host, gateway.proxy_ports[index])},
            volume,
            _labels(gateway, "data-plane", index),
            secrets,  # the upstream secrets as files: not in the container's configuration (`docker inspect`)
            made,
        )

    def _wait_data_plane(self, gateway: DockerGateway, index: int) -> None:
        container = self.client.containers.get(gateway.data_plane(index))
        url = f"http://{gateway.host}:{gateway.proxy_ports[index]}/"
        wait_ready(container, lambda: listens(url), f"data plane {container.name}")

    # -- in place ------------------------------------------------------------------------------------------------
    def scale(self, gateway: DockerGateway, cluster_token: str) -> None:
        """Make the running data planes exactly `gateway.proxy_ports` (add the missing ones, then remove extras,
        highest index first), one at a time."""
        running = self.data_planes(gateway.name)
        wanted = len(gateway.proxy_ports)
        for index in range(wanted):
            if running.get(index) != "running":
                made: list[Any] = []
                try:
                    self._start_data_plane(gateway, index, cluster_token, made)
                    self._wait_data_plane(gateway, index)
                except BaseException:
                    for thing in reversed(made):
                        remove(thing)
                    raise
        for index in sorted((i for i in running if i >= wanted), reverse=True):
            # its volume stays (until destroy): usage it could not hand in yet is handed in if it comes back
            remove_container(self.client, gateway.data_plane(index))

    def replace_data_planes(self, gateway: DockerGateway, cluster_token: str) -> None:
        """A new image, workers or environment: each data plane in turn is stopped (it finishes what it serves),
        then started again from the same volume, so it serves its last config at once."""
        for index in range(len(gateway.proxy_ports)):
            remove_container(self.client, gateway.data_plane(index))
            made: list[Any] = []
            try:
                self._start_data_plane(gateway, index, cluster_token, made)
                self._wait_data_plane(gateway, index)
            except BaseException:
                for thing in made:
                    if isinstance(thing, Container):
                        remove(thing)  # not a container restarting forever on an image that does not start
                raise

    def ensure_control_plane(self, gateway: DockerGateway, admin_token: str, cluster_token: str, new: bool) -> None:
        """The control plane running: started again if it stopped, made anew if it is gone or `new` (an image)."""
        try:
            container = self.client.containers.get(gateway.control_plane)
        except NotFound:
            container = None
        if container is not None and container.status == "running" and not new:
            return
        if container is not None and not new:
            container.start()
            url = f"http://{gateway.host}:{gateway.admin_port}/health"
            wait_ready(
                container, lambda: _answers(url, gateway.instance_id), f"control plane of gateway '{gateway.name}'"
            )
            return
        remove_container(self.client, gateway.control_plane)
        made: list[Any] = []
        try:
            self._start_control_plane(gateway, admin_token, cluster_token, made)
        except BaseException:
            for thing in made:
                if isinstance(thing, Container):
                    remove(thing)
            raise

    # -- status and stop -----------------------------------------------------------------------------------------
    def control_plane_running(self, name: str) -> bool:
        return any(c.status == "running" for c in self._containers(name, "control-plane"))

    def data_planes(self, name: str) -> dict[int, str]:
        """Data plane index -> its container's status ('running', 'exited', ...)."""
        return {int(c.labels["dev.lockgate.index"]): c.status for c in self._containers(name, "data-plane")}

    def _containers(self, name: str, role: str) -> list[Container]:
        found: list[Container] = self.client.containers.list(
            all=True, filters={"label": [f"{LABEL}={name}", f"dev.lockgate.role={role}"]}
        )
        return found

    def stop(self, name: str, keep_volume: bool = False) -> None:
        """Remove the gateway's containers (data planes first: they hand in their last usage to the control plane
        as they stop), its network (and anything else still attached to it), and its volumes unless `keep_volume`
        (then only the control plane's store stays)."""
        containers = self.client.containers.list(all=True, filters={"label": f"{LABEL}={name}"})
        for container in sorted(containers, key=lambda c: c.labels.get("dev.lockgate.role") == "control-plane"):
            remove(container)
        for volume in self.client.volumes.list(filters={"label": f"{LABEL}={name}"}):
            if not (keep_volume and volume.name == f"lockgate-{name}-store"):
                remove(volume)
        for network in self.client.networks.list(filters={"label": f"{LABEL}={name}"}):
            network.reload()
            for attached in network.containers:  # e.g. a docker lockgate_mock_llm
                with contextlib.suppress(APIError):
                    network.disconnect(attached, force=True)
            remove(network)


def _answers(url: str, instance_id: str) -> bool:
    try:
        answer = httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return answer.status_code == 200 and (not instance_id or answer.json().get("instance_id") == instance_id)


def listens(url: str) -> bool:
    try:
        httpx.get(url, timeout=1.0)
    except httpx.HTTPError:
        return False
    return True


def wait_ready(container: Container, ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if ready():
            return
        container.reload()
        if container.status in ("exited", "dead", "restarting"):
            raise DriverError(f"the {what} exited ({container.attrs['State'].get('ExitCode')}):\n{_logs(container)}")
        time.sleep(0.1)
    raise DriverError(f"the {what} was not ready after {START_TIMEOUT_S:.0f}s:\n{_logs(container)}")


def _logs(container: Container, lines: int = 15) -> str:
    try:
        return str(container.logs(tail=lines).decode(errors="replace")).strip() or "(no output)"
    except APIError:
        return "(no logs)"


def start_failure(name: str, exc: APIError, ports: dict[str, tuple[str, int]]) -> str:
    reason = str(exc.explanation or exc)
    if "port is already allocated" in reason or "address already in use" in reason:
        taken = [
            f"{host}:{port}" + (f" (held by {holder})" if (holder := port_holder(port)) else "")
            for host, port in ports.values()
        ]
        return (
            f"container {name} did not start: {', '.join(taken)} is already in use. Stop what holds it, or set the "
            "port to a free one (a port lockgate chose is kept for this gateway until it is destroyed)."
        )
    return f"container {name} did not start: {reason}"


def remove_container(client: DockerClient, name: str) -> None:
    try:
        container = client.containers.get(name)
    except NotFound:
        return
    remove(container)


def remove(thing: Any) -> None:
    """Remove a container (stopped first: SIGTERM, it finishes what it serves), volume or network; best effort, so
    one that cannot be removed does not keep the others (or the error that led here) from being seen."""
    try:
        if isinstance(thing, Container):
            thing.reload()
            if thing.status == "running":
                thing.stop(timeout=STOP_TIMEOUT_S)
            thing.remove(force=True)
        else:
            thing.remove()
    except NotFound:
        pass
    except APIError as exc:
        log.warning("could not remove %s: %s", getattr(thing, "name", thing), exc.explanation or exc)


def environment_of(names: list[str]) -> dict[str, str]:
    """The values of `names` in the provider's environment: upstream secrets a data plane resolves by `env:NAME`,
    without their values ever entering configuration or state. DriverError naming any that is not set."""
    missing = [name for name in names if not os.environ.get(name)]
    if missing:
        raise DriverError(
            f"pass_env: {', '.join(missing)} not set in Terraform's environment; export them where terraform runs "
            "(or leave them out of pass_env)"
        )
    return {name: os.environ[name] for name in names}


@contextlib.contextmanager
def _engine_errors(action: str) -> Iterator[None]:
    """The Engine's errors as DriverError, saying what was being done."""
    try:
        yield
    except DockerException as exc:
        reason = getattr(exc, "explanation", None) or str(exc)
        raise DriverError(f"{action}: the Docker engine answered: {reason}") from None


class DockerGateways:
    """A gateway as containers (GatewayDriver)."""

    def __init__(self) -> None:
        self.docker = DockerDriver()

    def _gateway(self, spec: GatewayRuntime, where: Placement) -> DockerGateway:
        labels = {f"dev.lockgate.{k}": v for k, v in (("environment", spec.environment), ("region", spec.region)) if v}
        return DockerGateway(
            name=spec.name,
            image=spec.image,
            admin_port=where.admin_port,
            proxy_ports=where.proxy_ports,
            workers=spec.workers,
            host=spec.host,
            labels=labels,
            env=environment_of(spec.pass_env),
            instance_id=where.instance_id,
        )

    def _started(self, spec: GatewayRuntime, where: Placement) -> Started:
        return Started(
            f"http://{spec.host}:{where.admin_port}", tuple(f"http://{spec.host}:{p}" for p in where.proxy_ports)
        )

    def start(self, spec: GatewayRuntime, where: Placement) -> Started:
        gateway = self._gateway(spec, where)
        with _engine_errors(f"starting gateway '{spec.name}'"):
            self.docker.start(gateway, where.admin_token_file.read_text(), where.cluster_token_file.read_text())
        return self._started(spec, where)

    def running(self, spec: GatewayRuntime, pid: int) -> int | None:
        """None when nothing of the gateway exists; else its running data planes, or 0 while its control plane is
        down (so the plan updates it in place, and the data planes keep serving meanwhile)."""
        with _engine_errors(f"looking at gateway '{spec.name}'"):
            data_planes = self.docker.data_planes(spec.name)
            if not self.docker.control_plane_running(spec.name):
                return 0 if data_planes else None
            return sum(1 for status in data_planes.values() if status == "running")

    def update(self, old: GatewayRuntime, new: GatewayRuntime, where: Placement, pid: int) -> Started:
        gateway = self._gateway(new, where)
        admin_token, cluster_token = where.admin_token_file.read_text(), where.cluster_token_file.read_text()
        with _engine_errors(f"updating gateway '{new.name}'"):
            # a new image replaces the control plane too; the data planes serve meanwhile
            self.docker.ensure_control_plane(gateway, admin_token, cluster_token, new=old.image != new.image)
            if (old.image, old.workers, old.pass_env) != (new.image, new.workers, new.pass_env):
                self.docker.replace_data_planes(gateway, cluster_token)
            self.docker.scale(gateway, cluster_token)
        return self._started(new, where)

    def stop(self, spec: GatewayRuntime, pid: int) -> None:
        with _engine_errors(f"removing gateway '{spec.name}'"):
            self.docker.stop(spec.name, keep_volume=spec.keep_volume)
