"""compose.yaml: valid for a real Compose implementation, and wired to what the
code actually reads (flags, GLOBALTABLES_* variables, ports, metric names): per region
two nodes on one PostgreSQL behind a load balancer, and the region's own Kafka broker,
which the other regions read its change topic from.

``docker compose config`` (or Debian's ``docker-compose config``) needs no Docker
engine, so this runs on machines that cannot start the containers.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from globaltables.cli import main
from globaltables.config_file import peer_kafka_settings
from regions.kafka_security import KafkaSecurity
from regions.nodes import validate_node_id
from regions.settings import RegionSettings, parse_peer, parse_peer_kafka
from replicator.kafka import apply_group, change_topic, source_clusters
from tests.fixtures.regions import REPO

pytestmark = pytest.mark.integration

COMPOSE = REPO / "compose.yaml"
DOCS = REPO / "docs" / "compose.md"
REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
#: the node ids of each region's nodes
NODES = ("n1", "n2")
#: where the official haproxy image reads its configuration
HAPROXY_CFG = "/usr/local/etc/haproxy/haproxy.cfg"


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


def node_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run `globaltables region`: the regions' nodes."""
    return {n: s for n, s in services.items() if s.get("command", [None])[0] == "region"}


def nodes_of(services: dict[str, dict[str, Any]], region: str) -> dict[str, dict[str, Any]]:
    return {
        n: s
        for n, s in node_services(services).items()
        if s["environment"]["GLOBALTABLES_REGION"] == region
    }


def brokers(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Kafka brokers (the apache/kafka services that run a broker, not a tool)."""
    return {
        n: s
        for n, s in services.items()
        if s["image"].startswith("apache/kafka:") and "KAFKA_PROCESS_ROLES" in s["environment"]
    }


def advertised(broker: dict[str, Any], listener: str) -> str:
    """host:port of a broker's advertised listener."""
    spec = str(broker["environment"]["KAFKA_ADVERTISED_LISTENERS"])
    listeners = dict(item.split("://", 1) for item in spec.split(","))
    return listeners[listener]


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


@dataclass
class Haproxy:
    """What test_compose needs of an HAProxy configuration file."""

    binds: list[int] = field(default_factory=list)
    #: (server name, host, port, health-checked)
    servers: list[tuple[str, str, int, bool]] = field(default_factory=list)
    httpchk: str = ""
    expect: str = ""


def haproxy_config(service: dict[str, Any]) -> Haproxy:
    mounts = dict(str(v).split(":")[:2] for v in service["volumes"])
    (src,) = [s for s, d in mounts.items() if d == HAPROXY_CFG]
    cfg = Haproxy()
    default_check = False
    for raw in (REPO / src).read_text().splitlines():
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if words[0] == "bind":
            cfg.binds.append(int(words[1].rsplit(":", 1)[1]))
        elif words[:2] == ["option", "httpchk"]:
            cfg.httpchk = " ".join(words[2:])
        elif words[:2] == ["http-check", "expect"]:
            cfg.expect = " ".join(words[2:])
        elif words[0] == "default-server":
            default_check = "check" in words[1:]
        elif words[0] == "server":
            host, port = words[2].rsplit(":", 1)
            cfg.servers.append((words[1], host, int(port), default_check or "check" in words[3:]))
    return cfg


def compose_interpolated() -> dict[str, Any]:
    """compose.yaml as Compose reads it with none of its variables set: each
    ${VAR:-default} its default, $$ a literal $."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        assert m.group(1) is not None, f"{m.group(0)} has no default: Compose would leave it empty"
        return m.group(1)

    text = re.sub(r"\$\$|\$\{\w+(?::-([^}]*))?\}", sub, COMPOSE.read_text())
    return dict(yaml.safe_load(text))


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
    per_region = {
        f"{kind}{r}" for r in REGIONS for kind in ("kafka-", "kafka-init-", "postgres-", "")
    } | {f"{r}-{n}" for r in REGIONS for n in NODES}
    assert set(services) == per_region | {"workload", "prometheus", "grafana"}
    assert not any("zookeeper" in n for n in services)
    for r in REGIONS:
        kafka = services[f"kafka-{r}"]
        assert kafka["image"].startswith("apache/kafka:")
        assert "controller" in kafka["environment"]["KAFKA_PROCESS_ROLES"]  # KRaft
        assert services[f"postgres-{r}"]["image"].startswith("postgres:")
        # the load balancer is named after the region: the region's address
        assert services[r]["image"].startswith("haproxy:")
        assert set(nodes_of(services, r)) == {f"{r}-{n}" for n in NODES}
    assert set(brokers(services)) == {f"kafka-{r}" for r in REGIONS}
    assert services["prometheus"]["image"].startswith("prom/prometheus:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    assert services["workload"]["command"][0] == "workload"
    dockerfile = (REPO / "Dockerfile").read_text()
    for name, svc in node_services(services).items():
        assert svc["build"] == "." and svc["image"] == services["workload"]["image"], name
    assert 'ENTRYPOINT ["globaltables"]' in dockerfile
    for src in re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.MULTILINE):
        assert (REPO / src).exists(), f"Dockerfile copies missing {src}"


def test_nodes_use_only_flags_and_variables_the_cli_reads(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = command("region")
    known_flags, known_env = options(region), envvars(region)
    inits = {n for n, s in services.items() if s["image"].startswith("apache/kafka:")} - set(
        brokers(services)
    )
    assert len(inits) == len(REGIONS)
    for name, svc in node_services(services).items():
        args = svc["command"][1:]
        flags = {a for a in args if a.startswith("-")}
        assert flags <= known_flags, f"{name}: unknown flags {flags - known_flags}"
        env = svc["environment"]
        ours = {k for k in env if k.startswith("GLOBALTABLES_")}
        assert ours <= known_env, f"{name}: variables the CLI does not read: {ours - known_env}"

        params = parse(region, args, env, monkeypatch)
        r = params["name"]
        assert r in REGIONS
        assert name == f"{r}-{params['node_id']}" and svc["hostname"] == name
        # a node listens on its region's port, which only the load balancer publishes
        port = container_port(services[r])
        assert params["host"] == "0.0.0.0" and params["port"] == port
        assert not svc.get("ports"), f"{name} is reached through its load balancer only"
        assert f":{port}/healthz" in " ".join(svc["healthcheck"]["test"])
        # the peers are the other regions' load balancers
        peers = dict(parse_peer(p) for p in params["peers"])
        assert peers == {p: f"http://{p}:{container_port(services[p])}" for p in REGIONS if p != r}
        # its own Kafka principal, which every broker's kafka-init creates before it starts
        assert params["kafka_username"] == f"region-{r}"
        assert params["kafka_password"] and params["kafka_security_protocol"] is None
        assert not params["kafka_insecure_plaintext"]
        for init in inits:
            assert svc["depends_on"][init]["condition"] == "service_completed_successfully"


def test_every_region_has_two_nodes_on_one_store_of_its_own(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = command("region")
    stores: dict[str, str] = {}
    for r in REGIONS:
        nodes = {
            n: parse(region, s["command"][1:], s["environment"], monkeypatch)
            for n, s in nodes_of(services, r).items()
        }
        ids = sorted(validate_node_id(p["node_id"]) for p in nodes.values())
        assert ids == sorted(NODES), f"{r}: two nodes, each with its own id"
        (store_url,) = {p["store_url"] for p in nodes.values()}
        store = urlsplit(store_url)
        assert store.scheme == "postgresql", "several nodes share a PostgreSQL store only"
        pg = services[str(store.hostname)]
        assert pg["image"].startswith("postgres:")
        pg_env = pg["environment"]
        assert (store.username, store.password, store.path.lstrip("/")) == (
            pg_env["POSTGRES_USER"],
            pg_env["POSTGRES_PASSWORD"],
            pg_env["POSTGRES_DB"],
        )
        for n in nodes:
            assert services[n]["depends_on"][store.hostname]["condition"] == "service_healthy"
        stores[r] = str(store.hostname)
    assert len(set(stores.values())) == len(REGIONS), "each region has a database of its own"


def test_each_load_balancer_sends_to_exactly_its_regions_nodes(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = command("region")
    for r in REGIONS:
        lb = services[r]
        port = container_port(lb)
        cfg = haproxy_config(lb)
        assert cfg.binds == [port]
        nodes = {
            n: parse(region, s["command"][1:], s["environment"], monkeypatch)
            for n, s in nodes_of(services, r).items()
        }
        assert sorted((host, p) for _, host, p, _ in cfg.servers) == sorted(
            (n, params["port"]) for n, params in nodes.items()
        ), f"{r}: the load balancer lists exactly the region's nodes"
        assert len({s[0] for s in cfg.servers}) == len(cfg.servers)
        # only nodes whose /healthz answers 200 get requests
        assert all(checked for *_, checked in cfg.servers)
        assert cfg.httpchk == "GET /healthz" and cfg.expect == "status 200"
        assert set(lb["depends_on"]) == set(nodes)
        assert f"http://127.0.0.1:{port}/healthz" in " ".join(lb["healthcheck"]["test"])


def test_each_region_publishes_to_its_broker_and_reads_each_peer_from_the_peers(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    region = command("region")
    kafkas = brokers(services)
    client = {n: advertised(b, "CLIENT") for n, b in kafkas.items()}
    for name, b in kafkas.items():
        env = b["environment"]
        # a cluster of its own: its own controller quorum and cluster id
        assert client[name] == f"{name}:9092"
        assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@{name}:9093"
    assert len({b["environment"]["CLUSTER_ID"] for b in kafkas.values()}) == len(REGIONS)

    for name, svc in node_services(services).items():
        params = parse(region, svc["command"][1:], svc["environment"], monkeypatch)
        r = params["name"]
        assert params["kafka"] == client[f"kafka-{r}"], f"{name} publishes to its own broker"
        peer_kafka = dict(parse_peer_kafka(spec) for spec in params["peer_kafka"])
        assert peer_kafka == {p: client[f"kafka-{p}"] for p in REGIONS if p != r}
        # as the region itself resolves it: one consumer per peer's broker, each reading
        # that peer's topic only, and none on its own broker
        security = KafkaSecurity(
            protocol="SASL_PLAINTEXT",
            username=params["kafka_username"],
            password=params["kafka_password"],
        )
        bootstraps, peer_security = peer_kafka_settings(params["peer_kafka"], {}, security)
        settings = RegionSettings(
            name=r,
            store_url=params["store_url"],
            kafka=params["kafka"],
            kafka_security=security,
            peers=dict(parse_peer(p) for p in params["peers"]),
            peer_kafka=bootstraps,
            peer_kafka_security=peer_security,
            node_id=params["node_id"],
        )
        clusters = source_clusters(settings, sorted(settings.peers))
        assert {c.bootstrap: c.sources for c in clusters} == {
            client[f"kafka-{p}"]: (p,) for p in REGIONS if p != r
        }


def test_kafka_requires_authentication_on_every_broker(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, broker in brokers(services).items():
        env = broker["environment"]
        protocols = dict(
            p.split(":") for p in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
        )
        assert set(protocols.values()) == {"SASL_PLAINTEXT"}, f"{name}: a listener without auth"
        assert env["KAFKA_LISTENER_NAME_CLIENT_SASL_ENABLED_MECHANISMS"] == "SCRAM-SHA-512"
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == (
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        )
        assert str(env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"]) == "false"
        assert env["KAFKA_SUPER_USERS"] == "User:admin"
        init = services[name.replace("kafka-", "kafka-init-", 1)]
        assert init["depends_on"] == {name: {"condition": "service_healthy"}}


def test_each_brokers_init_grants_exactly_what_the_regions_do_there(tmp_path: Path) -> None:
    """Runs each kafka-init-<region> script with bash, Kafka's two tools replaced by
    stubs that record their arguments: the users and ACLs each broker gets."""
    spec = compose_interpolated()
    services: dict[str, dict[str, Any]] = spec["services"]
    stubs = tmp_path / "bin"
    stubs.mkdir()
    for tool in ("kafka-configs.sh", "kafka-acls.sh"):
        stub = stubs / tool
        stub.write_text(
            f"#!{sys.executable}\nimport json, os, sys\n"
            "with open(os.environ['CALLS'], 'a') as f:\n"
            "    f.write(json.dumps(sys.argv) + '\\n')\n"
        )
        stub.chmod(0o755)
    passwords = {
        r: s["environment"]["GLOBALTABLES_KAFKA_PASSWORD"]
        for r in REGIONS
        for s in nodes_of(services, r).values()
    }
    for owner in REGIONS:
        broker = services[f"kafka-{owner}"]
        init = services[f"kafka-init-{owner}"]
        assert init["entrypoint"] == ["/bin/bash", "-ec"]
        script = init["command"][0]
        properties = tmp_path / f"{owner}.properties"
        for path, replacement in (
            ("/opt/kafka/bin/", f"{stubs}/"),
            ("/tmp/admin.properties", str(properties)),
        ):
            assert path in script
            script = script.replace(path, replacement)
        calls_file = tmp_path / f"{owner}.calls"
        env = {k: str(v) for k, v in init["environment"].items()}
        run = subprocess.run(
            ["/bin/bash", "-ec", script],
            env={**env, "CALLS": str(calls_file), "PATH": os.environ["PATH"]},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, run.stderr
        # the admin it logs in as is the broker's own
        admin_password = broker["environment"]["GLOBALTABLES_KAFKA_ADMIN_PASSWORD"]
        assert f'username="admin" password="{admin_password}";' in properties.read_text()
        assert (
            f'user_admin="{admin_password}"'
            in broker["environment"]["KAFKA_LISTENER_NAME_INTERNAL_PLAIN_SASL_JAAS_CONFIG"]
        )

        users: dict[str, str] = {}
        acls: set[tuple[str, str, str, str, str]] = set()
        for line in calls_file.read_text().splitlines():
            tool, *args = json.loads(line)
            opts: dict[str, list[str]] = {}
            for flag, value in zip(args, [*args[1:], ""], strict=True):
                if flag.startswith("--"):
                    opts.setdefault(flag, []).append(value)
            # on this broker's internal listener, as the admin
            assert opts["--bootstrap-server"] == [advertised(broker, "INTERNAL")]
            assert opts["--command-config"] == [str(properties)]
            if Path(tool).name == "kafka-configs.sh":
                (user,) = opts["--entity-name"]
                (config,) = opts["--add-config"]
                m = re.fullmatch(r"SCRAM-SHA-512=\[iterations=\d+,password=(.+)\]", config)
                assert m, config
                users[user] = m.group(1)
                continue
            (principal,) = opts["--allow-principal"]
            kind = "topic" if "--topic" in opts else "group"
            (resource,) = opts[f"--{kind}"]
            pattern = opts.get("--resource-pattern-type", ["literal"])[0]
            for op in opts["--operation"]:
                acls.add((principal, kind, resource, pattern, op))

        # every region logs in here with the one password it has
        assert users == {f"region-{r}": passwords[r] for r in REGIONS}
        topic = change_topic(owner)
        expected = {
            (f"User:region-{owner}", "topic", topic, "literal", op)
            for op in ("Write", "Describe", "Create")
        }
        for reader in REGIONS:
            if reader != owner:
                expected |= {
                    (f"User:region-{reader}", "topic", topic, "literal", op)
                    for op in ("Read", "Describe", "Create")
                }
                expected.add(
                    (f"User:region-{reader}", "group", apply_group(reader), "literal", "Read")
                )
        assert acls == expected, f"kafka-{owner}: {acls ^ expected}"


def test_the_workload_writes_in_every_region_through_its_load_balancer(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    workload = command("workload")
    svc = services["workload"]
    args = [str(a) for a in svc["command"][1:]]
    assert {a for a in args if a.startswith("-")} <= options(workload)
    params = parse(workload, args, svc.get("environment", {}), monkeypatch)
    endpoints = dict(parse_peer(e) for e in params["endpoints"])
    assert endpoints == {r: f"http://{r}:{container_port(services[r])}" for r in REGIONS}
    assert all(services[r]["image"].startswith("haproxy:") for r in endpoints)
    assert params["conflict_every"] > 0
    assert svc["depends_on"] == {r: {"condition": "service_healthy"} for r in REGIONS}


def test_prometheus_scrapes_every_node(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    (mount,) = services["prometheus"]["volumes"]
    src, dest = mount.split(":")[:2]
    assert dest == "/etc/prometheus/prometheus.yml"
    config = yaml.safe_load((REPO / src).read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = {
        t: (sc["labels"]["region"], sc["labels"]["node"])
        for sc in job["static_configs"]
        for t in sc["targets"]
    }
    region = command("region")
    expected = {}
    for name, svc in node_services(services).items():
        params = parse(region, svc["command"][1:], svc["environment"], monkeypatch)
        expected[f"{name}:{params['port']}"] = (params["name"], params["node_id"])
    # the nodes themselves (each counts what it served), not the load balancers
    assert targets == expected
    assert set(services["prometheus"]["depends_on"]) == set(node_services(services))


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
    for r in REGIONS:
        kafka = services[f"kafka-{r}"]
        data_dir = kafka["environment"]["KAFKA_LOG_DIRS"]
        assert kafka["volumes"] == [f"kafka-{r}:{data_dir}"]
        (volume,) = services[f"postgres-{r}"]["volumes"]
        name, path = volume.split(":")
        assert path == "/var/lib/postgresql/data" and name == f"postgres-{r}"
    # the nodes keep nothing of their own: the region's state is its PostgreSQL's
    for name, svc in node_services(services).items():
        assert not svc.get("volumes"), name


def test_every_port_is_published_on_localhost_only(services: dict[str, dict[str, Any]]) -> None:
    # the comment block the file starts with
    header = "\n".join(
        itertools.takewhile(lambda line: line.startswith("#"), COMPOSE.read_text().splitlines())
    )
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
    assert set(kafkas) == {f"{kind}-{r}" for r in REGIONS for kind in ("kafka", "kafka-init")}
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
