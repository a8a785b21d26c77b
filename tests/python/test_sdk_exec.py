"""Operating running containers through the Python docker SDK (docker-py 7.x): exec_run
(output, exit codes, demux, over the unix socket and over TCP), restart, and the event stream.
Needs root (the daemon runs containers)."""

import os
import time
from concurrent.futures import ThreadPoolExecutor

import docker
import pytest

from names import unique

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="running containers needs root"),
    pytest.mark.usefixtures("no_containers_left"),
]


@pytest.fixture()
def tcp_client(daemon):
    c = docker.DockerClient(base_url=f"tcp://127.0.0.1:{daemon.port}", version="auto", timeout=120)
    yield c
    c.close()


def _exec_many_times(container, times=30):
    for i in range(times):
        result = container.exec_run(["sh", "-c", f"echo out-{i}; exit {i % 4}"])
        assert (result.exit_code, result.output) == (i % 4, f"out-{i}\n".encode()), f"exec {i}: {result}"


def test_exec_run_over_the_unix_socket(client, busybox):
    container = client.containers.run("busybox", "sleep 600", detach=True, name=unique("sdk-exec-"))
    _exec_many_times(container)
    container.remove(force=True)


def test_exec_run_over_tcp(client, tcp_client, busybox):
    name = unique("sdk-exec-tcp-")
    client.containers.run("busybox", "sleep 600", detach=True, name=name)
    container = tcp_client.containers.get(name)
    _exec_many_times(container)
    container.remove(force=True)


def test_exec_run_from_several_threads(client, busybox):
    container = client.containers.run("busybox", "sleep 600", detach=True)

    def one(i):
        result = container.exec_run(["sh", "-c", f"echo thread-{i}; exit {i % 3}"])
        return i, result.exit_code, result.output

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(one, range(40)))
    wrong = [r for r in results if r[1:] != (r[0] % 3, f"thread-{r[0]}\n".encode())]
    assert wrong == [], f"{len(wrong)} of 40 concurrent exec_run calls went wrong: {wrong}"
    container.remove(force=True)


def test_exec_run_options_and_demux(client, busybox):
    container = client.containers.run("busybox", "sleep 600", detach=True)
    result = container.exec_run(["sh", "-c", "echo to-out; echo to-err >&2; exit 3"], stream=False, demux=True)
    assert result.exit_code == 3
    assert result.output == (b"to-out\n", b"to-err\n")
    # Without demux both streams come together.
    result = container.exec_run(["sh", "-c", "echo to-err >&2"])
    assert result == (0, b"to-err\n")
    result = container.exec_run("id -u", user="nobody")
    assert result == (0, b"65534\n")
    result = container.exec_run("pwd", workdir="/tmp")
    assert result == (0, b"/tmp\n")
    result = container.exec_run(["sh", "-c", "echo $GREETING"], environment={"GREETING": "hello"})
    assert result == (0, b"hello\n")
    # A streamed exec yields its output as it comes.
    result = container.exec_run(["sh", "-c", "for i in 1 2 3; do echo $i; done"], stream=True)
    assert b"".join(result.output) == b"1\n2\n3\n"
    container.remove(force=True)


def test_exec_run_on_a_stopped_container_is_a_conflict(client, busybox):
    container = client.containers.run("busybox", "true", detach=True)
    assert container.wait(timeout=60)["StatusCode"] == 0
    with pytest.raises(docker.errors.APIError) as info:
        container.exec_run("true")
    assert info.value.status_code == 409, info.value
    assert "is not running" in str(info.value)
    container.remove()


def test_restart_runs_the_command_again(client, busybox):
    container = client.containers.run(
        "busybox",
        ["sh", "-c", "trap 'exit 0' TERM; echo started; while true; do sleep 0.1; done"],
        detach=True,
    )
    deadline = time.monotonic() + 20
    while b"started" not in container.logs() and time.monotonic() < deadline:
        time.sleep(0.05)
    container.reload()
    before = container.attrs["State"]

    container.restart(timeout=5)
    container.reload()
    after = container.attrs["State"]
    assert container.status == "running"
    assert after["StartedAt"] > before["StartedAt"]
    assert after["Pid"] != before["Pid"]
    deadline = time.monotonic() + 20
    while container.logs().count(b"started") < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert container.logs() == b"started\nstarted\n"
    # A restart by the user is not a restart by policy.
    assert container.attrs["RestartCount"] == 0
    container.remove(force=True)


def test_events_since_until_decode(client, busybox):
    name = unique("sdk-events-")
    since = int(time.time()) - 1
    container = client.containers.create("busybox", ["sh", "-c", "exit 6"], name=name)
    container.start()
    assert container.wait(timeout=60)["StatusCode"] == 6
    container.remove()
    until = int(time.time()) + 1

    seen = list(client.events(since=since, until=until, decode=True, filters={"container": name}))
    assert all(isinstance(e, dict) for e in seen), seen
    assert [e["Action"] for e in seen] == ["create", "start", "die", "destroy"], seen
    assert {e["Type"] for e in seen} == {"container"}
    assert {e["Actor"]["ID"] for e in seen} == {container.id}
    assert {e["Actor"]["Attributes"]["name"] for e in seen} == {name}
    die = next(e for e in seen if e["Action"] == "die")
    assert die["Actor"]["Attributes"]["exitCode"] == "6"
    times = [e["timeNano"] for e in seen]
    assert times == sorted(times)
    assert since * 10**9 <= times[0] and times[-1] <= until * 10**9
