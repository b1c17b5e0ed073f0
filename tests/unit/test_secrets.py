"""Secret access keys at rest (regions/secrets.py), the auth settings and the
region's config file."""

from __future__ import annotations

from pathlib import Path

import pytest

from globaltables.config_file import ConfigError, load_config
from regions.auth_settings import AuthSettings
from regions.secrets import SecretBox, SecretUnreadable

KEY = "a-long-enough-secret-key-0123456789"


def test_seal_and_open() -> None:
    box = SecretBox(KEY)
    sealed = box.seal("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "AKIA0")
    assert "wJalr" not in sealed and sealed.startswith("v1:")
    assert SecretBox(KEY).open(sealed, "AKIA0") == "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    # a fresh nonce each time
    assert box.seal("x", "AKIA0") != box.seal("x", "AKIA0")


def test_other_key_other_row_or_tampering_does_not_open() -> None:
    sealed = SecretBox(KEY).seal("s3cret", "AKIA0")
    with pytest.raises(SecretUnreadable):
        SecretBox(KEY + "x").open(sealed, "AKIA0")
    with pytest.raises(SecretUnreadable):
        SecretBox(KEY).open(sealed, "AKIA1")  # copied onto another key's row
    with pytest.raises(SecretUnreadable):
        SecretBox(KEY).open(sealed[:-4] + "AAAA", "AKIA0")
    with pytest.raises(SecretUnreadable):
        SecretBox(KEY).open("v9:" + sealed[3:], "AKIA0")


def test_short_secret_key_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 16"):
        SecretBox("short")
    with pytest.raises(ValueError, match="at least 16"):
        AuthSettings(secret_key="short")


def test_auth_settings_keep_secrets_out_of_repr() -> None:
    auth = AuthSettings("AKIDADMIN", "admin-secret-value", KEY)
    text = repr(auth) + repr(auth.admin) + repr(auth.secret_box())
    assert "AKIDADMIN" in text
    assert "admin-secret-value" not in text and KEY not in text
    with pytest.raises(ValueError, match="both"):
        AuthSettings(admin_access_key_id="AKIDADMIN")
    assert AuthSettings().admin is None and AuthSettings().secret_box() is None


def test_config_file_toml_and_json(tmp_path: Path) -> None:
    toml = tmp_path / "r.toml"
    toml.write_text('admin_access_key_id = "A"\nadmin_secret_access_key = "B"\nsecret_key = "C"\n')
    toml.chmod(0o600)
    assert load_config(toml) == (
        {"admin_access_key_id": "A", "admin_secret_access_key": "B", "secret_key": "C"},
        [],
    )
    js = tmp_path / "r.json"
    js.write_text('{"secret_key": "C"}')
    js.chmod(0o644)
    data, warnings = load_config(js)
    assert data == {"secret_key": "C"}
    assert warnings and "chmod 600" in warnings[0]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("a.toml", 'secret = "x"', "unknown settings secret"),
        ("a.toml", "secret_key = 3", "must be strings"),
        ("a.toml", "= nonsense", "not valid TOML"),
        ("a.json", "[1]", "must hold a table"),
        ("a.json", "{", "not valid JSON"),
    ],
)
def test_bad_config_files(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.toml")
