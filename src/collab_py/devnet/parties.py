"""Member organisations with their accounts and keys, and putting them on chain (S1)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from collab_py.chain.deploy import Deployment, OrgRegistration
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.transactor import Transactor
from collab_py.domain.crypto import EncryptionKey


@dataclass
class Party:
    """An org and the keys of its treasury and department accounts."""

    org_id: int
    name: str
    kind: OrgKind
    treasury: LocalAccount
    encryption_key: EncryptionKey
    accounts: dict[Department, LocalAccount] = field(default_factory=dict)

    @classmethod
    def generate(cls, org_id: int, name: str, kind: OrgKind = OrgKind.ENTERPRISE) -> Party:
        """A party with fresh random keys for its treasury and departments."""
        departments = (
            (Department.OPERATOR,) if kind is OrgKind.PAYMENT_INSTITUTION else (Department.BUSINESS, Department.FINANCE)
        )
        return cls(
            org_id=org_id,
            name=name,
            kind=kind,
            treasury=Account.create(),
            encryption_key=EncryptionKey(),
            accounts={department: Account.create() for department in departments},
        )

    def account(self, department: Department) -> LocalAccount:
        """The account of one department."""
        return self.accounts[department]

    def registration(self) -> OrgRegistration:
        """What governance registers for this org."""
        return OrgRegistration(self.org_id, self.name, self.treasury.address, self.encryption_key.public_key)

    @property
    def all_accounts(self) -> list[LocalAccount]:
        """Treasury and department accounts."""
        return [self.treasury, *self.accounts.values()]


def register_party(admin: Transactor, deployment: Deployment, party: Party) -> None:
    """Registers ``party``'s org (unless it is the deployment's institution, registered at deployment) and binds its
    department accounts (governance only)."""
    registry = deployment.registry.functions
    if party.org_id != deployment.manifest.institution_org:
        admin.transact(
            registry.registerOrg(
                party.org_id, party.name, int(party.kind), party.treasury.address, party.encryption_key.public_key
            )
        )
    for department, account in party.accounts.items():
        admin.transact(registry.bindAccount(account.address, party.org_id, int(department)))


def fund_on_dev_node(w3: Web3, accounts: Iterable[LocalAccount], wei: int = 10**21) -> None:
    """Gives accounts gas money on a development node (anvil's ``anvil_setBalance``)."""
    for account in accounts:
        w3.provider.make_request("anvil_setBalance", [account.address, hex(wei)])  # type: ignore[arg-type]
