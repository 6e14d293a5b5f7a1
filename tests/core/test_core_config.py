"""Settings readers: a bad value names its variable; sizes and booleans parse."""

import pytest

from picsource_core.config import (
    ConfigurationError,
    Env,
    MongoSettings,
    StorageSettings,
    parse_size,
)


def test_size_units() -> None:
    assert parse_size("25MB") == 25_000_000
    assert parse_size("512MiB") == 512 * 1024**2
    assert parse_size("1048576") == 1048576
    assert parse_size("1.5 GB") == 1_500_000_000
    assert parse_size("lots") is None
    assert parse_size("10 parsecs") is None


def test_bad_integer_names_the_variable() -> None:
    with pytest.raises(ConfigurationError) as err:
        Env({"WORKERS": "many"}).int("WORKERS", 2)
    assert "WORKERS" in str(err.value)
    assert err.value.name == "WORKERS"


def test_range_checked() -> None:
    with pytest.raises(ConfigurationError, match="PORT must be at most 65535"):
        Env({"PORT": "70000"}).int("PORT", 1, minimum=1, maximum=65535)


def test_bool_and_choice() -> None:
    env = Env({"A": "yes", "B": "off", "C": "maybe", "D": "Open"})
    assert env.bool("A") is True
    assert env.bool("B") is False
    assert env.bool("UNSET", default=True) is True
    with pytest.raises(ConfigurationError, match="C must be true or false"):
        env.bool("C")
    assert env.choice("D", ("open", "closed")) == "open"
    with pytest.raises(ConfigurationError, match="A must be one of open, closed"):
        env.choice("A", ("open", "closed"))


def test_empty_counts_as_unset() -> None:
    with pytest.raises(ConfigurationError, match="SECRET is required"):
        Env({"SECRET": "  "}).str("SECRET")


def test_mongo_settings_validate_uri_and_database() -> None:
    assert MongoSettings.from_env({}).database == "picsource"
    with pytest.raises(ConfigurationError, match="MONGODB_URI"):
        MongoSettings.from_env({"MONGODB_URI": "postgres://x"})
    with pytest.raises(ConfigurationError, match="MONGODB_DATABASE"):
        MongoSettings.from_env({"MONGODB_DATABASE": "bad name/with slash"})


def test_storage_settings_require_credentials_and_valid_bucket() -> None:
    with pytest.raises(ConfigurationError, match="S3_ACCESS_KEY"):
        StorageSettings.from_env({})
    base = {"S3_ACCESS_KEY": "a", "S3_SECRET_KEY": "b"}
    assert StorageSettings.from_env(base).endpoint == "http://127.0.0.1:9000"
    with pytest.raises(ConfigurationError, match="S3_ENDPOINT"):
        StorageSettings.from_env({**base, "S3_ENDPOINT": "localhost:9000"})
    with pytest.raises(ConfigurationError, match="S3_BUCKET"):
        StorageSettings.from_env({**base, "S3_BUCKET": "Upper_Case"})
