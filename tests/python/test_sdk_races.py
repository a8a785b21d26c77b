"""Concurrent lifecycle calls on one container, as two scripts (or a fuzzer with two workers)
would make them: restart, stop, kill and start racing. Whatever the interleaving, the
container must end coherent: when it says running, its process runs (exec and cp work);
stop and remove come back promptly. Needs root (the daemon runs containers)."""

import os
import threading

import docker
import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="running containers needs root")

ROUNDS = int(os.environ.get("KAPSEL_RACE_ROUNDS", "100"))
# Far above what one stop with t=1 takes; a call that waits for an exit nobody records hangs.
CALL_TIMEOUT = 20


def _hammer(daemon, container_id, actions, errors):
    client = docker.DockerClient(base_url=daemon.socket_url, version="auto", timeout=CALL_TIMEOUT)
    try:
        for i in range(ROUNDS):
            action = actions[i % len(actions)]
            try:
                action(client.api, container_id)
            except docker.errors.APIError as e:
                # 304/409 are fair answers to a race (already stopped, not running).
                if e.status_code not in (304, 409):
                    errors.append(f"{action.__name__}: {e}")
                    return
            except Exception as e:  # a timeout: a call hung
                errors.append(f"{action.__name__}: {type(e).__name__}: {e}")
                return
    finally:
        client.close()


def restart(api, cid):
    api.restart(cid, timeout=1)


def stop(api, cid):
    api.stop(cid, timeout=1)


def kill(api, cid):
    api.kill(cid)


def start(api, cid):
    api.start(cid)


def test_racing_restart_stop_kill_start_leave_a_coherent_container(daemon, client, busybox):
    client.networks.create("racenet")
    client.volumes.create("racevol")
    container = client.containers.run(
        "busybox",
        ["sleep", "3600"],
        name="racebox",
        detach=True,
        network="racenet",
        volumes={"racevol": {"bind": "/data", "mode": "rw"}},
        stop_signal="KILL",
    )
    errors = []
    workers = [
        threading.Thread(target=_hammer, args=(daemon, container.id, [restart, stop], errors)),
        threading.Thread(target=_hammer, args=(daemon, container.id, [kill, start, restart], errors)),
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=ROUNDS * CALL_TIMEOUT)
    assert not any(w.is_alive() for w in workers), "a lifecycle call never came back"
    assert errors == []

    # Coherent: a stop comes back (a stop waiting for an exit nobody records would time out),
    # leaves it exited, and a start runs it again for real.
    prompt = docker.APIClient(base_url=daemon.socket_url, version="auto", timeout=CALL_TIMEOUT)
    prompt.stop(container.id, timeout=1)
    assert prompt.inspect_container(container.id)["State"]["Status"] == "exited"
    prompt.start(container.id)
    state = prompt.inspect_container(container.id)["State"]
    assert state["Status"] == "running"
    assert os.path.exists(f"/proc/{state['Pid']}"), "running, but its process is gone"
    assert container.exec_run(["sh", "-c", "echo ok > /data/ok && cat /data/ok"]).output == b"ok\n"
    _, stat = container.get_archive("/data/ok")
    assert stat["size"] == 3
    prompt.remove_container(container.id, force=True)
    prompt.close()
    client.volumes.get("racevol").remove()
    client.networks.get("racenet").remove()
