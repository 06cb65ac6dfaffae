"""Where a component's MQTT credentials and TLS files come from (cp_simu.broker_access)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cp_simu.broker_access import ENV_PASSWORD, ENV_PASSWORD_FILE, ENV_USERNAME, BrokerAccess, resolve
from cp_simu.config import MqttSettings
from cp_simu.urls import BrokerUrl


def test_option_then_environment_then_url_then_config(tmp_path: Path) -> None:
    pw_file = tmp_path / "pw"
    pw_file.write_text("from-file\nignored second line\n")
    config_pw = tmp_path / "config-pw"
    config_pw.write_text("from-config")
    config = MqttSettings(broker="mqtt://cfg-host:1884", username="cfg-user", password_file=str(config_pw))

    access = resolve("mqtt://url-user:url-pw@h:1", username="opt-user", password_file=pw_file,
                     env={ENV_PASSWORD: "from-env"})
    assert (access.url.username, access.url.password) == ("opt-user", "from-file")
    access = resolve("mqtt://url-user:url-pw@h:1", env={ENV_PASSWORD: "from-env"})
    assert (access.url.username, access.url.password) == ("url-user", "from-env")
    access = resolve("mqtt://url-user:url-pw@h:1", env={})
    assert (access.url.username, access.url.password) == ("url-user", "url-pw")
    access = resolve(None, defaults=config, env={})
    assert (access.url.host, access.url.port) == ("cfg-host", 1884)
    assert (access.url.username, access.url.password) == ("cfg-user", "from-config")
    assert str(access) == "mqtt://cfg-host:1884"  # never the credentials


def test_errors_never_hold_the_password(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="needs a user name"):
        resolve("mqtt://h:1", env={ENV_PASSWORD: "lonely-password"})
    with pytest.raises(ValueError, match="cannot read the MQTT password file") as failure:
        resolve("mqtt://u@h:1", password_file=tmp_path / "missing", env={})
    with pytest.raises(ValueError, match="bad port") as bad:
        resolve("mqtt://u:Secret-In-Url@h:99999", env={})
    assert "Secret-In-Url" not in str(bad.value) and "lonely" not in str(failure.value)


def test_tls_files_are_checked_and_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="TLS files unusable"):
        resolve("mqtts://h:8883", ca_file="missing-ca.pem", env={})
    access = resolve("mqtt://h:1883", ca_file="ca.pem", client_cert="c.pem", env={})  # plain mqtt: unused
    assert access.ca_file == str(tmp_path / "ca.pem") and access.tls_context() is None


def test_children_get_the_access_through_their_environment() -> None:
    access = BrokerAccess(BrokerUrl.parse("mqtt://fleet:pw-1@h:1"), ca_file="/ca.pem")
    env = access.environment_for_children({"PATH": "/bin", ENV_PASSWORD_FILE: "/old", ENV_USERNAME: "old"})
    assert env == {"PATH": "/bin", ENV_USERNAME: "fleet", ENV_PASSWORD: "pw-1",
                   "OCPP_SIMU_MQTT_CA_FILE": "/ca.pem"}
    child = resolve("mqtt://h:1", env=env)
    assert (child.url.username, child.url.password) == ("fleet", "pw-1")


def test_without_options_the_environment_gives_every_setting(tmp_path: Path) -> None:
    """A forked charge point has no command line: its credentials and TLS files come from the
    environment the launcher gave it, as the options' environment variables would."""
    from cp_simu.broker_access import ENV_CA_FILE, ENV_CLIENT_CERT, ENV_CLIENT_KEY

    pw_file = tmp_path / "pw"
    pw_file.write_text("from-file\n")
    env = {ENV_USERNAME: "env-user", ENV_PASSWORD_FILE: str(pw_file), ENV_CA_FILE: str(tmp_path / "ca.pem"),
           ENV_CLIENT_CERT: str(tmp_path / "c.pem"), ENV_CLIENT_KEY: str(tmp_path / "k.pem")}
    access = resolve("mqtt://url-user@h:1", env=env)
    assert (access.url.username, access.url.password) == ("env-user", "from-file")
    assert (access.ca_file, access.client_cert, access.client_key) == (
        str(tmp_path / "ca.pem"), str(tmp_path / "c.pem"), str(tmp_path / "k.pem"))
    assert resolve("mqtt://h:1", username="opt-user", ca_file="/opt-ca.pem", env=env).url.username == "opt-user"
    assert resolve("mqtt://h:1", ca_file="/opt-ca.pem", env=env).ca_file == "/opt-ca.pem"
