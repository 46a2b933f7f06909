"""``parse_storage_url``: the storage URL and the standard AWS variables."""

from __future__ import annotations

from pathlib import Path

import pytest

from trioflix.storage import (
    LocalStorageConfig,
    S3StorageConfig,
    StorageConfigError,
    parse_storage_url,
)

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": "s3cr3t"}


@pytest.mark.parametrize("url", [None, "", "file:"])
def test_unset_or_file_is_the_data_directory(url: str | None) -> None:
    assert parse_storage_url(url, {}) == LocalStorageConfig(root=None)


def test_file_with_a_directory() -> None:
    assert parse_storage_url("file:/srv/media", {}) == LocalStorageConfig(root=Path("/srv/media"))
    assert parse_storage_url("file:///srv/media", {}) == LocalStorageConfig(root=Path("/srv/media"))


def test_s3_with_endpoint_prefix_and_region() -> None:
    env = CREDENTIALS | {"AWS_ENDPOINT_URL": "http://127.0.0.1:8333/", "AWS_REGION": "eu-west-3"}
    assert parse_storage_url("s3://media-bucket/site/a", env) == S3StorageConfig(
        bucket="media-bucket",
        prefix="site/a/",
        endpoint_url="http://127.0.0.1:8333",
        region="eu-west-3",
        access_key_id="AKID",
        secret_access_key="s3cr3t",
    )


def test_s3_endpoint_variable_for_s3_wins_and_aws_is_the_default() -> None:
    env = CREDENTIALS | {
        "AWS_ENDPOINT_URL": "http://other:1",
        "AWS_ENDPOINT_URL_S3": "https://minio.example:9000",
    }
    config = parse_storage_url("s3://media", env)
    assert isinstance(config, S3StorageConfig)
    assert (config.endpoint_url, config.prefix, config.region) == (
        "https://minio.example:9000",
        "",
        "us-east-1",
    )
    aws = parse_storage_url("s3://media/", CREDENTIALS | {"AWS_DEFAULT_REGION": "ap-south-1"})
    assert isinstance(aws, S3StorageConfig)
    assert aws.endpoint_url == "https://s3.ap-south-1.amazonaws.com"


def test_the_secret_is_not_in_the_repr() -> None:
    assert "s3cr3t" not in repr(parse_storage_url("s3://media", CREDENTIALS))


@pytest.mark.parametrize(
    ("url", "env", "message"),
    [
        ("s3://media", {}, "needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set"),
        ("s3://media", {"AWS_ACCESS_KEY_ID": "x"}, "needs AWS_SECRET_ACCESS_KEY set"),
        ("s3://Media_Bucket", CREDENTIALS, "not a valid bucket name"),
        ("s3://ab", CREDENTIALS, "not a valid bucket name"),
        ("s3:///prefix", CREDENTIALS, "not a valid bucket name"),
        ("s3://media/a//b", CREDENTIALS, "empty or dot segments"),
        ("s3://media/../b", CREDENTIALS, "empty or dot segments"),
        ("s3://media?x=1", CREDENTIALS, "no query"),
        ("gs://media", CREDENTIALS, "expected file: or s3://"),
        ("file:relative/dir", {}, "file:/absolute/directory"),
        ("s3://media", CREDENTIALS | {"AWS_ENDPOINT_URL": "ftp://x"}, "not an http"),
    ],
)
def test_errors_say_what_is_wrong(url: str, env: dict[str, str], message: str) -> None:
    with pytest.raises(StorageConfigError, match=message.replace("?", r"\?")) as caught:
        parse_storage_url(url, env)
    assert isinstance(caught.value, ValueError)
