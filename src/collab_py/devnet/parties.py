"""Member organisations with their accounts and keys, putting them on chain (S1), and the ether their transactions
pay with: on a development node by ``anvil_setBalance``, on any other node by transfers from a funded account, on a
zero-gas chain not at all (:class:`Funding`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from collab_py.chain.deploy import Deployment, OrgRegistration
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.transactor import Transactor, fee_oracle, rpc_request
from collab_py.domain.crypto import EncryptionKey
from collab_py.domain.keys import load_keystore
from collab_py.exceptions import CollabError

#: Ether given to each account by :class:`Funding` transfers (wei): 0.1 ether pays a demo's transactions of one
#: account many times over at the fees of a consortium chain.
FUND_EACH = 10**17
#: Clients whose nodes set balances with ``anvil_setBalance`` (``web3_clientVersion`` prefixes, lower case).
DEV_NODES = ("anvil", "hardhat")
#: The environment variable that may hold a funding account's private key (hex), for throwaway chains and CI.
FUNDER_KEY_ENV = "COLLAB_FUNDER_KEY"


class FundingError(CollabError):
    """The accounts cannot get the ether they need: no funder on a chain with fees, a funder without enough ether,
    or a node that refuses to set balances."""


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
    """Gives accounts gas money on a development node (anvil's ``anvil_setBalance``); :class:`FundingError` if the
    node refuses (a node that is no development node)."""
    for account in accounts:
        reply = w3.provider.make_request("anvil_setBalance", [account.address, hex(wei)])  # type: ignore[arg-type]
        if "error" in reply:
            error = reply["error"]
            message = error.get("message", error) if isinstance(error, dict) else error
            raise FundingError(f"anvil_setBalance refused ({message}): not a development node; fund by transfers")


def is_dev_node(w3: Web3) -> bool:
    """Whether the node is a development node that sets balances on request (anvil, Hardhat)."""
    try:
        version = str(rpc_request(w3, "web3_clientVersion"))
    except Exception:  # a node without web3_clientVersion is no development node we know
        return False
    return is_dev_client(version)


def is_dev_client(version: str) -> bool:
    """Whether a node's ``web3_clientVersion`` names a development node (anvil, Hardhat): one with the ``anvil_*`` and
    ``evm_*`` calls (set balances, mine on request, switch automine)."""
    return version.lower().startswith(DEV_NODES)


def funder_account(keystore: Path | None, passphrase: Callable[[], str]) -> LocalAccount | None:
    """The account that funds fresh accounts: from an encrypted ``keystore`` (v3 JSON: ours, Ape's or geth's, opened
    with ``passphrase()``), else from the private key in :data:`FUNDER_KEY_ENV`, else none."""
    if keystore is not None:
        account: LocalAccount = Account.from_key(load_keystore(keystore, passphrase()))
        return account
    key = os.environ.get(FUNDER_KEY_ENV, "").strip()
    if not key:
        return None
    try:
        account = Account.from_key(key)
    except Exception:  # eth-account's message would quote the key
        raise FundingError(f"{FUNDER_KEY_ENV} is not a private key (32 bytes of hex)") from None
    return account


def ether(wei: int) -> str:
    """Wei as ether, exactly: ``ether(10**17) == "0.1"``."""
    return f"{Decimal(wei).scaleb(-18).normalize():f}"


@dataclass(frozen=True)
class Funding:
    """How fresh accounts get the ether their transactions pay for.

    On a chain whose transactions pay nothing (zero gas configured or detected, see
    :class:`~collab_py.chain.transactor.FeePolicy`) they need none. Otherwise ``funder`` sends each account below
    ``wei_each`` that much by a plain transfer (all in one go, then waited for); without a funder a development node
    sets the balances (``anvil_setBalance``), and any other node is a :class:`FundingError`.
    """

    funder: LocalAccount | None = None
    wei_each: int = FUND_EACH

    def describe(self, w3: Web3) -> str:
        """How :meth:`fund` will fund accounts on ``w3``, in words."""
        if fee_oracle(w3).pays_nothing():
            return "zero gas: transactions pay nothing, accounts get no ether"
        if self.funder is not None:
            return f"transfers of {ether(self.wei_each)} ether from {self.funder.address}"
        return "anvil_setBalance (development node)"

    def fund(self, w3: Web3, accounts: Sequence[LocalAccount]) -> None:
        """Gives ``accounts`` the ether they need on ``w3``."""
        if fee_oracle(w3).pays_nothing():
            return
        if self.funder is None:
            if not is_dev_node(w3):
                raise FundingError(
                    "the accounts need ether on this chain: give a funded account (collab demo --funder-keystore, or "
                    "COLLAB_FUNDER_KEY), or run a zero-gas chain (COLLAB_ZERO_GAS, COLLAB_GAS_PRICE=0)"
                )
            fund_on_dev_node(w3, accounts)
            return
        poor = [account for account in accounts if w3.eth.get_balance(account.address) < self.wei_each]
        funder = Transactor(w3, self.funder)
        fees = fee_oracle(w3).params()
        price = int(fees.get("maxFeePerGas", fees.get("gasPrice", 0)))
        needed = len(poor) * (self.wei_each + 21_000 * price)
        held = w3.eth.get_balance(self.funder.address)
        if held < needed:
            raise FundingError(
                f"the funder {self.funder.address} holds {ether(held)} ether; funding {len(poor)} accounts with "
                f"{ether(self.wei_each)} each needs {ether(needed)}"
            )
        for pending in [funder.transfer(account.address, self.wei_each) for account in poor]:
            pending.wait()
