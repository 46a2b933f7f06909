from __future__ import annotations

from pathlib import Path

import pytest

from trioflix.config import OPTIONS, ConfigError, Settings
from trioflix.storage import LocalStorageConfig, S3StorageConfig


def test_defaults() -> None:
    settings = Settings.from_env(environ={})
    assert settings.http == "127.0.0.1:8000"
    assert settings.data_dir == Path("./trioflix-data")
    assert settings.database_url is None
    assert settings.sqlite_path == Path("./trioflix-data/trioflix.sqlite3")


def test_the_readme_lists_every_setting() -> None:
    """Its configuration table is where an operator looks for a variable."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    rows = [line for line in readme.splitlines() if line.startswith("| `")]
    missing = [
        option.env
        for option in OPTIONS
        if not any(f"`{option.env}`" in row and f"`{option.flag}`" in row for row in rows)
    ]
    assert missing == []


def test_flags_override_environment() -> None:
    env = {
        "TRIOFLIX_HTTP": "0.0.0.0:9000",
        "TRIOFLIX_DATA_DIR": "/srv/tf",
        "TRIOFLIX_TOKEN_TTL": "60",
    }
    settings = Settings.from_env({"http": "127.0.0.1:9001", "data_dir": None}, environ=env)
    assert settings.http == "127.0.0.1:9001"
    assert settings.data_dir == Path("/srv/tf")
    assert settings.token_ttl == 60


def test_rtmp_read_interval() -> None:
    assert Settings.from_env(environ={}).rtmp_read_interval_ms == 30
    env = {"TRIOFLIX_RTMP_READ_INTERVAL_MS": "0"}
    assert Settings.from_env(environ=env).rtmp_read_interval_ms == 0
    settings = Settings.from_env({"rtmp_read_interval_ms": "40"}, environ=env)
    assert settings.rtmp_read_interval_ms == 40


def test_edge_read_interval() -> None:
    assert Settings.from_env(environ={}).edge_read_interval_ms == 20
    env = {"TRIOFLIX_EDGE_READ_INTERVAL_MS": "0"}
    assert Settings.from_env(environ=env).edge_read_interval_ms == 0
    settings = Settings.from_env({"edge_read_interval_ms": "15"}, environ=env)
    assert settings.edge_read_interval_ms == 15


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TRIOFLIX_HTTP": "8000"}, "TRIOFLIX_HTTP must be HOST:PORT"),
        ({"TRIOFLIX_HTTP": "host:99999"}, "TRIOFLIX_HTTP must be HOST:PORT"),
        ({"TRIOFLIX_TOKEN_TTL": "soon"}, "TRIOFLIX_TOKEN_TTL must be a whole number"),
        ({"TRIOFLIX_TOKEN_TTL": "-5"}, "TRIOFLIX_TOKEN_TTL must be positive"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must be a postgresql:// URL"),
        ({"JWT_SECRET": "short"}, "JWT_SECRET must be at least 32 characters"),
        ({"TRIOFLIX_LOG_LEVEL": "loud"}, "TRIOFLIX_LOG_LEVEL must be"),
        ({"TRIOFLIX_RTMP_READ_INTERVAL_MS": "fast"}, "must be a whole number of milliseconds"),
        ({"TRIOFLIX_RTMP_READ_INTERVAL_MS": "-1"}, "must be between 0 and 1000 ms"),
        ({"TRIOFLIX_RTMP_READ_INTERVAL_MS": "1001"}, "must be between 0 and 1000 ms"),
        ({"TRIOFLIX_EDGE_READ_INTERVAL_MS": "soon"}, "must be a whole number of milliseconds"),
        ({"TRIOFLIX_EDGE_READ_INTERVAL_MS": "-1"}, "must be between 0 and 1000 ms"),
        ({"TRIOFLIX_EDGE_READ_INTERVAL_MS": "1001"}, "must be between 0 and 1000 ms"),
    ],
)
def test_bad_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ=env)


def test_cluster_settings() -> None:
    defaults = Settings.from_env(environ={})
    assert defaults.advertise_url is None
    assert defaults.cluster_api is False
    env = {"TRIOFLIX_ADVERTISE_URL": "http://10.0.0.5:8000", "TRIOFLIX_CLUSTER_API": "on"}
    settings = Settings.from_env(environ=env)
    assert settings.advertise_url == "http://10.0.0.5:8000"
    assert settings.cluster_api is True
    flagged = Settings.from_env({"advertise_url": "http://10.0.0.6:8000"}, environ=env)
    assert flagged.advertise_url == "http://10.0.0.6:8000"


def test_each_host_of_a_cluster_has_its_own_directory_in_the_shared_one() -> None:
    alone = Settings.from_env(environ={"TRIOFLIX_DATA_DIR": "/srv/tf"})
    assert alone.host_dir == Path("/srv/tf")
    env = {"TRIOFLIX_DATA_DIR": "/srv/tf", "TRIOFLIX_ADVERTISE_URL": "http://10.0.0.5:8000/"}
    host = Settings.from_env(environ=env)
    assert host.host_dir == Path("/srv/tf/hosts/10-0-0-5-8000")
    other = Settings.from_env({"advertise_url": "http://10.0.0.6:8000"}, environ=env)
    assert other.host_dir != host.host_dir


def test_storage_settings() -> None:
    defaults = Settings.from_env(environ={})
    assert defaults.storage_url is None
    assert defaults.media_base_url is None
    env = {
        "TRIOFLIX_STORAGE_URL": "s3://media/site",
        "TRIOFLIX_MEDIA_BASE_URL": "https://cdn.example.com/media/",
        "AWS_ACCESS_KEY_ID": "AKID",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:8333",
    }
    settings = Settings.from_env(environ=env)
    assert settings.storage_url == "s3://media/site"
    assert settings.media_base_url == "https://cdn.example.com/media"
    storage = settings.storage(env)
    assert isinstance(storage, S3StorageConfig)
    assert (storage.bucket, storage.prefix) == ("media", "site/")
    assert storage.endpoint_url == "http://127.0.0.1:8333"
    flagged = Settings.from_env({"storage_url": "file:"}, environ=env)
    assert flagged.storage(env) == LocalStorageConfig()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"TRIOFLIX_STORAGE_URL": "ftp://media"},
            "TRIOFLIX_STORAGE_URL: .* expected file: or s3://",
        ),
        ({"TRIOFLIX_STORAGE_URL": "s3://"}, "TRIOFLIX_STORAGE_URL: .* is not a valid bucket name"),
        ({"TRIOFLIX_STORAGE_URL": "s3:///site"}, "is not a valid bucket name"),
        (
            {"TRIOFLIX_STORAGE_URL": "s3://media", "AWS_ACCESS_KEY_ID": "AKID"},
            "TRIOFLIX_STORAGE_URL: .* needs AWS_SECRET_ACCESS_KEY set",
        ),
        ({"TRIOFLIX_MEDIA_BASE_URL": "cdn.example.com"}, "must be an absolute http"),
        ({"TRIOFLIX_MEDIA_BASE_URL": "ftp://cdn.example.com"}, "must be an absolute http"),
        ({"TRIOFLIX_MEDIA_BASE_URL": "https://"}, "must be an absolute http"),
        ({"TRIOFLIX_MEDIA_BASE_URL": "https://cdn.example.com/?v=1"}, "no query or fragment"),
    ],
)
def test_bad_storage_settings(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(environ=env)
