"""Fixtures for the Python docker SDK tests.

Starts one `kapsel serve` per test module on a temporary data root, a unix
socket in it and a free loopback TCP port (like tests/common/mod.rs does for
the Rust tests), and hands the tests a docker.DockerClient on the socket.
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import docker
import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20
STOP_TIMEOUT = 15


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Daemon:
    def __init__(self):
        self.data_root = Path(tempfile.mkdtemp(prefix="kapsel-pytest-")).resolve()
        self.socket = self.data_root / "kapsel.sock"
        self.port = _free_port()
        self.log_path = self.data_root / "kapsel-test.log"
        # A default bridge of its own, so that a kapsel serving on this host (kapsel0) and the
        # test daemon never share a bridge or iptables chain.
        self.bridge = f"kpy{os.getpid() % 0xFFFFFF:06x}"
        binary = os.environ.get("KAPSEL_TEST_BIN") or str(REPO / "target/debug/kapsel")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAPSEL_")}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    binary,
                    "serve",
                    "--data-root",
                    str(self.data_root),
                    "-H",
                    self.socket_url,
                    "-H",
                    f"tcp://127.0.0.1:{self.port}",
                    # The tests' raw TCP calls act as the admin, as the unix socket does.
                    "--insecure-no-auth",
                    "--bridge-name",
                    self.bridge,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                pytest.fail(f"kapsel exited with {self.proc.returncode} before answering /_ping\n{self.log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/_ping", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.proc.kill()
                self.proc.wait()
                pytest.fail(f"kapsel did not answer /_ping within {START_TIMEOUT}s\n{self.log()}")
            time.sleep(0.05)

    @property
    def socket_url(self):
        return f"unix://{self.socket}"

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self):
        """SIGTERM; returns the exit status (None if it had to be killed)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def remove_all_containers(self):
        """`docker rm -f` of whatever the module's tests (or the fuzzer) left, so that the stop
        that follows takes the daemon's bridges and iptables rules with it."""
        client = docker.DockerClient(base_url=self.socket_url, version="auto", timeout=120)
        try:
            for container in client.containers.list(all=True):
                container.remove(force=True)
        finally:
            client.close()

    def cleanup(self):
        shutil.rmtree(self.data_root, ignore_errors=True)


def _link_exists(name):
    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def daemon():
    d = Daemon()
    yield d
    d.remove_all_containers()
    status = d.stop()
    log = d.log()
    socket_left = d.socket.exists()
    d.cleanup()
    assert status == 0, f"kapsel exited with {status} after SIGTERM\n{log}"
    assert not socket_left, "the socket file is still there after shutdown"
    assert not _link_exists(d.bridge), f"the bridge {d.bridge} is still there after a stop with no container\n{log}"


@pytest.fixture(scope="module")
def client(daemon):
    c = docker.DockerClient(base_url=daemon.socket_url, version="auto", timeout=120)
    yield c
    c.close()


@pytest.fixture()
def no_containers_left(client):
    """The test starts and ends with no containers on the daemon."""
    assert client.containers.list(all=True) == []
    yield
    for container in client.containers.list(all=True):
        container.remove(force=True)


@pytest.fixture(scope="session")
def test_image():
    """Path of the busybox rootfs tarball (see scripts/make-test-image.sh)."""
    env = os.environ.get("KAPSEL_TEST_IMAGE")
    if env:
        path = Path(env)
    else:
        subprocess.run([str(REPO / "scripts/make-test-image.sh")], check=True)
        path = REPO / "target/test-image/busybox.tar"
    assert path.is_file(), f"no test image at {path}"
    return path


@pytest.fixture(scope="module")
def busybox(client, test_image):
    """The test image imported as busybox:latest on the module's daemon."""
    with open(test_image, "rb") as f:
        client.api.import_image_from_data(f.read(), repository="busybox", tag="latest")
    return client.images.get("busybox:latest")
