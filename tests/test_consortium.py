"""S1: orgs, suspension, departments and governance."""

from __future__ import annotations

import pytest
from eth_account import Account

from collab_py.chain import errors
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.transactor import Transactor
from collab_py.devnet.parties import fund_on_dev_node
from collab_py.domain.crypto import EncryptionKey
from support import World


def test_registered_org_is_readable(world: World) -> None:
    org, name = world.deployment.registry.functions.orgOf(world.a.org_id).call()
    assert org == (world.a.treasury.address, OrgKind.ENTERPRISE, True)
    assert name == "Party A Holdings"
    key = world.deployment.registry.functions.encryptionKeyOf(world.a.org_id, Department.FINANCE).call()
    assert key == world.a.encryption_key.public_key


def test_members_are_bound_to_their_departments(world: World) -> None:
    registry = world.deployment.registry.functions
    assert registry.memberOf(world.b.account(Department.FINANCE).address).call() == (2, Department.FINANCE)
    assert registry.memberOf(world.bank.account(Department.OPERATOR).address).call() == (900, Department.OPERATOR)
    assert registry.memberOf(Account.create().address).call() == (0, Department.NONE)


def test_department_key_takes_precedence(world: World) -> None:
    finance_key = EncryptionKey().public_key
    world.admin.transact(
        world.deployment.registry.functions.setEncryptionKey(world.b.org_id, Department.FINANCE, finance_key)
    )
    registry = world.deployment.registry.functions
    assert registry.encryptionKeyOf(world.b.org_id, Department.FINANCE).call() == finance_key
    assert registry.encryptionKeyOf(world.b.org_id, Department.BUSINESS).call() == world.b.encryption_key.public_key


KEY = EncryptionKey(b"\x01" * 32).public_key


@pytest.mark.parametrize(
    ("org_id", "name", "kind", "key", "error"),
    [
        (0, "Zero", OrgKind.ENTERPRISE, KEY, errors.InvalidOrgId),
        (1, "Again", OrgKind.ENTERPRISE, KEY, errors.OrgAlreadyRegistered),
        (7, "", OrgKind.ENTERPRISE, KEY, errors.InvalidOrgName),
        (7, "No kind", OrgKind.NONE, KEY, errors.InvalidOrgKind),
        (7, "Short key", OrgKind.ENTERPRISE, b"\x02" * 32, errors.InvalidEncryptionKey),
        (7, "Bad prefix", OrgKind.ENTERPRISE, b"\x04" * 33, errors.InvalidEncryptionKey),
    ],
    ids=["zero-id", "duplicate", "no-name", "no-kind", "short-key", "bad-prefix"],
)
def test_register_org_refusals(
    world: World, org_id: int, name: str, kind: OrgKind, key: bytes, error: type[errors.ContractError]
) -> None:
    call = world.deployment.registry.functions.registerOrg(org_id, name, kind, Account.create().address, key)
    with pytest.raises(error):
        world.admin.transact(call)


def test_register_org_refuses_zero_treasury(world: World) -> None:
    call = world.deployment.registry.functions.registerOrg(
        7, "No treasury", OrgKind.ENTERPRISE, "0x" + "00" * 20, EncryptionKey().public_key
    )
    with pytest.raises(errors.InvalidTreasury):
        world.admin.transact(call)


def test_only_governance_administers(world: World) -> None:
    outsider = world.tx(world.a, Department.BUSINESS)
    registry = world.deployment.registry.functions
    with pytest.raises(errors.OwnableUnauthorizedAccount) as refusal:
        outsider.transact(registry.setOrgActive(world.b.org_id, False))
    assert refusal.value.args_by_name["account"] == outsider.address
    with pytest.raises(errors.OwnableUnauthorizedAccount):
        outsider.transact(registry.bindAccount(outsider.address, world.b.org_id, Department.FINANCE))


def test_department_must_fit_the_org_kind(world: World) -> None:
    registry = world.deployment.registry.functions
    with pytest.raises(errors.InvalidDepartment) as refusal:
        world.admin.transact(registry.bindAccount(Account.create().address, world.a.org_id, Department.OPERATOR))
    assert refusal.value.args_by_name == {"kind": OrgKind.ENTERPRISE, "department": Department.OPERATOR}
    with pytest.raises(errors.InvalidDepartment):
        world.admin.transact(registry.bindAccount(Account.create().address, world.bank.org_id, Department.FINANCE))
    with pytest.raises(errors.UnknownOrg):
        world.admin.transact(registry.bindAccount(Account.create().address, 42, Department.FINANCE))


def test_an_account_acts_for_one_org(world: World) -> None:
    account = world.b.account(Department.BUSINESS).address
    with pytest.raises(errors.AccountAlreadyBound) as refusal:
        world.admin.transact(world.deployment.registry.functions.bindAccount(account, 1, Department.BUSINESS))
    assert refusal.value.args_by_name == {"account": account, "orgId": 2}


def test_unbound_account_loses_its_rights(world: World) -> None:
    registry = world.deployment.registry.functions
    account = world.b.account(Department.BUSINESS).address
    world.admin.transact(registry.unbindAccount(account))
    with pytest.raises(errors.NotAMember):
        world.admin.call(registry.requireMember(account, world.b.org_id, Department.BUSINESS))
    with pytest.raises(errors.NotAMember):
        world.admin.transact(registry.unbindAccount(account))


def test_suspension_blocks_every_member_and_reinstatement_restores(world: World) -> None:
    registry = world.deployment.registry.functions
    account = world.b.account(Department.BUSINESS).address
    world.admin.transact(registry.setOrgActive(world.b.org_id, False))
    with pytest.raises(errors.OrgSuspended) as refusal:
        world.admin.call(registry.requireMember(account, world.b.org_id, Department.BUSINESS))
    assert refusal.value.args_by_name == {"orgId": world.b.org_id}
    world.admin.transact(registry.setOrgActive(world.b.org_id, True))
    world.admin.call(registry.requireMember(account, world.b.org_id, Department.BUSINESS))


def test_treasury_can_move(world: World) -> None:
    registry = world.deployment.registry.functions
    new_treasury = Account.create().address
    world.admin.transact(registry.setTreasury(world.b.org_id, new_treasury))
    assert registry.treasuryOf(world.b.org_id).call() == new_treasury
    for consortium_contract in ("0x" + "00" * 20, world.deployment.registry.address, world.deployment.escrow.address):
        with pytest.raises(errors.InvalidTreasury):  # funds paid there would be stranded
            world.admin.transact(registry.setTreasury(world.b.org_id, consortium_contract))


def test_governance_lists_the_assets_of_new_contracts(world: World) -> None:
    registry = world.deployment.registry.functions
    asset = world.deployment.asset.address
    assert registry.isAssetAccepted(asset).call() is True  # the deployment's deposit token
    with pytest.raises(errors.InvalidAsset):  # an account without code is no ERC-20
        world.admin.transact(registry.setAssetAccepted(Account.create().address, True))
    with pytest.raises(errors.OwnableUnauthorizedAccount):
        world.tx(world.a, Department.BUSINESS).transact(registry.setAssetAccepted(asset, False))
    world.admin.transact(registry.setAssetAccepted(asset, False))
    assert registry.isAssetAccepted(asset).call() is False
    world.admin.transact(registry.setAssetAccepted(asset, True))
    changes = world.deployment.registry.events.AssetAcceptanceChanged().get_logs(from_block=0)
    assert [(event.args.asset, event.args.accepted) for event in changes][-2:] == [(asset, False), (asset, True)]


def test_governance_handover_is_two_step(world: World) -> None:
    registry = world.deployment.registry.functions
    multisig = Account.create()
    world.admin.transact(registry.transferOwnership(multisig.address))
    assert registry.owner().call() == world.admin.address
    fund_on_dev_node(world.w3, [multisig])
    new_governance = Transactor(world.w3, multisig)
    new_governance.transact(registry.acceptOwnership())
    assert registry.owner().call() == multisig.address
    with pytest.raises(errors.OwnableUnauthorizedAccount):
        world.admin.transact(registry.setOrgActive(world.b.org_id, False))
