"""Volumes through the Python docker SDK (docker-py 7.x): create, list, get, remove, prune,
and a volume used by a container."""

import os

import docker
import pytest

from names import unique


@pytest.fixture(autouse=True)
def _nothing_left(client):
    """Every test ends with no containers and no volumes on the daemon."""
    yield
    for container in client.containers.list(all=True):
        container.remove(force=True)
    for volume in client.volumes.list():
        volume.remove(force=True)


def test_create_list_get_remove(client):
    name = unique("sdk-vol-")
    volume = client.volumes.create(name=name, driver="local", labels={"team": "a"})
    assert volume.name == name
    assert volume.attrs["Driver"] == "local"
    assert volume.attrs["Scope"] == "local"
    assert volume.attrs["Labels"] == {"team": "a"}
    assert volume.attrs["Mountpoint"].endswith(f"/volumes/{name}/_data")

    assert name in [v.name for v in client.volumes.list()]
    assert [v.name for v in client.volumes.list(filters={"label": "team=a"})] == [name]
    assert client.volumes.list(filters={"label": "team=b"}) == []
    assert client.volumes.get(name).attrs["CreatedAt"] == volume.attrs["CreatedAt"]

    # Creating an existing name returns it.
    assert client.volumes.create(name=name).name == name

    volume.remove()
    with pytest.raises(docker.errors.NotFound):
        client.volumes.get(name)
    with pytest.raises(docker.errors.APIError) as bad:
        client.volumes.create(name="a/b")
    assert bad.value.status_code == 400
    assert "includes invalid characters for a local volume name" in str(bad.value)


def test_prune_removes_unused_volumes(client):
    named = client.volumes.create(name=unique("sdk-prune-"))
    anonymous = client.volumes.create()
    pruned = client.volumes.prune()
    assert pruned["VolumesDeleted"] == [anonymous.name]
    pruned = client.volumes.prune(filters={"all": "true"})
    assert pruned["VolumesDeleted"] == [named.name]


@pytest.mark.skipif(os.geteuid() != 0, reason="running containers needs root")
def test_a_container_writes_into_a_volume(client, busybox):
    name = unique("sdk-data-")
    client.volumes.create(name=name)
    out = client.containers.run(
        "busybox", ["sh", "-c", "echo kept > /data/f"], volumes={name: {"bind": "/data", "mode": "rw"}}, remove=True
    )
    assert out == b""
    out = client.containers.run("busybox", ["cat", "/data/f"], volumes=[f"{name}:/data:ro"], remove=True)
    assert out == b"kept\n"
    container = client.containers.create("busybox", "true", volumes=[f"{name}:/data"])
    with pytest.raises(docker.errors.APIError) as in_use:
        client.volumes.get(name).remove()
    assert in_use.value.status_code == 409
    assert container.id in str(in_use.value)
    mounts = client.api.inspect_container(container.id)["Mounts"]
    assert [(m["Type"], m["Name"], m["Destination"]) for m in mounts] == [("volume", name, "/data")]
    container.remove(v=True)
    client.volumes.get(name).remove()
