"""How a region (or any globaltables tool) authenticates to Kafka (docs/security.md,
"Kafka: authentication and ACLs").

``globaltables kafka start`` runs the broker with SASL/SCRAM-SHA-512 and ACLs, so a
client needs a principal: ``region-<name>`` made by ``globaltables kafka grant``, or the
broker's admin. Running without credentials is an explicit choice (``insecure``).

The password stays out of ``repr`` so that logging a settings object never prints it.
The object is plain data (it is pickled to a region's worker processes); the TLS
context is built only when a client is made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["MECHANISMS", "PROTOCOLS", "KafkaSecurity"]

PROTOCOLS = ("SASL_PLAINTEXT", "SASL_SSL", "SSL", "PLAINTEXT")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    #: PLAINTEXT, SASL_PLAINTEXT, SASL_SSL or SSL (aiokafka's security_protocol)
    protocol: str = "PLAINTEXT"
    #: the SASL mechanism of the SASL_* protocols
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    #: CA bundle (PEM) that signs the brokers' certificates (SSL, SASL_SSL); None: the
    #: system's default trust store
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(
                f"Kafka security protocol must be one of {', '.join(PROTOCOLS)}: {self.protocol!r}"
            )
        if self.mechanism not in MECHANISMS:
            raise ValueError(
                f"Kafka SASL mechanism must be one of {', '.join(MECHANISMS)}: {self.mechanism!r}"
            )
        if (self.username is None) != (self.password is None):
            raise ValueError("Kafka credentials need both a username and a password")
        if self.username is not None and not self.username.strip():
            raise ValueError("the Kafka username cannot be empty")
        if self.password is not None and not self.password:
            raise ValueError("the Kafka password cannot be empty")
        if self.sasl and self.username is None:
            raise ValueError(f"{self.protocol} needs a Kafka username and password")
        if not self.sasl and self.username is not None:
            raise ValueError(
                f"a Kafka username needs a SASL protocol (SASL_PLAINTEXT or SASL_SSL), "
                f"not {self.protocol}"
            )
        if self.ca_file is not None and not self.tls:
            raise ValueError(
                f"a CA file needs a TLS protocol (SSL or SASL_SSL), not {self.protocol}"
            )

    @classmethod
    def insecure(cls) -> KafkaSecurity:
        """Plaintext and unauthenticated: for a broker run with ``--insecure-plaintext``."""
        return cls()

    @classmethod
    def sasl_scram(
        cls, username: str, password: str, *, mechanism: str = "SCRAM-SHA-512"
    ) -> KafkaSecurity:
        return cls(
            protocol="SASL_PLAINTEXT", mechanism=mechanism, username=username, password=password
        )

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    def describe(self) -> str:
        """For logs: protocol, mechanism and user, never the password."""
        if self.sasl:
            return f"{self.protocol} {self.mechanism} as {self.username}"
        return self.protocol

    def client_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of aiokafka's producer, consumer and admin client."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.sasl:
            kwargs |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.tls:
            from aiokafka.helpers import create_ssl_context

            kwargs["ssl_context"] = create_ssl_context(cafile=self.ca_file)
        return kwargs

    def env(self) -> dict[str, str]:
        """The ``globaltables region`` variables that select these credentials."""
        if not self.sasl and not self.tls:
            return {"GLOBALTABLES_KAFKA_INSECURE_PLAINTEXT": "1"}
        out = {"GLOBALTABLES_KAFKA_SECURITY_PROTOCOL": self.protocol}
        if self.sasl:
            assert self.username is not None and self.password is not None
            out |= {
                "GLOBALTABLES_KAFKA_SASL_MECHANISM": self.mechanism,
                "GLOBALTABLES_KAFKA_USERNAME": self.username,
                "GLOBALTABLES_KAFKA_PASSWORD": self.password,
            }
        if self.ca_file is not None:
            out["GLOBALTABLES_KAFKA_CA_FILE"] = self.ca_file
        return out
