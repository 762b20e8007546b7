"""A ready-to-use consortium on any node: deployed contracts, Party A, B, C and a bank, funded (see
:class:`~collab_py.devnet.parties.Funding`: ``anvil_setBalance`` on a development node, transfers from a funded account
elsewhere, nothing on a zero-gas chain). Independent transactions are sent together, so that a chain with
seconds-long blocks needs a few blocks for the whole setup, not one per transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account import Account
from web3 import Web3

from collab_py.chain.deploy import AUTO_EVM, Deployment, deploy
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.transactor import PendingTx, Transactor
from collab_py.devnet.parties import Funding, Party
from collab_py.domain.drafts import ContractDraft, StageDraft

#: Org id of the payment institution (the bank); Party A, B and C are orgs 1, 2 and 3.
INSTITUTION_ORG = 900
#: Deposits minted to Party A's treasury: 10 million currency units, in cents.
A_FUNDS = 10_000_000_00
#: The shortest payment-key lifetime of a sandbox (seconds): short, so that an expired key can be shown on a node
#: without time travel.
SANDBOX_MIN_KEY_LIFETIME = 2
#: Where Party B and Party C are paid (their bank accounts, never on chain in clear).
B_BANK_ACCOUNT = "CN12 ICBC 6222 0200 0000 1234"
C_BANK_ACCOUNT = "HK33 HSBC 0000 7777 1111"


@dataclass
class Sandbox:
    """A deployed consortium: governance, Party A (payer), B (payee), C (third member) and the bank."""

    w3: Web3
    deployment: Deployment
    admin: Transactor
    a: Party
    b: Party
    c: Party
    bank: Party

    def tx(self, party: Party, department: Department) -> Transactor:
        """A fresh transactor for one department of a party."""
        return Transactor(self.w3, party.account(department))

    @property
    def parties(self) -> tuple[Party, ...]:
        """A, B, C and the bank."""
        return (self.a, self.b, self.c, self.bank)


def bootstrap(
    w3: Web3, *, a_funds: int = A_FUNDS, funding: Funding | None = None, evm_version: str | None = AUTO_EVM
) -> Sandbox:
    """Deploys on the node behind ``w3``, registers A, B, C and a bank, and gives A deposits to pay with.

    Every key is fresh and given ether by ``funding`` (default: ``anvil_setBalance`` on a development node, nothing on
    a zero-gas chain); A's treasury approves the escrow once. The contracts are compiled for ``evm_version`` (default:
    ``COLLAB_EVM_VERSION``, else what the chain runs; see :func:`~collab_py.chain.deploy.deploy`).
    """
    governance = Account.create()
    a = Party.generate(1, "Party A Holdings")
    b = Party.generate(2, "Party B Supplies")
    c = Party.generate(3, "Party C Logistics")
    bank = Party.generate(INSTITUTION_ORG, "Group Treasury Bank", OrgKind.PAYMENT_INSTITUTION)
    parties = (a, b, c, bank)
    (funding or Funding()).fund(w3, [governance, *(account for party in parties for account in party.all_accounts)])
    admin = Transactor(w3, governance)
    bank_operator = Transactor(w3, bank.account(Department.OPERATOR))
    deployment = deploy(
        admin,
        institution=bank.registration(),
        asset_admin=bank_operator.address,
        min_key_lifetime=SANDBOX_MIN_KEY_LIFETIME,
        evm_version=evm_version,
    )
    register_parties(admin, deployment, parties)
    _wait_all(
        [
            bank_operator.send(deployment.asset.functions.mint(a.treasury.address, a_funds)),
            Transactor(w3, a.treasury).send(deployment.asset.functions.approve(deployment.escrow.address, 2**256 - 1)),
        ]
    )
    return Sandbox(w3=w3, deployment=deployment, admin=admin, a=a, b=b, c=c, bank=bank)


def register_parties(admin: Transactor, deployment: Deployment, parties: Sequence[Party]) -> None:
    """Registers the orgs of ``parties`` (all at once; the deployment's institution is registered already), then
    binds their department accounts (all at once)."""
    registry = deployment.registry.functions
    _wait_all(
        [
            admin.send(
                registry.registerOrg(p.org_id, p.name, int(p.kind), p.treasury.address, p.encryption_key.public_key)
            )
            for p in parties
            if p.org_id != deployment.manifest.institution_org
        ]
    )
    _wait_all(
        [
            admin.send(registry.bindAccount(account.address, party.org_id, int(department)))
            for party in parties
            for department, account in party.accounts.items()
        ]
    )


def _wait_all(sent: Sequence[PendingTx]) -> None:
    for pending in sent:
        pending.wait()


def sample_contract(number: str = "HT-2026-0001") -> ContractDraft:
    """A three-stage supply contract of 1,000,000.00 between Party A and Party B (demo and tests)."""
    return ContractDraft(
        number=number,
        text=f"Supply agreement {number}: Party B Supplies delivers design, prototype and series to Party A Holdings.",
        stages=(
            StageDraft("design documents", 100_000_00),
            StageDraft("prototype delivered and tested", 250_000_00),
            StageDraft("series delivery of 1000 units", 650_000_00),
        ),
    )
