"""A ready-to-use consortium on a development node: deployed contracts, Party A, B, C and a bank, funded."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from web3 import Web3

from collab_py.chain.deploy import Deployment, deploy
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.transactor import Transactor
from collab_py.devnet.parties import Party, fund_on_dev_node, register_party
from collab_py.domain.drafts import ContractDraft, StageDraft

#: Org id of the payment institution (the bank); Party A, B and C are orgs 1, 2 and 3.
INSTITUTION_ORG = 900
#: Deposits minted to Party A's treasury: 10 million currency units, in cents.
A_FUNDS = 10_000_000_00
#: The shortest payment-key lifetime of a sandbox (seconds): short, so that an expired key can be shown on a node
#: without time travel.
SANDBOX_MIN_KEY_LIFETIME = 2
#: Decimals of the DepositToken a sandbox pays with (cents).
ASSET_DECIMALS = 2
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


def bootstrap(w3: Web3, *, a_funds: int = A_FUNDS) -> Sandbox:
    """Deploys on a development node (anvil), registers A, B, C and a bank, and gives A deposits to pay with.

    Every key is fresh and funded with ``anvil_setBalance``; A's treasury approves the escrow once.
    """
    governance = Account.create()
    a = Party.generate(1, "Party A Holdings")
    b = Party.generate(2, "Party B Supplies")
    c = Party.generate(3, "Party C Logistics")
    bank = Party.generate(INSTITUTION_ORG, "Group Treasury Bank", OrgKind.PAYMENT_INSTITUTION)
    parties = (a, b, c, bank)
    fund_on_dev_node(w3, [governance, *(account for party in parties for account in party.all_accounts)])
    admin = Transactor(w3, governance)
    bank_operator = Transactor(w3, bank.account(Department.OPERATOR))
    deployment = deploy(
        admin,
        institution=bank.registration(),
        asset_admin=bank_operator.address,
        min_key_lifetime=SANDBOX_MIN_KEY_LIFETIME,
    )
    for party in parties:
        register_party(admin, deployment, party)
    bank_operator.transact(deployment.asset.functions.mint(a.treasury.address, a_funds))
    Transactor(w3, a.treasury).transact(deployment.asset.functions.approve(deployment.escrow.address, 2**256 - 1))
    return Sandbox(w3=w3, deployment=deployment, admin=admin, a=a, b=b, c=c, bank=bank)


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
