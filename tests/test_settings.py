"""Service settings from the environment, ``.env`` and overrides (no chain needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from collab_py.chain.manifest import Manifest, ManifestError
from collab_py.domain.keys import EmptyPassphrase, Keyring, PassphraseUnavailable
from collab_py.files import write_private
from collab_py.settings import CollabSettings, SettingsError


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No COLLAB_* variable and no .env from the developer's machine leaks in."""
    for name in list(os.environ):
        if name.startswith("COLLAB_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def sample_manifest() -> Manifest:
    return Manifest(
        chain_id=31337,
        registry="0x" + "11" * 20,
        escrow="0x" + "22" * 20,
        asset="0x" + "33" * 20,
        institution_org=900,
        deployment_block=1,
        governance="0x" + "44" * 20,
    )


def test_defaults() -> None:
    settings = CollabSettings.load()
    assert settings.rpc_url == "http://127.0.0.1:8545"
    assert settings.manifest == Path("deployments/local.json")
    assert settings.keystore_dir == Path("keys")
    assert settings.passphrase_file is None
    assert settings.passphrase_env == "COLLAB_PASSPHRASE"
    assert settings.org_id is None
    assert settings.ledger_url == "sqlite:///collab-ledger.db"
    assert settings.confirmations == 1
    assert settings.receipt_timeout == 120.0
    assert settings.poa is None
    assert settings.sqlite_cache_mib == 64


def test_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_RPC_URL", "wss://node.example:8546")
    monkeypatch.setenv("COLLAB_MANIFEST", "deployments/prod.json")
    monkeypatch.setenv("COLLAB_KEYSTORE_DIR", "/srv/keys")
    monkeypatch.setenv("COLLAB_PASSPHRASE_FILE", "/run/secrets/pass")
    monkeypatch.setenv("COLLAB_PASSPHRASE_ENV", "BOT_PASS")
    monkeypatch.setenv("COLLAB_ORG_ID", "4294967295")
    monkeypatch.setenv("COLLAB_LEDGER_URL", "postgresql://ledger/collab")
    monkeypatch.setenv("COLLAB_CONFIRMATIONS", "0")
    monkeypatch.setenv("COLLAB_RECEIPT_TIMEOUT", "2.5")
    monkeypatch.setenv("COLLAB_POA", "true")
    monkeypatch.setenv("COLLAB_SQLITE_CACHE_MIB", "8")
    monkeypatch.setenv("COLLAB_NODE_MODULES", "/somewhere")  # another module's variable: ignored
    settings = CollabSettings.load()
    assert settings.rpc_url == "wss://node.example:8546"
    assert settings.manifest == Path("deployments/prod.json")
    assert settings.keystore_dir == Path("/srv/keys")
    assert settings.passphrase_file == Path("/run/secrets/pass")
    assert settings.passphrase_env == "BOT_PASS"
    assert settings.org_id == 2**32 - 1
    assert settings.ledger_url == "postgresql://ledger/collab"
    assert settings.confirmations == 0
    assert settings.receipt_timeout == 2.5
    assert settings.poa is True
    assert settings.sqlite_cache_mib == 8


@pytest.mark.parametrize(("value", "expected"), [("false", False), ("1", True), ("auto", None), ("", None)])
def test_poa(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool | None) -> None:
    monkeypatch.setenv("COLLAB_POA", value)
    assert CollabSettings.load().poa is expected


def test_empty_variable_means_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_ORG_ID", "")
    monkeypatch.setenv("COLLAB_CONFIRMATIONS", "")
    settings = CollabSettings.load()
    assert settings.org_id is None
    assert settings.confirmations == 1


def test_dotenv_file(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean_environment / ".env").write_text("COLLAB_CONFIRMATIONS=3\nCOLLAB_ORG_ID=7\nCOLLAB_UNRELATED=x\n")
    monkeypatch.setenv("COLLAB_ORG_ID", "8")  # the environment wins over .env
    settings = CollabSettings.load()
    assert settings.confirmations == 3
    assert settings.org_id == 8


def test_another_dotenv_file(clean_environment: Path) -> None:
    other = clean_environment / "prod.env"
    other.write_text("COLLAB_RPC_URL=https://rpc.example\n")
    assert CollabSettings.load(_env_file=other).rpc_url == "https://rpc.example"


def test_overrides_win(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_CONFIRMATIONS", "5")
    assert CollabSettings.load(confirmations=2).confirmations == 2


def test_unknown_override_refused() -> None:
    with pytest.raises(SettingsError, match="confirmation"):
        CollabSettings.load(confirmation=2)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("COLLAB_CONFIRMATIONS", "-1", "COLLAB_CONFIRMATIONS: must be >= 0"),
        ("COLLAB_CONFIRMATIONS", "many", "COLLAB_CONFIRMATIONS: must be an integer"),
        ("COLLAB_RPC_URL", "ftp://node.example", "COLLAB_RPC_URL: must be an http(s):// or ws(s):// URL"),
        ("COLLAB_RPC_URL", "127.0.0.1:8545", "COLLAB_RPC_URL: must be an http(s):// or ws(s):// URL"),
        ("COLLAB_RPC_URL", "http://", "COLLAB_RPC_URL: must be an http(s):// or ws(s):// URL"),
        ("COLLAB_ORG_ID", "0", "COLLAB_ORG_ID: must be >= 1"),
        ("COLLAB_ORG_ID", str(2**32), "COLLAB_ORG_ID: must be <= 4294967295"),
        ("COLLAB_RECEIPT_TIMEOUT", "0", "COLLAB_RECEIPT_TIMEOUT: must be > 0"),
        ("COLLAB_RECEIPT_TIMEOUT", "soon", "COLLAB_RECEIPT_TIMEOUT: must be a number"),
        ("COLLAB_RECEIPT_TIMEOUT", "inf", "COLLAB_RECEIPT_TIMEOUT: must be a finite number of seconds"),
        ("COLLAB_POA", "maybe", "COLLAB_POA: must be true, false or auto"),
        ("COLLAB_SQLITE_CACHE_MIB", "0", "COLLAB_SQLITE_CACHE_MIB: must be >= 1"),
    ],
)
def test_invalid_values(monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as error:
        CollabSettings.load()
    assert str(error.value) == message
    assert error.value.__cause__ is None


def test_invalid_overrides_name_their_variable() -> None:
    with pytest.raises(SettingsError) as error:
        CollabSettings.load(confirmations=-1, rpc_url="ftp://x", org_id=0, passphrase_env="")
    message = str(error.value)
    assert "\n" not in message
    for part in (
        "COLLAB_CONFIRMATIONS: must be >= 0",
        "COLLAB_RPC_URL: must be an http(s):// or ws(s):// URL",
        "COLLAB_ORG_ID: must be >= 1",
        "COLLAB_PASSPHRASE_ENV: must not be empty",
    ):
        assert part in message


def test_load_manifest_is_cached(clean_environment: Path) -> None:
    path = sample_manifest().save(clean_environment / "deployments" / "local.json")
    settings = CollabSettings.load()
    first = settings.load_manifest()
    assert first == sample_manifest()
    path.unlink()
    assert settings.load_manifest() is first
    with pytest.raises(ManifestError):
        CollabSettings.load().load_manifest()  # a new settings object reads again


def test_missing_manifest(clean_environment: Path) -> None:
    with pytest.raises(ManifestError, match="no deployment manifest"):
        CollabSettings.load(manifest=clean_environment / "absent.json").load_manifest()


def test_passphrase_from_default_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_PASSPHRASE", "s3cret")
    assert CollabSettings.load().passphrase(prompt=False) == "s3cret"


def test_passphrase_from_file(clean_environment: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_private(clean_environment / "pass", "from file\n")
    monkeypatch.setenv("COLLAB_PASSPHRASE_FILE", str(clean_environment / "pass"))
    monkeypatch.setenv("COLLAB_PASSPHRASE", "from env")
    assert CollabSettings.load().passphrase(prompt=False) == "from file"


def test_passphrase_from_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_PASS", "bot")
    assert CollabSettings.load(passphrase_env="BOT_PASS").passphrase(prompt=False) == "bot"


def test_no_passphrase() -> None:
    with pytest.raises(PassphraseUnavailable, match="COLLAB_PASSPHRASE") as error:
        CollabSettings.load().passphrase(prompt=False)
    assert type(error.value) is PassphraseUnavailable


def test_empty_passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLLAB_PASSPHRASE", "")
    with pytest.raises(EmptyPassphrase):
        CollabSettings.load().passphrase(prompt=False)


def test_keyring() -> None:
    keyring = CollabSettings.load(keystore_dir=Path("org-keys")).keyring()
    assert isinstance(keyring, Keyring)
    assert keyring.folder == Path("org-keys")
