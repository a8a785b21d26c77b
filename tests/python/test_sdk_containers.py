"""Containers that really run, through the Python docker SDK (docker-py 7.x),
as a user script would drive them. Needs root (the daemon runs containers)."""

import os
import time

import docker
import pytest

from names import unique

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="running containers needs root"),
    pytest.mark.usefixtures("no_containers_left"),
]


def test_run_returns_output_and_removes(client, busybox):
    assert client.containers.run("busybox", "echo hi", remove=True) == b"hi\n"
    assert client.containers.list(all=True) == []


def test_run_detached_logs_wait_stop_remove(client, busybox):
    name = unique("sdk-detached-")
    container = client.containers.run(
        "busybox",
        ["sh", "-c", "trap 'echo stopping; exit 0' TERM; echo started; while true; do sleep 0.1; done"],
        detach=True,
        name=name,
    )
    assert container.name == name
    container.reload()
    assert container.status == "running"
    assert container.attrs["State"]["Pid"] > 0

    # Wait for the first line (so the TERM trap is set).
    deadline = time.monotonic() + 20
    while b"started" not in container.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert container.logs() == b"started\n"

    container.stop(timeout=5)
    assert container.wait(timeout=30)["StatusCode"] == 0
    container.reload()
    assert container.status == "exited"
    assert container.logs() == b"started\nstopping\n"

    container.remove()
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(name)


def test_wait_returns_the_exit_code(client, busybox):
    container = client.containers.run("busybox", ["sh", "-c", "echo out; echo err >&2; exit 4"], detach=True)
    assert container.wait(timeout=60)["StatusCode"] == 4
    assert container.logs(stdout=True, stderr=False) == b"out\n"
    assert container.logs(stdout=False, stderr=True) == b"err\n"
    container.reload()
    assert container.status == "exited"
    assert container.attrs["State"]["ExitCode"] == 4
    container.remove()


def test_list_and_get(client, busybox):
    running_name = unique("sdk-running-")
    exited_name = unique("sdk-exited-")
    running = client.containers.run(
        "busybox", "sleep 600", detach=True, name=running_name, labels={"suite": "sdk"}
    )
    exited = client.containers.run("busybox", "true", detach=True, name=exited_name)
    assert exited.wait(timeout=60)["StatusCode"] == 0

    assert [c.name for c in client.containers.list()] == [running_name]
    assert sorted(c.name for c in client.containers.list(all=True)) == sorted([running_name, exited_name])
    assert [c.name for c in client.containers.list(filters={"status": "exited"})] == [exited_name]
    assert [c.name for c in client.containers.list(all=True, filters={"label": "suite=sdk"})] == [running_name]

    got = client.containers.get(running_name)
    assert got.id == running.id
    assert got.status == "running"
    assert got.labels == {"suite": "sdk"}
    assert client.containers.get(running.id[:12]).name == running_name
    with pytest.raises(docker.errors.NotFound):
        client.containers.get(unique("sdk-missing-"))

    running.remove(force=True)
    exited.remove()
    assert client.containers.list(all=True) == []


def test_non_zero_exit_raises_container_error(client, busybox):
    with pytest.raises(docker.errors.ContainerError) as info:
        client.containers.run("busybox", ["sh", "-c", "echo oops >&2; exit 2"], remove=True)
    assert info.value.exit_status == 2
    # docker-py reads the message from the container's stderr log.
    assert b"oops" in info.value.stderr
    assert client.containers.list(all=True) == []


def test_missing_command_is_an_api_error(client, busybox):
    with pytest.raises(docker.errors.APIError) as info:
        client.containers.run("busybox", "nosuchcmd", remove=True)
    assert "executable file not found" in str(info.value)
    assert info.value.status_code == 400, info.value
