"""Throw-away redis-server, Firestore and Pub/Sub emulator processes on free ports (app tests, benches,
`make run-local`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Where the emulator lies inside a Google Cloud SDK (`gcloud components install cloud-firestore-emulator`).
EMULATOR_IN_SDK = Path("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
#: The SDK of Debian's google-cloud-cli package.
SYSTEM_SDK = Path("/usr/lib/google-cloud-sdk")
EMULATOR_JAR = SYSTEM_SDK / EMULATOR_IN_SDK
EMULATOR_MAIN = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
JAVA_TOOL_OPTIONS = "-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1"

REDIS_HINT = "redis-server not found on PATH: install it (Debian/Ubuntu: apt-get install redis-server)"
FIRESTORE_HINT = (
    "the Firestore emulator was not found: install it with "
    "`gcloud components install cloud-firestore-emulator` (or apt-get install "
    "google-cloud-cli-firestore-emulator) and Java 17+ (apt-get install openjdk-17-jre-headless); "
    "or set POG_FIRESTORE_EMULATOR_JAR to the jar"
)
PUBSUB_HINT = (
    "the Pub/Sub emulator was not found: install the Google Cloud CLI and its emulator "
    "(`gcloud components install pubsub-emulator beta`, or apt-get install "
    "google-cloud-cli-pubsub-emulator) and Java 17+ (apt-get install openjdk-17-jre-headless)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Service:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def wait_ready(service: Service, ready: Callable[[], bool], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            output = service.log.read_text()[-2000:]
            error = PortTakenError if "in use" in output.lower() else RuntimeError
            raise error(f"{service.name} exited with {service.process.returncode}:\n{output}")
        if ready():
            return
        time.sleep(0.05)
    service.stop()
    raise RuntimeError(f"{service.name} not ready after {timeout_s} s:\n{service.log.read_text()[-2000:]}")


class PortTakenError(RuntimeError):
    """The service exited at once: another process (a parallel test worker) took the free port first."""


def _on_a_free_port(start: Callable[[int], Service], port: int | None) -> Service:
    # free_port() releases the port before the service binds it, so two workers can race for it.
    for _ in range(3 if port is None else 1):
        try:
            return start(port or free_port())
        except PortTakenError:
            if port is not None:
                raise
    return start(free_port())


def start_redis(workdir: Path, port: int | None = None) -> Service:
    """``port``: restart on the port of a stopped server (the breaker tests)."""
    return _on_a_free_port(lambda p: _start_redis(workdir, p), port)


def _start_redis(workdir: Path, port: int) -> Service:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(REDIS_HINT)
    log = workdir / f"redis-{port}.log"
    cmd = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
           "--dir", str(workdir)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    service = Service("redis-server", process, port, log)
    wait_ready(service, lambda: _pong(port), 10)
    return service


@dataclass
class RedisClusterNodes:
    """The primaries of a throw-away Redis Cluster (no replicas); ``url`` names one of them."""

    nodes: list[Service]

    @property
    def ports(self) -> list[int]:
        return [node.port for node in self.nodes]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.nodes[0].port}/0"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def start_redis_cluster(workdir: Path, nodes: int = 3) -> RedisClusterNodes:
    """``nodes`` redis-servers in cluster mode on free ports, the 16384 slots split between them
    (``redis-cli --cluster create``); returns once every node reports ``cluster_state:ok``."""
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError(REDIS_HINT)
    cluster = RedisClusterNodes([])
    try:
        for _ in range(nodes):
            cluster.nodes.append(_on_a_free_port(lambda p: _start_cluster_node(workdir, p), None))
        _create_cluster(cli, cluster)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _start_cluster_node(workdir: Path, port: int) -> Service:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(REDIS_HINT)
    node_dir = workdir / f"cluster-{port}"
    node_dir.mkdir(exist_ok=True)
    log = workdir / f"redis-cluster-{port}.log"
    # The cluster bus gets a free port of its own: the default (port + 10000) may be taken or past 65535.
    cmd = [binary, "--port", str(port), "--cluster-port", str(free_port()), "--bind", "127.0.0.1",
           "--save", "", "--appendonly", "no", "--dir", str(node_dir), "--cluster-enabled", "yes",
           "--cluster-config-file", f"nodes-{port}.conf", "--cluster-node-timeout", "2000"]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    service = Service("redis-server (cluster node)", process, port, log)
    wait_ready(service, lambda: _pong(port), 10)
    return service


def _pong(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _create_cluster(cli: str, cluster: RedisClusterNodes) -> None:
    addresses = [f"127.0.0.1:{port}" for port in cluster.ports]
    cmd = [cli, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
    created = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL, check=False)
    if created.returncode != 0:
        output = (created.stdout + created.stderr).decode(errors="replace")[-2000:]
        raise RuntimeError(f"redis-cli --cluster create failed ({created.returncode}):\n{output}")
    deadline = time.monotonic() + 30
    while not all(_cluster_ok(cli, port) for port in cluster.ports):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the Redis Cluster on {addresses} did not reach cluster_state:ok in 30 s")
        time.sleep(0.1)


def _cluster_ok(cli: str, port: int) -> bool:
    cmd = [cli, "-h", "127.0.0.1", "-p", str(port), "CLUSTER", "INFO"]
    info = subprocess.run(cmd, capture_output=True, timeout=10, stdin=subprocess.DEVNULL, check=False)
    return b"cluster_state:ok" in info.stdout


def emulator_jar() -> Path:
    """The Firestore emulator's jar: POG_FIRESTORE_EMULATOR_JAR, else the one in the SDK of the `gcloud` on
    PATH (setup-gcloud on GitHub installs the SDK under the tool cache), else Debian's SDK."""
    if "POG_FIRESTORE_EMULATOR_JAR" in os.environ:
        return Path(os.environ["POG_FIRESTORE_EMULATOR_JAR"])
    gcloud = shutil.which("gcloud")
    if gcloud is not None:
        in_sdk = Path(gcloud).resolve().parent.parent / EMULATOR_IN_SDK  # SDK/bin/gcloud
        if in_sdk.is_file():
            return in_sdk
    return EMULATOR_JAR


def start_firestore(workdir: Path) -> Service:
    return _on_a_free_port(lambda p: _start_firestore(workdir, p), None)


def _start_firestore(workdir: Path, port: int) -> Service:
    jar = emulator_jar()
    java = shutil.which("java")
    if not jar.is_file() or java is None:
        raise RuntimeError(FIRESTORE_HINT)
    log = workdir / f"firestore-{port}.log"
    env = {**os.environ, "JAVA_TOOL_OPTIONS": JAVA_TOOL_OPTIONS}
    cmd = [java, "-Duser.language=en", "-cp", str(jar), EMULATOR_MAIN, "start",
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
    service = Service("Firestore emulator", process, port, log)

    def ready() -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=0.5) as resp:
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    wait_ready(service, ready, 60)
    return service


def clear_firestore(port: int, project: str) -> None:
    url = f"http://127.0.0.1:{port}/emulator/v1/projects/{project}/databases/(default)/documents"
    request = urllib.request.Request(url, method="DELETE")
    with urllib.request.urlopen(request, timeout=10) as resp:
        assert resp.status == 200, resp.status


def listening(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def start_pubsub(workdir: Path, port: int, project: str) -> subprocess.Popen[bytes]:
    """The Pub/Sub emulator on ``port``, once it listens. gcloud starts the emulator's java as a child, so
    it runs in a process group of its own: end it with ``stop_group`` (by this PID, nothing by name)."""
    gcloud = shutil.which("gcloud")
    sdk = Path(gcloud).resolve().parent.parent if gcloud else None  # SDK/bin/gcloud
    if sdk is None or not (sdk / "platform/pubsub-emulator").is_dir() or shutil.which("java") is None:
        raise RuntimeError(PUBSUB_HINT)
    log = workdir / f"pubsub-{port}.log"
    cmd = [str(gcloud), "beta", "emulators", "pubsub", "start", f"--host-port=127.0.0.1:{port}",
           f"--project={project}", "--quiet"]  # fmt: skip
    with log.open("ab") as out:  # appended: a restart on the same port keeps the earlier run's lines
        process = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        wait_ready(Service("the Pub/Sub emulator", process, port, log), lambda: listening(port), 60)
    except BaseException:
        stop_group(process)
        raise
    return process


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Kills the process group ``process`` leads (``start_new_session``), its children included."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
