"""Error texts on the public status routes lose everything past the error's class
(a store error quotes its SQL parameters: item data)."""

from __future__ import annotations

from api.visibility import redact_error, redact_summary


def test_redact_error_keeps_the_part_and_the_class() -> None:
    text = "applier: IntegrityError: (sqlite3.IntegrityError) [parameters: (b'secret-key',)]"
    assert redact_error(text) == "applier: IntegrityError"
    assert redact_error("ReseedUnavailable: peer said k=secret") == "ReseedUnavailable"
    assert redact_error(None) is None
    assert "secret" not in str(redact_error("the secret key leaked"))


def test_redact_summary_reduces_every_error_text() -> None:
    summary = {
        "region": "us-east-1",
        "problems": ["replicator error: publisher: KafkaError: key=secret", "store unreachable"],
        "replication": {
            "last_error": "publisher: KafkaError: key=secret",
            "reseed": {"last_error": "HTTPError: item secret", "state": "idle"},
        },
    }
    out = redact_summary(summary)
    assert "secret" not in repr(out)
    assert out["problems"] == ["replicator error: publisher: KafkaError", "store unreachable"]
    assert out["replication"]["last_error"] == "publisher: KafkaError"
    assert out["replication"]["reseed"] == {"last_error": "HTTPError", "state": "idle"}
    assert summary["replication"]["last_error"].endswith("secret")  # the input is untouched
