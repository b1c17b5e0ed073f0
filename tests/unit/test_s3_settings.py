"""Where a region's S3 settings come from (flags > config file [s3] > botocore's
variables), when S3 counts as configured, and which object store a region gets."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from globaltables.config_file import ConfigError, read_config
from regions.protection.database_objects import DatabaseObjects
from regions.protection.directory_objects import DirectoryObjects
from regions.protection.object_store_factory import open_object_store, region_bucket
from regions.protection.s3_objects import S3Objects
from regions.s3_settings import S3Settings, resolve_s3_settings
from regions.settings import RegionSettings
from regions.store import open_store_url

ENV = {
    "AWS_ENDPOINT_URL_S3": "http://env-s3:9000",
    "AWS_ENDPOINT_URL": "http://env-generic:8000",
    "AWS_ACCESS_KEY_ID": "ENVKEY",
    "AWS_SECRET_ACCESS_KEY": "env-secret",
    "AWS_SESSION_TOKEN": "env-token",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-central-1",
}
FILE = {
    "endpoint_url": "http://file-s3:9000",
    "region": "ap-south-1",
    "bucket": "file-bucket",
    "access_key_id": "FILEKEY",
    "secret_access_key": "file-secret",
}


def test_not_configured_without_endpoint_or_bucket() -> None:
    assert resolve_s3_settings(env={}) is None
    # credentials and a region alone do not switch S3 on, nor does the generic
    # endpoint variable (often set for the DynamoDB endpoint of AWS tools)
    env = {k: v for k, v in ENV.items() if k != "AWS_ENDPOINT_URL_S3"}
    assert resolve_s3_settings(env=env) is None
    assert resolve_s3_settings(config={"region": "x-1", "access_key_id": "a"}, env={}) is None


def test_environment_alone() -> None:
    s3 = resolve_s3_settings(env=ENV)
    assert s3 == S3Settings(
        endpoint_url="http://env-s3:9000",
        region="eu-west-1",
        access_key_id="ENVKEY",
        secret_access_key="env-secret",
        session_token="env-token",
    )
    assert s3.bucket_for("us-east-1") == "globaltables-us-east-1"
    default_region = {k: v for k, v in ENV.items() if k != "AWS_REGION"}
    assert resolve_s3_settings(env=default_region).region == "eu-central-1"  # type: ignore[union-attr]
    bare = resolve_s3_settings(env={"AWS_ENDPOINT_URL_S3": "http://s3:1/"})
    assert bare is not None
    assert bare.endpoint_url == "http://s3:1" and bare.region == "us-east-1"
    assert bare.access_key_id is None and bare.secret_access_key is None


def test_config_file_over_environment() -> None:
    s3 = resolve_s3_settings(config=FILE, env=ENV)
    assert s3 is not None
    assert s3.endpoint_url == "http://file-s3:9000"
    assert s3.region == "ap-south-1"
    assert s3.bucket == "file-bucket"
    # the key pair from one place: the file's, and no token from the environment
    assert (s3.access_key_id, s3.secret_access_key, s3.session_token) == (
        "FILEKEY",
        "file-secret",
        None,
    )


def test_flags_over_config_file() -> None:
    s3 = resolve_s3_settings(
        endpoint_url="http://flag-s3:1234",
        region="sa-east-1",
        bucket="flag-bucket",
        config=FILE,
        env=ENV,
    )
    assert s3 is not None
    assert (s3.endpoint_url, s3.region, s3.bucket) == (
        "http://flag-s3:1234",
        "sa-east-1",
        "flag-bucket",
    )
    assert s3.access_key_id == "FILEKEY"  # credentials never come from flags


def test_bucket_alone_means_aws_or_generic_endpoint() -> None:
    s3 = resolve_s3_settings(bucket="my-backups", env={"AWS_REGION": "us-west-2"})
    assert s3 is not None
    assert s3.endpoint_url is None and s3.region == "us-west-2"
    assert s3.bucket_for("eu-west-1") == "my-backups"
    # with a bucket given, botocore's generic endpoint applies as it would in boto3
    generic = resolve_s3_settings(bucket="b-1", env={"AWS_ENDPOINT_URL": "http://gen:1"})
    assert generic is not None and generic.endpoint_url == "http://gen:1"


def test_secrets_stay_out_of_repr_and_description() -> None:
    s3 = resolve_s3_settings(env=ENV)
    assert s3 is not None
    for text in (repr(s3), s3.describe(), repr(S3Objects(s3)), S3Objects(s3).description):
        assert "env-secret" not in text and "env-token" not in text
    settings = RegionSettings(name="us-east-1", store_url="sqlite:///x.db", s3=s3)
    assert "env-secret" not in repr(settings)
    # a region with --workers pickles its settings to the worker processes
    assert pickle.loads(pickle.dumps(settings)).s3 == s3


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"endpoint_url": "s3.example.com"}, "http"),
        ({"bucket": "Bad_Bucket"}, "bucket"),
        ({"config": {"bucket": "x"}}, "bucket"),
        ({"bucket": "ok-bucket", "config": {"access_key_id": "a"}}, "both"),
        ({"bucket": "ok-bucket", "config": {"nope": "1"}}, "unknown"),
    ],
)
def test_bad_values_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_s3_settings(env={}, **kwargs)  # type: ignore[arg-type]


def test_config_file_s3_table(tmp_path: Path) -> None:
    path = tmp_path / "region.toml"
    path.write_text(
        'secret_key = "k"\n[s3]\nendpoint_url = "http://s3:9000"\nbucket = "bkt-1"\n'
        'access_key_id = "A"\nsecret_access_key = "S"\n'
    )
    path.chmod(0o600)
    config = read_config(path)
    assert config.s3 == {
        "endpoint_url": "http://s3:9000",
        "bucket": "bkt-1",
        "access_key_id": "A",
        "secret_access_key": "S",
    }
    assert "s3" not in config.values
    path.write_text('[s3]\nendpoint = "http://s3:9000"\n')
    with pytest.raises(ConfigError, match="unknown"):
        read_config(path)
    path.write_text("[s3]\nregion = 1\n")
    with pytest.raises(ConfigError, match="strings"):
        read_config(path)
    path.write_text('s3 = "http://s3"\n')
    with pytest.raises(ConfigError, match="table"):
        read_config(path)


def test_object_store_of_a_region(tmp_path: Path) -> None:
    sqlite = RegionSettings(name="us-east-1", store_url=f"sqlite:///{tmp_path}/r.db")
    objects = open_object_store(sqlite, open_store_url(sqlite.store_url))
    assert isinstance(objects, DirectoryObjects)
    assert objects.root == Path(f"{tmp_path}/r.db.objects")
    assert region_bucket(sqlite) == "globaltables-us-east-1"

    pg = RegionSettings(name="eu-west-1", store_url="postgresql://u:pw@127.0.0.1:5/db")
    objects = open_object_store(pg, open_store_url(pg.store_url))
    assert isinstance(objects, DatabaseObjects)
    assert "pw" not in objects.description

    s3 = S3Settings(endpoint_url="http://127.0.0.1:9", bucket="b-backups")
    with_s3 = RegionSettings(name="eu-west-1", store_url=pg.store_url, s3=s3)
    objects = open_object_store(with_s3, open_store_url(with_s3.store_url))
    assert isinstance(objects, S3Objects)
    assert region_bucket(with_s3) == "b-backups"
