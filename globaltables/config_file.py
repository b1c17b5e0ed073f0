"""``globaltables region --config FILE``: the region's secrets in a file instead of the
environment (docs/security.md).

TOML (or JSON, for a name ending in ``.json``), flat::

    admin_access_key_id = "AKIAADMIN0000EXAMPLE"
    admin_secret_access_key = "..."
    secret_key = "..."            # encrypts stored access keys; the same in every region
    replication_keys = "new,old"  # sign/verify change records on Kafka; default: secret_key
    kafka_username = "region-us-east-1"   # the region's Kafka principal (`kafka grant`)
    kafka_password = "..."
    kafka_security_protocol = "SASL_PLAINTEXT"   # also SASL_SSL, SSL, PLAINTEXT
    kafka_sasl_mechanism = "SCRAM-SHA-512"       # also SCRAM-SHA-256, PLAIN
    kafka_ca_file = "/etc/ssl/kafka-ca.pem"      # TLS (SSL, SASL_SSL)

    # each peer's own Kafka cluster (--peer-kafka), docs/regions.md "Each region its own Kafka"
    [peer_kafka]
    eu-west-1 = "kafka.eu-west-1.internal:9092"  # the same credentials as above
    [peer_kafka.ap-southeast-2]                  # its own credentials on that cluster
    bootstrap = "kafka.ap-southeast-2.internal:9092"
    kafka_username = "region-us-east-1"
    kafka_password = "..."

    # backups, PITR snapshots and exports in an S3-compatible service (docs/regions.md)
    [s3]
    endpoint_url = "http://s3.internal:8333"   # leave out for AWS S3
    region = "us-east-1"
    bucket = "globaltables-us-east-1"          # the default: globaltables-<region>
    access_key_id = "..."
    secret_access_key = "..."
    session_token = "..."                      # temporary credentials only

(``peer_kafka = "eu-west-1=HOST:PORT ap-southeast-2=HOST:PORT"``, as the variable
takes it, works too.)  A peer's table may leave out ``bootstrap`` when
``--peer-kafka`` gives it; the ``kafka_*`` keys it leaves out are this region's.

A value given on the command line or in the environment wins over the file.
"""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from regions.kafka_security import KafkaSecurity
from regions.settings import parse_peer_kafka

__all__ = [
    "KEYS",
    "PEER_KAFKA_KEYS",
    "Config",
    "ConfigError",
    "PeerKafka",
    "load_config",
    "peer_kafka_settings",
    "read_config",
]

KEYS = (
    "admin_access_key_id",
    "admin_secret_access_key",
    "secret_key",
    "replication_keys",
    "kafka_username",
    "kafka_password",
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_ca_file",
    "peer_kafka",
    "s3",
)
#: what a peer's ``peer_kafka`` table may hold: its cluster and this region's
#: credentials there (each key as the region's own ``kafka_*`` key)
PEER_KAFKA_KEYS = (
    "bootstrap",
    "kafka_username",
    "kafka_password",
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "kafka_ca_file",
)


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class PeerKafka:
    """A peer's ``peer_kafka`` entry: the cluster that holds its change topic (None:
    ``--peer-kafka`` gives it) and the ``kafka_*`` keys that differ there."""

    bootstrap: str | None = None
    security: dict[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Config:
    """A config file: the flat settings (``KEYS`` but ``peer_kafka``), the peers'
    clusters, and warnings about the file."""

    values: dict[str, str]
    peer_kafka: dict[str, PeerKafka]
    warnings: list[str]
    #: the ``[s3]`` table (regions/s3_settings.py, ``S3_CONFIG_KEYS``)
    s3: dict[str, str] = field(default_factory=dict)


def load_config(path: Path) -> tuple[dict[str, str], list[str]]:
    """(settings, warnings) of a config file; raises ConfigError if it is unusable.
    ``peer_kafka`` is left out: :func:`read_config` has it."""
    config = read_config(path)
    return config.values, config.warnings


def read_config(path: Path) -> Config:
    """The whole config file; raises ConfigError if it is unusable."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"{path} is not valid {'JSON' if path.suffix == '.json' else 'TOML'}: {exc}"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a table of settings")
    unknown = sorted(set(data) - set(KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown settings {', '.join(unknown)} (known: {', '.join(KEYS)})"
        )
    peers = _peer_kafka(path, data.pop("peer_kafka", {}))
    s3 = _s3(path, data.pop("s3", {}))
    bad = sorted(k for k, v in data.items() if not isinstance(v, str))
    if bad:
        raise ConfigError(f"{path}: {', '.join(bad)} must be strings")
    warnings = []
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"{path} holds secrets but other users may read it (chmod 600 {path})")
    return Config(dict(data), peers, warnings, s3)


def _s3(path: Path, value: Any) -> dict[str, str]:
    """The ``[s3]`` table: strings, keys of ``S3_CONFIG_KEYS``."""
    from regions.s3_settings import S3_CONFIG_KEYS

    if not isinstance(value, dict):
        raise ConfigError(f"{path}: s3 must be a table ([s3])")
    unknown = sorted(set(value) - set(S3_CONFIG_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: s3: unknown settings {', '.join(unknown)} "
            f"(known: {', '.join(S3_CONFIG_KEYS)})"
        )
    bad = sorted(k for k, v in value.items() if not isinstance(v, str))
    if bad:
        raise ConfigError(f"{path}: s3: {', '.join(bad)} must be strings")
    return dict(value)


def _peer_kafka(path: Path, value: Any) -> dict[str, PeerKafka]:
    """``peer_kafka`` as ``"NAME=BOOTSTRAP ..."`` or as a table of NAME = BOOTSTRAP or
    NAME = {bootstrap, kafka_*}."""
    where = f"{path}: peer_kafka"
    if isinstance(value, str):
        try:
            pairs = [parse_peer_kafka(spec) for spec in value.split()]
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return {name: PeerKafka(bootstrap) for name, bootstrap in pairs}
    if not isinstance(value, dict):
        raise ConfigError(f'{where} must be a table of NAME = "HOST:PORT" (or a string)')
    out: dict[str, PeerKafka] = {}
    for name, entry in value.items():
        if isinstance(entry, str):
            entry = {"bootstrap": entry}
        if not isinstance(entry, dict):
            raise ConfigError(f'{where}.{name} must be "HOST:PORT" or a table')
        unknown = sorted(set(entry) - set(PEER_KAFKA_KEYS))
        if unknown:
            raise ConfigError(
                f"{where}.{name}: unknown settings {', '.join(unknown)} "
                f"(known: {', '.join(PEER_KAFKA_KEYS)})"
            )
        bad = sorted(k for k, v in entry.items() if not isinstance(v, str))
        if bad:
            raise ConfigError(f"{where}.{name}: {', '.join(bad)} must be strings")
        bootstrap = entry.pop("bootstrap", None)
        if bootstrap is not None:
            try:
                name, bootstrap = parse_peer_kafka(f"{name}={bootstrap}")
            except ValueError as exc:
                raise ConfigError(f"{where}.{name}: {exc}") from None
        out[name] = PeerKafka(bootstrap, dict(entry))
    return out


def peer_kafka_settings(
    options: Sequence[str], file: Mapping[str, PeerKafka], base: KafkaSecurity
) -> tuple[dict[str, str], dict[str, KafkaSecurity]]:
    """(peer -> its cluster's bootstrap servers, peer -> this region's credentials
    there where they differ from ``base``), from ``--peer-kafka`` /
    ``GLOBALTABLES_PEER_KAFKA`` (``options``, which win) and the file's ``peer_kafka``.

    A peer's credentials are ``base`` (the region's own ``--kafka`` ones) with the
    keys its table gives replaced; a username on a cluster reached without SASL
    switches to SASL_PLAINTEXT (SASL_SSL over TLS).  Raises ValueError."""
    bootstraps = {n: e.bootstrap for n, e in file.items() if e.bootstrap is not None}
    bootstraps |= dict(parse_peer_kafka(spec) for spec in options)
    security: dict[str, KafkaSecurity] = {}
    for name, entry in file.items():
        if not entry.security:
            continue
        if name not in bootstraps:
            raise ConfigError(
                f"peer_kafka.{name} gives credentials but no bootstrap (add bootstrap = "
                f'"HOST:PORT", or --peer-kafka {name}=HOST:PORT)'
            )
        security[name] = _peer_security(name, base, entry.security)
    return bootstraps, security


def _peer_security(name: str, base: KafkaSecurity, given: Mapping[str, str]) -> KafkaSecurity:
    protocol = given.get("kafka_security_protocol")
    if protocol is None:
        protocol = base.protocol
        if "kafka_username" in given and not base.sasl:
            protocol = "SASL_SSL" if base.tls else "SASL_PLAINTEXT"
    sasl = protocol.startswith("SASL_")
    tls = protocol in ("SSL", "SASL_SSL")
    ca_file = given.get("kafka_ca_file", base.ca_file) if tls else None
    if ca_file is not None and not Path(ca_file).is_file():
        raise ConfigError(f"peer_kafka.{name}: no such kafka_ca_file: {ca_file}")
    try:
        return KafkaSecurity(
            protocol=protocol,
            mechanism=given.get("kafka_sasl_mechanism", base.mechanism),
            username=given.get("kafka_username", base.username) if sasl else None,
            password=given.get("kafka_password", base.password) if sasl else None,
            ca_file=ca_file,
        )
    except ValueError as exc:
        raise ConfigError(f"peer_kafka.{name}: {exc}") from None
