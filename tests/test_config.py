import pytest

from app.config import ConfigError, load_config


def test_production_refuses_to_start_without_secrets(tmp_path):
    with pytest.raises(ConfigError, match="POSTROOM_SECRET_KEY, POSTROOM_ENCRYPTION_KEYS"):
        load_config({"POSTROOM_ENV": "production", "POSTROOM_INSTANCE_PATH": str(tmp_path)})


def test_development_generates_secrets_once(tmp_path):
    env = {"POSTROOM_ENV": "development", "POSTROOM_INSTANCE_PATH": str(tmp_path)}
    first, second = load_config(env), load_config(env)
    assert first["SECRET_KEY"] == second["SECRET_KEY"] and len(first["SECRET_KEY"]) > 40
    assert first["ENCRYPTION_KEYS"] == second["ENCRYPTION_KEYS"]
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'postroom.db'}"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("POSTROOM_ALLOW_PRIVATE_HOSTS", "maybe", "must be 1 or 0"),
    ("POSTROOM_INVITATION_MAX_AGE", "soon", "must be an integer"),
    ("POSTROOM_ENV", "staging", "must be one of"),
])
def test_malformed_settings_name_the_variable(tmp_path, name, value, message):
    env = {"POSTROOM_ENV": "development", "POSTROOM_INSTANCE_PATH": str(tmp_path), name: value}
    with pytest.raises(ConfigError, match=message):
        load_config(env)


def test_environment_values_are_read(tmp_path):
    config = load_config({"POSTROOM_ENV": "development", "POSTROOM_INSTANCE_PATH": str(tmp_path),
                          "POSTROOM_ALLOW_PRIVATE_HOSTS": "1", "POSTROOM_ENCRYPTION_KEYS": "a, b",
                          "POSTROOM_REDIS_URL": "redis://r:1/2", "POSTROOM_DATABASE_URL": "postgresql://x/y"})
    assert config["ALLOW_PRIVATE_HOSTS"] is True and config["ENCRYPTION_KEYS"] == ["a", "b"]
    assert config["REDIS_URL"] == "redis://r:1/2" and config["SQLALCHEMY_DATABASE_URI"] == "postgresql://x/y"
