"""compose.yaml: valid for a real Compose implementation, and wired to what the
code actually reads (flags, GLOBALTABLES_* variables, ports, metric names).

``docker compose config`` (or Debian's ``docker-compose config``) needs no Docker
engine, so this runs on machines that cannot start the containers.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from globaltables.cli import main
from regions.settings import parse_peer
from tests.fixtures.regions import REPO

pytestmark = pytest.mark.integration

COMPOSE = REPO / "compose.yaml"
DOCS = REPO / "docs" / "compose.md"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")


def compose_tool() -> list[str]:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, text=True, timeout=60
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy:
        return [legacy]
    if os.environ.get("CI"):
        pytest.fail("no Compose implementation on CI: .ci/run installs docker-compose")
    pytest.skip(
        "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)"
    )


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


@pytest.fixture(scope="module")
def services(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(spec["services"])


def command(name: str) -> click.Command:
    cmd = main.commands[name]  # type: ignore[attr-defined]
    assert isinstance(cmd, click.Command)
    return cmd


def options(cmd: click.Command) -> set[str]:
    return {
        o for p in cmd.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)
    }


def envvars(cmd: click.Command) -> set[str]:
    return {p.envvar for p in cmd.params if isinstance(p.envvar, str)}


def parse(
    cmd: click.Command, args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """What the command would run with, as click parses it (nothing is started)."""
    with monkeypatch.context() as m:
        for k in [k for k in os.environ if k.startswith("GLOBALTABLES_")]:
            m.delenv(k)
        for k, v in env.items():
            m.setenv(k, str(v))
        ctx = cmd.make_context(cmd.name or "", list(args), resilient_parsing=False)
    return dict(ctx.params)


def region_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services.items() if s.get("command", [None])[0] == "region"}


def published(service: dict[str, Any]) -> list[tuple[str, int, int]]:
    """(host address, host port, container port) of each of the service's published ports."""
    out = []
    for mapping in service.get("ports", []):
        address, host, container = str(mapping).split(":")
        out.append((address, int(host), int(container)))
    return out


def container_port(service: dict[str, Any]) -> int:
    ((_, host, container),) = published(service)
    assert host == container, "the same port inside and outside, as in `make demo`"
    return container


def test_a_real_compose_implementation_accepts_the_file(
    services: dict[str, dict[str, Any]],
) -> None:
    tool = compose_tool()
    out = subprocess.run(
        [*tool, "-f", str(COMPOSE), "config"], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    listed = subprocess.run(
        [*tool, "-f", str(COMPOSE), "config", "--services"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) == set(services)


def test_the_topology(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
    assert not any("zookeeper" in n for n in services)
    assert set(region_services(services)) == set(REGIONS)
    for n in REGIONS:
        assert services[f"postgres-{n}"]["image"].startswith("postgres:")
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    assert services["workload"]["command"][0] == "workload"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert services["us-east-1"]["build"] == "."
    assert 'ENTRYPOINT ["globaltables"]' in dockerfile
    for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.MULTILINE):
        assert (REPO / src).exists(), f"Dockerfile copies missing {src}"


def test_region_services_use_only_flags_and_variables_the_cli_reads(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = command("region")
    known_flags, known_env = options(region), envvars(region)
    regions = region_services(services)
    ports = {n: container_port(s) for n, s in regions.items()}
    postgres_used = set()
    for name, svc in regions.items():
        args = svc["command"][1:]
        flags = {a for a in args if a.startswith("-")}
        assert flags <= known_flags, f"{name}: unknown flags {flags - known_flags}"
        env = svc["environment"]
        ours = {k for k in env if k.startswith("GLOBALTABLES_")}
        assert ours <= known_env, f"{name}: variables the CLI does not read: {ours - known_env}"

        params = parse(region, args, env, monkeypatch)
        assert params["name"] == name
        assert params["host"] == "0.0.0.0"
        assert params["port"] == ports[name]
        assert f":{ports[name]}/healthz" in " ".join(svc["healthcheck"]["test"])
        peers = dict(parse_peer(p) for p in params["peers"])
        assert peers == {p: f"http://{p}:{ports[p]}" for p in regions if p != name}
        assert params["kafka"] == "kafka:9092"
        assert "CLIENT://kafka:9092" in services["kafka"]["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        # its own Kafka principal, which kafka-init creates before the region starts
        assert params["kafka_username"] == f"region-{name}"
        assert params["kafka_password"] and params["kafka_security_protocol"] is None
        assert not params["kafka_insecure_plaintext"]
        assert svc["depends_on"]["kafka-init"]["condition"] == "service_completed_successfully"

        store = urlsplit(params["store_url"])
        assert store.scheme == "postgresql"
        pg = services[str(store.hostname)]
        assert pg["image"].startswith("postgres:") and store.hostname in svc["depends_on"]
        pg_env = pg["environment"]
        assert (store.username, store.password, store.path.lstrip("/")) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            pg_env["POSTGRES_DB"],
        )
        postgres_used.add(store.hostname)
    assert len(postgres_used) == len(regions), "each region has a database of its own"


def test_kafka_requires_authentication_and_regions_get_acls(
    services: dict[str, dict[str, Any]],
) -> None:
    env = services["kafka"]["environment"]
    protocols = dict(p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, "no listener without authentication"
    assert env["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == (
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    )
    assert str(env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"]) == "false"
    assert env["KAFKA_SUPER_USERS"] == "User:admin"
    # kafka-init grants exactly the regions' principals, with the passwords they use
    init = services["kafka-init"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    passwords = dict(p.split("=", 1) for p in init["environment"]["REGION_PASSWORDS"].split())
    for name, svc in region_services(services).items():
        assert svc["environment"]["GLOBALTABLES_KAFKA_PASSWORD"] == passwords.pop(name)
    assert not passwords
    script = init["command"][0]
    for acl in (
        '--operation Write --operation Describe --topic "globaltables.$$region.changes"',
        "--topic globaltables. --resource-pattern-type prefixed",
        '--operation Read --group "globaltables.apply.$$region"',
        '--entity-name "region-$$region"',
    ):
        assert acl in script


def test_the_workload_writes_in_every_region(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    workload = command("workload")
    svc = services["workload"]
    args = [str(a) for a in svc["command"][1:]]
    assert {a for a in args if a.startswith("-")} <= options(workload)
    params = parse(workload, args, svc.get("environment", {}), monkeypatch)
    regions = region_services(services)
    endpoints = dict(parse_peer(e) for e in params["endpoints"])
    assert endpoints == {n: f"http://{n}:{container_port(s)}" for n, s in regions.items()}
    assert params["conflict_every"] > 0
    assert set(svc["depends_on"]) == set(regions)


def test_prometheus_scrapes_every_region(services: dict[str, dict[str, Any]]) -> None:
    (mount,) = services["prometheus"]["volumes"]
    src, dest = mount.split(":")[:2]
    assert dest == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load((REPO / src).read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {t: sc["labels"]["region"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{n}:{container_port(s)}": n for n, s in region_services(services).items()}


def test_grafana_is_provisioned_with_the_documented_metrics(
    services: dict[str, dict[str, Any]],
) -> None:
    mounts = dict(v.split(":")[:2] for v in services["grafana"]["volumes"])
    provisioning = REPO / next(s for s, d in mounts.items() if d == "/etc/grafana/provisioning")
    (datasource,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert datasource["url"] == "http://prometheus:9090" and datasource["type"] == "prometheus"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "globaltables.yaml").read_text())[
        "providers"
    ]
    dashboards = REPO / next(s for s, d in mounts.items() if d == provider["options"]["path"])
    board = json.loads((dashboards / "globaltables.json").read_text())

    documented = set(
        re.findall(
            r"^\| `(globaltables_[a-z_]+)`", (REPO / "docs" / "metrics.md").read_text(), re.M
        )
    )
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    used = {
        re.sub(r"_(bucket|sum|count)$", "", m)
        for e in exprs
        for m in re.findall(r"globaltables_[a-z_]+", e)
    }
    assert used and used <= documented, used - documented
    for p in board["panels"]:
        assert p["datasource"]["uid"] == datasource["uid"]
    # the lag metrics are all on it
    assert {
        "globaltables_replication_lag_seconds",
        "globaltables_replication_records_behind",
        "globaltables_replication_last_lag_seconds",
    } <= used


def documented_services() -> dict[str, dict[str, Any]]:
    """docs/compose.md's table: service -> image, published port, volumes."""
    rows: dict[str, dict[str, Any]] = {}
    for line in DOCS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 4 or not cells[0].startswith("`"):
            continue
        service, image, port, volumes = cells

        def code(cell: str) -> list[str]:
            return re.findall(r"`([^`]+)`", cell)

        (name,) = code(service)
        rows[name] = {
            "image": code(image)[0],
            "ports": code(port),
            "volumes": code(volumes),
        }
    return rows


def test_every_service_is_documented_with_its_image_port_and_volumes(
    spec: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    docs = documented_services()
    assert set(docs) == set(services), "docs/compose.md's table lists every service, no other"
    for name, svc in services.items():
        doc = docs[name]
        assert svc["image"] == doc["image"], name
        assert [f"{a}:{h}" for a, h, _ in published(svc)] == doc["ports"], name
        assert [str(v) for v in svc.get("volumes", [])] == doc["volumes"], name
    # each named volume is declared, and each declared one is used
    named = {
        str(v).split(":")[0]
        for svc in services.values()
        for v in svc.get("volumes", [])
        if not str(v).startswith(".")
    }
    assert named == set(spec.get("volumes") or {})
    assert "docs/compose.md" in COMPOSE.read_text()


def test_state_survives_down_in_named_volumes(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    data_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
    assert [v.split(":")[1] for v in kafka["volumes"]] == [data_dir]
    for n in REGIONS:
        (volume,) = services[f"postgres-{n}"]["volumes"]
        name, path = volume.split(":")
        assert path == "/var/lib/postgresql/data" and name == f"postgres-{n}"


def test_every_port_is_published_on_localhost_only(services: dict[str, dict[str, Any]]) -> None:
    header = COMPOSE.read_text().split("\nservices:", 1)[0]
    ports = {name: published(svc) for name, svc in services.items() if svc.get("ports")}
    assert ports
    for name, mappings in ports.items():
        for address, host, container in mappings:
            assert address == "127.0.0.1", f"{name} publishes {host} beyond localhost"
            assert host == container, name
            # the comments at the top name each published port
            assert re.search(rf"\b{host}\b", header), f"{name}'s port {host} is not in the header"
    assert "127.0.0.1" in header and "--resolve-image-digests" in header


def test_kafka_is_the_version_the_code_runs(services: dict[str, dict[str, Any]]) -> None:
    from globaltables.kafka_broker import KAFKA_VERSION

    kafkas = {n: s["image"] for n, s in services.items() if s["image"].startswith("apache/kafka:")}
    assert set(kafkas) == {"kafka", "kafka-init"}
    assert set(kafkas.values()) == {f"apache/kafka:{KAFKA_VERSION}"}


def test_prometheus_and_grafana_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in ("prometheus", "grafana"):
        svc = services[name]
        ((_, _, port),) = published(svc)
        assert f"http://127.0.0.1:{port}/" in " ".join(svc["healthcheck"]["test"]), name
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_the_image_holds_every_package_of_the_project() -> None:
    """``globaltables bench`` (and every other command) runs in the image: each package
    pyproject.toml installs is copied by the Dockerfile and not dropped by .dockerignore."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    dockerfile = (REPO / "Dockerfile").read_text()
    copied = {
        src.rstrip("/") for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.MULTILINE)
    }
    ignored = {
        line.strip().rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert "bench" in packages
    for package in packages:
        assert package in copied, f"the Dockerfile does not copy {package}/"
        assert package not in ignored, f".dockerignore drops {package}/"
