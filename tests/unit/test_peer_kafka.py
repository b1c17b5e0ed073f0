"""``--peer-kafka NAME=BOOTSTRAP``: each region's change topic on its own cluster.

What is read where (settings, config file, the applier's grouping by cluster) and what
is refused; the end-to-end behaviour (three brokers, one stopped under load) is
tests/integration/replication/test_kafka_per_region.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from globaltables.cli import main
from globaltables.config_file import ConfigError, peer_kafka_settings, read_config
from regions.kafka_security import KafkaSecurity
from regions.settings import RegionSettings, parse_peer_kafka
from replicator.kafka import cluster_key, source_clusters

PEERS = {"eu-west-1": "http://127.0.0.1:8001", "ap-southeast-2": "http://127.0.0.1:8002"}
OWN = KafkaSecurity.sasl_scram("region-us-east-1", "own-password")


def _settings(**kw: object) -> RegionSettings:
    base: dict[str, object] = {
        "name": "us-east-1",
        "store_url": "sqlite:///unused.db",
        "kafka": "kafka-a:9092",
        "kafka_security": OWN,
        "peers": PEERS,
    }
    return RegionSettings(**(base | kw))  # type: ignore[arg-type]


def test_parse_peer_kafka() -> None:
    assert parse_peer_kafka(" eu-west-1 = k1:9092,k2:9093 ") == ("eu-west-1", "k1:9092,k2:9093")
    assert parse_peer_kafka("eu-west-1=[::1]:9092") == ("eu-west-1", "[::1]:9092")
    for bad in ("eu-west-1", "=k:9092", "eu-west-1=k", "eu-west-1=http://k:9092", "e=k:9092,"):
        with pytest.raises(ValueError, match="NAME=HOST:PORT"):
            parse_peer_kafka(bad)


def test_settings_refuse_what_cannot_be_read() -> None:
    with pytest.raises(ValueError, match="needs this region's own --kafka"):
        _settings(kafka=None, peer_kafka={"eu-west-1": "kafka-b:9092"})
    with pytest.raises(ValueError, match="not a --peer"):
        _settings(peer_kafka={"sa-east-1": "kafka-b:9092"})
    with pytest.raises(ValueError, match="its own cluster is --kafka"):
        _settings(peer_kafka={"us-east-1": "kafka-b:9092"})
    with pytest.raises(ValueError, match="without its --peer-kafka"):
        _settings(peer_kafka_security={"eu-west-1": OWN})
    s = _settings(peer_kafka={"eu-west-1": "kafka-b:9092"})
    assert s.kafka_of("eu-west-1") == ("kafka-b:9092", OWN)  # same credentials by default
    assert s.kafka_of("ap-southeast-2") == ("kafka-a:9092", OWN)  # not named: --kafka


def test_sources_are_grouped_by_cluster_own_first() -> None:
    # today's default: one cluster, one consumer for every source
    [only] = source_clusters(_settings(), ["eu-west-1", "ap-southeast-2"])
    assert (only.bootstrap, only.sources) == ("kafka-a:9092", ("ap-southeast-2", "eu-west-1"))
    other = KafkaSecurity.sasl_scram("region-us-east-1", "on-c")
    s = _settings(
        peer_kafka={"eu-west-1": "kafka-c:9092", "ap-southeast-2": "kafka-b:9092"},
        peer_kafka_security={"eu-west-1": other},
    )
    clusters = source_clusters(s, ["eu-west-1", "ap-southeast-2"])
    assert [(c.bootstrap, c.sources, c.security) for c in clusters] == [
        ("kafka-b:9092", ("ap-southeast-2",), OWN),
        ("kafka-c:9092", ("eu-west-1",), other),
    ]
    # one peer on this region's cluster (spelled otherwise), one elsewhere: own first
    s = _settings(
        kafka="a2:9092,kafka-a:9092",
        peer_kafka={"eu-west-1": "kafka-a:9092, a2:9092", "ap-southeast-2": "kafka-b:9092"},
    )
    clusters = source_clusters(s, ["eu-west-1", "ap-southeast-2"])
    assert [c.sources for c in clusters] == [("eu-west-1",), ("ap-southeast-2",)]
    assert cluster_key("b:1, a:2") == cluster_key("a:2,b:1")
    # one cluster, two sets of credentials: one consumer cannot log in twice
    s = _settings(
        peer_kafka={"eu-west-1": "kafka-b:9092", "ap-southeast-2": "kafka-b:9092"},
        peer_kafka_security={"eu-west-1": other},
    )
    with pytest.raises(ValueError, match="two sets of credentials"):
        source_clusters(s, ["eu-west-1", "ap-southeast-2"])


def _config(tmp_path: Path, text: str, name: str = "r.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_config_file_peer_kafka_tables_and_string(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        'secret_key = "s"\n'
        "[peer_kafka]\n"
        'eu-west-1 = "kafka-b:9092"\n'
        "[peer_kafka.ap-southeast-2]\n"
        'bootstrap = "kafka-c:9092"\n'
        'kafka_password = "on-c"\n',
    )
    read = read_config(path)
    assert read.values == {"secret_key": "s"} and read.warnings == []
    bootstraps, security = peer_kafka_settings((), read.peer_kafka, OWN)
    assert bootstraps == {"eu-west-1": "kafka-b:9092", "ap-southeast-2": "kafka-c:9092"}
    # only what the table gives differs from the region's own credentials
    assert security == {"ap-southeast-2": KafkaSecurity.sasl_scram("region-us-east-1", "on-c")}
    # the command line (or GLOBALTABLES_PEER_KAFKA) wins over the file's bootstrap
    bootstraps, _ = peer_kafka_settings(("eu-west-1=kafka-x:9092",), read.peer_kafka, OWN)
    assert bootstraps["eu-west-1"] == "kafka-x:9092"
    as_string = _config(tmp_path, 'peer_kafka = "eu-west-1=kafka-b:9092 ap-southeast-2=c:1"\n')
    bootstraps, security = peer_kafka_settings((), read_config(as_string).peer_kafka, OWN)
    assert bootstraps == {"eu-west-1": "kafka-b:9092", "ap-southeast-2": "c:1"} and not security
    as_json = _config(tmp_path, '{"peer_kafka": {"eu-west-1": "kafka-b:9092"}}', "r.json")
    assert read_config(as_json).peer_kafka["eu-west-1"].bootstrap == "kafka-b:9092"


def test_peer_credentials_on_a_cluster_reached_otherwise(tmp_path: Path) -> None:
    path = _config(
        tmp_path,
        "[peer_kafka.eu-west-1]\n"
        'kafka_username = "region-us-east-1"\nkafka_password = "pw-on-b"\n',
    )
    entries = read_config(path).peer_kafka
    # this region talks plaintext to its own broker; a username there means SASL
    _, security = peer_kafka_settings(("eu-west-1=kafka-b:9092",), entries, KafkaSecurity())
    assert security["eu-west-1"].protocol == "SASL_PLAINTEXT"
    assert security["eu-west-1"].username == "region-us-east-1"
    # credentials and no bootstrap anywhere: refused, not silently ignored
    with pytest.raises(ConfigError, match="no bootstrap"):
        peer_kafka_settings((), entries, OWN)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("peer_kafka = 3", "must be a table"),
        ('[peer_kafka]\neu-west-1 = "not-a-bootstrap"', "NAME=HOST:PORT"),
        ('peer_kafka = "eu-west-1"', "NAME=HOST:PORT"),
        ('[peer_kafka.eu-west-1]\nbootstrap = "b:1"\nkafka_user = "x"', "unknown settings kafka_user"),
        ("[peer_kafka.eu-west-1]\nbootstrap = 9092", "must be strings"),
        ('[peer_kafka.eu-west-1]\nbootstrap = "b:1"\nkafka_security_protocol = "SSL"\n'
         'kafka_ca_file = "/no/such/ca.pem"', "no such kafka_ca_file"),
        ('[peer_kafka.eu-west-1]\nbootstrap = "b:1"\nkafka_sasl_mechanism = "MD5"', "mechanism"),
    ],
)  # fmt: skip
def test_bad_peer_kafka_entries(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        peer_kafka_settings((), read_config(_config(tmp_path, text)).peer_kafka, OWN)


_KAFKA_VARS = (
    "GLOBALTABLES_KAFKA_SECURITY_PROTOCOL",
    "GLOBALTABLES_KAFKA_SASL_MECHANISM",
    "GLOBALTABLES_KAFKA_USERNAME",
    "GLOBALTABLES_KAFKA_PASSWORD",
    "GLOBALTABLES_KAFKA_CA_FILE",
    "GLOBALTABLES_KAFKA_INSECURE_PLAINTEXT",
)


def test_region_option_and_variable_are_checked(tmp_path: Path) -> None:
    """``--peer-kafka`` and ``GLOBALTABLES_PEER_KAFKA`` (space-separated pairs) reach
    the settings' checks: a usage error, never a traceback or a region that starts."""
    runner = CliRunner()
    base = [
        "region", "--name", "us-east-1", "--store", f"sqlite:///{tmp_path}/r.db",
        "--allow-anonymous", "--kafka", "127.0.0.1:1", "--kafka-insecure-plaintext",
        "--peer", "eu-west-1=http://127.0.0.1:8001",
    ]  # fmt: skip
    env: dict[str, str | None] = {"GLOBALTABLES_SECRET_KEY": "x" * 32, "GLOBALTABLES_PEER_KAFKA": None}
    # the session broker's credentials, which other tests put in the environment as a
    # region's variables, would clash with --kafka-insecure-plaintext
    env |= dict.fromkeys(_KAFKA_VARS)
    out = runner.invoke(main, [*base, "--peer-kafka", "sa-east-1=k:9092"], env=env)
    assert out.exit_code == 2 and "sa-east-1, which is not a --peer" in out.output, out.output
    out = runner.invoke(main, [*base, "--peer-kafka", "eu-west-1"], env=env)
    assert out.exit_code == 2 and "NAME=HOST:PORT" in out.output, out.output
    env["GLOBALTABLES_PEER_KAFKA"] = "eu-west-1=k:9092 ap-southeast-2=k:9093"
    out = runner.invoke(main, base, env=env)
    assert out.exit_code == 2 and "ap-southeast-2, which is not a --peer" in out.output
