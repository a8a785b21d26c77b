"""The committed OpenAPI document (openapi/openapi.json): it validates as OpenAPI 3.1, it is
what the daemon serves, and a client generated from it with openapi-python-client, used as
generated, drives a whole container's life against a live kapsel. Every reply of that flow is
also checked against the document's schemas (schemathesis' response validation), which blind
fuzzing (test_openapi_fuzz.py) cannot reach: it has no real objects to inspect.

The generated code lives in a temporary directory and is never committed."""

import collections
import datetime
import importlib
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCUMENT = REPO / "openapi" / "openapi.json"
GENERATOR_CONFIG = Path(__file__).resolve().parent / "openapi-python-client.yaml"
# The package name openapi-python-client derives from the title "kapsel".
PACKAGE = "kapsel_client"
GENERATE_TIMEOUT = 300


def _document():
    return json.loads(DOCUMENT.read_text())


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "options", "head", "patch", "trace"):
                yield path, method, operation


def test_document_validates_as_openapi_3_1():
    from openapi_spec_validator import OpenAPIV31SpecValidator, validate

    document = _document()
    assert document["openapi"].startswith("3.1"), document["openapi"]
    validate(document, cls=OpenAPIV31SpecValidator)


def test_operation_ids_are_unique_and_valid_identifiers():
    ids = collections.Counter(op.get("operationId") for _, _, op in _operations(_document()))
    assert None not in ids, "an operation has no operationId"
    assert [i for i, n in ids.items() if n > 1] == []
    assert all(i.isidentifier() for i in ids), [i for i in ids if not i.isidentifier()]


def test_every_operation_documents_errors_and_security():
    document = _document()
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}
    assert document["security"] == [{"bearer": []}]
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    for path, method, op in _operations(document):
        responses = op["responses"]
        for status in ("401", "500"):
            assert status in responses, f"{method.upper()} {path}: no {status}"
        for status, response in responses.items():
            assert response.get("description"), f"{method.upper()} {path} {status}: no description"
            if status.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"] == error_ref, f"{method.upper()} {path}"


def test_streams_and_hijacks_are_described_as_such():
    paths = _document()["paths"]
    for path in ("/containers/{id}/attach", "/exec/{id}/start"):
        hijack = paths[path]["post"]["responses"]["101"]
        assert set(hijack["headers"]) == {"Connection", "Upgrade"}, path
    logs = paths["/containers/{id}/logs"]["get"]["responses"]["200"]["content"]
    assert set(logs) == {"application/vnd.docker.multiplexed-stream", "application/vnd.docker.raw-stream"}
    for path, method in (("/images/get", "get"), ("/containers/{id}/export", "get")):
        content = paths[path][method]["responses"]["200"]["content"]
        assert "application/x-tar" in content, path
    upload = paths["/images/create"]["post"]["requestBody"]["content"]["application/x-tar"]["schema"]
    assert {"$ref": "#/components/schemas/Binary"} in upload["oneOf"], upload
    events = paths["/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert events == {"$ref": "#/components/schemas/Event"}


def test_served_document_is_the_committed_one(daemon):
    with urllib.request.urlopen(f"http://127.0.0.1:{daemon.port}/openapi.json", timeout=10) as r:
        served = json.load(r)
    assert served == _document()


@pytest.fixture(scope="module")
def generated_client():
    """openapi-python-client's package for the committed document, importable, in a temp dir."""
    out = Path(tempfile.mkdtemp(prefix="kapsel-openapi-client-"))
    target = out / PACKAGE
    try:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "openapi_python_client",
                "generate",
                "--path",
                str(DOCUMENT),
                "--meta",
                "none",
                "--output-path",
                str(target),
                "--config",
                str(GENERATOR_CONFIG),
                "--fail-on-warning",
            ],
            capture_output=True,
            text=True,
            timeout=GENERATE_TIMEOUT,
            cwd=out,
        )
        assert result.returncode == 0, f"openapi-python-client failed:\n{result.stdout}\n{result.stderr}"
        sys.path.insert(0, str(out))
        importlib.invalidate_caches()
        yield importlib.import_module(PACKAGE)
    finally:
        if str(out) in sys.path:
            sys.path.remove(str(out))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]
        shutil.rmtree(out, ignore_errors=True)


@pytest.fixture(scope="module")
def schema():
    """The committed document, loaded by schemathesis for response validation."""
    import schemathesis

    return schemathesis.openapi.from_path(str(DOCUMENT))


def _conforms(schema, path, method, response):
    """Checks a raw reply of the generated client against the document."""
    import httpx

    request = httpx.Request(method, f"http://kapsel{path}")
    raw = httpx.Response(
        int(response.status_code), headers=response.headers, content=response.content, request=request
    )
    raw.elapsed = datetime.timedelta(0)
    schema[path][method].validate_response(raw)


def _demux(data):
    """Splits a multiplexed log stream into (stdout, stderr)."""
    out = {1: b"", 2: b""}
    while data:
        kind, length = struct.unpack(">BxxxL", data[:8])
        out[kind] += data[8 : 8 + length]
        data = data[8 + length :]
    return out[1], out[2]


def test_generated_client_runs_a_container_flow(daemon, test_image, generated_client, schema):
    from kapsel_client import Client
    from kapsel_client.api.container import (
        container_logs,
        create_container,
        inspect_container,
        list_containers,
        remove_container,
        start_container,
        stop_container,
        wait_container,
    )
    from kapsel_client.api.exec_ import create_exec, inspect_exec, start_exec
    from kapsel_client.api.image import create_image, inspect_image, list_images
    from kapsel_client.api.network import inspect_network, list_networks
    from kapsel_client.api.system import info, ping, ping_head, version
    from kapsel_client.api.volume import create_volume, inspect_volume, list_volumes, remove_volume
    from kapsel_client.models import (
        ContainerInspect,
        CreateReply,
        CreateRequest,
        ExecConfig,
        ExecInspect,
        ExecStartConfig,
        HostConfig,
        IdReply,
        ImageInspect,
        NetworkResource,
        ProgressMessage,
        Volume,
        VolumeCreateRequest,
        WaitReply,
    )
    from kapsel_client.types import File

    client = Client(base_url=f"http://127.0.0.1:{daemon.port}", timeout=120, raise_on_unexpected_status=True)
    name = f"sdk{uuid.uuid4().hex[:8]}"
    volume_name = f"{name}-data"

    def check(path, method, response, status=200):
        assert int(response.status_code) == status, (path, response.status_code, response.content)
        _conforms(schema, path, method, response)
        return response.parsed

    check("/_ping", "GET", ping.sync_detailed(client=client))
    check("/_ping", "HEAD", ping_head.sync_detailed(client=client))
    assert check("/version", "GET", version.sync_detailed(client=client)).api_version == "1.50"
    check("/info", "GET", info.sync_detailed(client=client))

    # Import the test image: the body is the raw tarball.
    with open(test_image, "rb") as f:
        imported = check(
            "/images/create",
            "POST",
            create_image.sync_detailed(
                client=client,
                body=File(payload=f, file_name="busybox.tar", mime_type="application/x-tar"),
                from_src="-",
                repo="busybox",
                tag="latest",
            ),
        )
    assert isinstance(imported, ProgressMessage)
    image_id = imported.status
    assert image_id.startswith("sha256:"), imported
    image = check("/images/{name}/json", "GET", inspect_image.sync_detailed("busybox:latest", client=client))
    assert isinstance(image, ImageInspect) and image.id == image_id
    assert any(i.id == image_id for i in check("/images/json", "GET", list_images.sync_detailed(client=client)))

    volume = check(
        "/volumes/create",
        "POST",
        create_volume.sync_detailed(client=client, body=VolumeCreateRequest(name=volume_name)),
        status=201,
    )
    assert isinstance(volume, Volume) and volume.name == volume_name

    # Create, start, inspect.
    request = CreateRequest(
        image="busybox:latest",
        cmd=["sh", "-c", "echo hello-from-sdk; echo oops >&2; exec sleep 300"],
        host_config=HostConfig(binds=[f"{volume_name}:/data"], memory=64 * 1024 * 1024),
    )
    created = check(
        "/containers/create",
        "POST",
        create_container.sync_detailed(client=client, body=request, name=name),
        status=201,
    )
    assert isinstance(created, CreateReply) and len(created.id) == 64
    check("/containers/{id}/start", "POST", start_container.sync_detailed(name, client=client), status=204)
    inspected = check("/containers/{id}/json", "GET", inspect_container.sync_detailed(name, client=client))
    assert isinstance(inspected, ContainerInspect)
    assert inspected.id == created.id
    assert inspected.name == f"/{name}"
    assert inspected.state.running is True and inspected.state.pid > 0
    assert inspected.config.image == "busybox:latest"
    assert inspected.host_config.memory == 64 * 1024 * 1024
    assert [m.destination for m in inspected.mounts] == ["/data"]
    assert "bridge" in inspected.network_settings.networks.additional_properties
    listed = check("/containers/json", "GET", list_containers.sync_detailed(client=client))
    assert [c.id for c in listed] == [created.id]

    bridge = check("/networks/{id}", "GET", inspect_network.sync_detailed("bridge", client=client))
    assert isinstance(bridge, NetworkResource)
    assert created.id in bridge.containers.additional_properties
    check("/networks", "GET", list_networks.sync_detailed(client=client))
    check("/volumes/{name}", "GET", inspect_volume.sync_detailed(volume_name, client=client))
    check("/volumes", "GET", list_volumes.sync_detailed(client=client))

    # An exec, detached; its exit code shows in inspect.
    exec_id = check(
        "/containers/{id}/exec",
        "POST",
        create_exec.sync_detailed(name, client=client, body=ExecConfig(cmd=["sh", "-c", "exit 3"])),
        status=201,
    )
    assert isinstance(exec_id, IdReply)
    check("/exec/{id}/start", "POST", start_exec.sync_detailed(exec_id.id, client=client, body=ExecStartConfig(detach=True)))
    deadline = time.monotonic() + 30
    while True:
        state = check("/exec/{id}/json", "GET", inspect_exec.sync_detailed(exec_id.id, client=client))
        assert isinstance(state, ExecInspect)
        if not state.running and state.exit_code is not None:
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.1)
    assert state.exit_code == 3 and state.container_id == created.id

    # Logs.
    logs = check(
        "/containers/{id}/logs",
        "GET",
        container_logs.sync_detailed(name, client=client, stdout=True, stderr=True),
    )
    assert isinstance(logs, File)
    stdout, stderr = _demux(logs.payload.read())
    assert stdout == b"hello-from-sdk\n" and stderr == b"oops\n"

    # Stop, wait, inspect again, remove.
    check("/containers/{id}/stop", "POST", stop_container.sync_detailed(name, client=client, t=1), status=204)
    waited = check("/containers/{id}/wait", "POST", wait_container.sync_detailed(name, client=client))
    assert isinstance(waited, WaitReply) and waited.status_code in (137, 143)
    stopped = check("/containers/{id}/json", "GET", inspect_container.sync_detailed(name, client=client))
    assert stopped.state.running is False and stopped.state.status == "exited"
    assert stopped.state.exit_code == waited.status_code
    check("/containers/{id}", "DELETE", remove_container.sync_detailed(name, client=client, v=True), status=204)
    gone = inspect_container.sync_detailed(name, client=client)
    assert int(gone.status_code) == 404 and gone.parsed.message
    _conforms(schema, "/containers/{id}/json", "GET", gone)
    check("/volumes/{name}", "DELETE", remove_volume.sync_detailed(volume_name, client=client), status=204)
