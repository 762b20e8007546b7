"""Running the ``collab`` command in tests: the parties' keys as cheap keystores."""

from __future__ import annotations

from pathlib import Path

from collab_py.devnet.parties import Party
from collab_py.devnet.sandbox import Sandbox
from collab_py.domain.keys import Keyring

PASSPHRASE = "correct horse battery staple"


def keystores(folder: Path, party: Party | None, governance: Sandbox | None = None) -> Path:
    """Writes a party's department keys and encryption key (and governance's key) as cheap test keystores."""
    ring = Keyring(folder, kdf="pbkdf2", iterations=2)
    if party is not None:
        for department, account in party.accounts.items():
            ring.import_account(department.name.lower(), account.key, PASSPHRASE)
        ring.import_encryption_key("encryption", party.encryption_key, PASSPHRASE)
    if governance is not None:
        ring.import_account("governance", governance.admin.account.key, PASSPHRASE)
    return folder
