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

A value given on the command line or in the environment wins over the file.
"""

from __future__ import annotations

import json
import stat
import tomllib
from pathlib import Path

__all__ = ["KEYS", "ConfigError", "load_config"]

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
)


class ConfigError(ValueError):
    pass


def load_config(path: Path) -> tuple[dict[str, str], list[str]]:
    """(settings, warnings) of a config file; raises ConfigError if it is unusable."""
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
    bad = sorted(k for k, v in data.items() if not isinstance(v, str))
    if bad:
        raise ConfigError(f"{path}: {', '.join(bad)} must be strings")
    warnings = []
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        warnings.append(f"{path} holds secrets but other users may read it (chmod 600 {path})")
    return dict(data), warnings
