"""Milestone-1 image features through the Python docker SDK (docker-py 7.x),
as a user script would drive them."""

import hashlib
import json

import docker
import pytest

from names import unique


def _import(client, tar_path, repository, tag):
    """Imports the test image through the API and returns the new image ID."""
    with open(tar_path, "rb") as f:
        out = client.api.import_image_from_data(f.read(), repository=repository, tag=tag)
    messages = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert messages, f"empty import reply: {out!r}"
    assert not any("error" in m or "errorDetail" in m for m in messages), out
    image_id = messages[-1].get("status", "")
    assert image_id.startswith("sha256:") and len(image_id) == 71, out
    return image_id


def test_ping(client):
    assert client.ping() is True


def test_version_negotiates_1_50(client):
    version = client.version()
    assert version["ApiVersion"] == "1.50"
    assert version["MinAPIVersion"] == "1.24"
    assert version["Os"] == "linux"
    # version="auto" settled on the daemon's maximum.
    assert client.api.api_version == "1.50"


def test_import_and_get(client, test_image):
    image_id = _import(client, test_image, "busybox", "latest")
    image = client.images.get("busybox:latest")
    assert image.id.startswith("sha256:")
    assert image.id == image_id
    assert image.tags == ["busybox:latest"]
    assert image.attrs["Os"] == "linux"
    digest = hashlib.sha256(test_image.read_bytes()).hexdigest()
    assert image.attrs["RootFS"]["Layers"] == [f"sha256:{digest}"]
    assert any(image_id == i.id for i in client.images.list())


def test_import_from_file(client, test_image):
    repo = unique("fromfile")
    client.api.import_image(src=str(test_image), repository=repo, tag="1")
    image = client.images.get(f"{repo}:1")
    assert image.id.startswith("sha256:")
    assert f"{repo}:1" in image.tags


def test_save_remove_load_round_trip(client, test_image, tmp_path):
    repo = unique("roundtrip")
    name = f"{repo}:v1"
    image_id = _import(client, test_image, repo, "v1")

    saved = tmp_path / "saved.tar"
    with open(saved, "wb") as f:
        # named=True keeps the tag in the archive (the default saves by ID).
        for chunk in client.images.get(name).save(named=True):
            f.write(chunk)
    assert saved.stat().st_size > 1_000_000

    client.images.remove(name)
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(name)

    with open(saved, "rb") as f:
        loaded = client.images.load(f.read())
    assert [i.id for i in loaded] == [image_id]
    assert loaded[0].tags == [name]
    listed = {t: i.id for i in client.images.list() for t in i.tags}
    assert listed.get(name) == image_id


def test_tag_and_filtered_list(client, test_image):
    repo = unique("tagme")
    image_id = _import(client, test_image, repo, "1")
    image = client.images.get(f"{repo}:1")
    assert image.tag(f"{repo}/copy", "v2") is True
    assert client.images.get(f"{repo}/copy:v2").id == image_id
    # docker-py sends filters in the list form: {"reference": ["…"]}.
    found = client.images.list(filters={"reference": f"{repo}/copy"})
    assert [i.id for i in found] == [image_id]
    client.images.remove(f"{repo}/copy:v2")
    assert client.images.get(f"{repo}:1").tags == [f"{repo}:1"]


def test_missing_image_raises_image_not_found(client):
    with pytest.raises(docker.errors.ImageNotFound) as err:
        client.images.get("nosuch")
    assert "No such image: nosuch" in str(err.value)
