"""The replicator's Kafka credentials (regions/kafka_security.py) and the region's options
that make them (docs/security.md, "Kafka: authentication and ACLs")."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
from click.testing import CliRunner

from globaltables.cli import main
from regions.kafka_security import KafkaSecurity
from regions.settings import RegionSettings


def test_the_password_stays_out_of_repr_and_survives_pickling() -> None:
    sec = KafkaSecurity.sasl_scram("region-us-east-1", "s3cret-password")
    settings = RegionSettings(name="us-east-1", store_url="sqlite://", kafka_security=sec)
    assert "s3cret-password" not in repr(settings)
    assert "s3cret-password" not in sec.describe()
    # the worker processes get the settings pickled (globaltables/workers.py)
    assert pickle.loads(pickle.dumps(settings)).kafka_security == sec


def test_client_kwargs() -> None:
    assert KafkaSecurity.insecure().client_kwargs() == {"security_protocol": "PLAINTEXT"}
    assert KafkaSecurity.sasl_scram("u", "p").client_kwargs() == {
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "u",
        "sasl_plain_password": "p",
    }
    tls = KafkaSecurity(protocol="SASL_SSL", username="u", password="p").client_kwargs()
    assert tls["security_protocol"] == "SASL_SSL" and tls["ssl_context"] is not None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"protocol": "SASL_PLAINTEXT"},  # SASL without a user
        {"protocol": "PLAINTEXT", "username": "u", "password": "p"},  # a user without SASL
        {"protocol": "SASL_PLAINTEXT", "username": "u"},  # no password
        {"protocol": "SASL_PLAINTEXT", "username": "u", "password": "p", "ca_file": "x"},
        {"protocol": "TLS"},
        {"protocol": "SASL_SSL", "mechanism": "GSSAPI", "username": "u", "password": "p"},
    ],
)
def test_inconsistent_settings_are_refused(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        KafkaSecurity(**kwargs)  # type: ignore[arg-type]


def _region(args: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int, str]:
    """``globaltables region --kafka ...`` up to the point where it would start serving."""
    clean: dict[str, str | None] = {k: None for k in os.environ if k.startswith("GLOBALTABLES_")}
    result = CliRunner(env={**clean, **env}).invoke(
        main,
        [
            "region",
            "--name",
            "us-east-1",
            "--store",
            f"sqlite:///{tmp_path}/r.db",
            "--allow-anonymous",
            "--kafka",
            "127.0.0.1:1",
            *args,
        ],
    )
    return result.exit_code, result.output


def test_kafka_without_credentials_or_the_insecure_flag_is_a_usage_error(tmp_path: Path) -> None:
    code, out = _region([], {}, tmp_path)
    assert code == 2, out
    assert "--kafka needs credentials" in out and "--kafka-insecure-plaintext" in out


def test_the_insecure_flag_takes_no_credentials(tmp_path: Path) -> None:
    code, out = _region(
        ["--kafka-insecure-plaintext"], {"GLOBALTABLES_KAFKA_USERNAME": "u"}, tmp_path
    )
    assert code == 2 and "takes no Kafka credentials" in out, out
