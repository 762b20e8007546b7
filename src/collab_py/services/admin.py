"""Consortium governance (S1): registering and suspending orgs, binding accounts to departments."""

from __future__ import annotations

from typing import Unpack

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department, OrgKind
from collab_py.chain.transactor import Transactor
from collab_py.domain.models import AssetRecord, MemberRecord, OrgRecord
from collab_py.services.base import PreparedStep, Service, ServiceOptions


class AdminService(Service):
    """The registry's owner (governance). It is no member org: ``org_id`` is 0."""

    def __init__(
        self, deployment: Deployment, account: LocalAccount | Transactor, **options: Unpack[ServiceOptions]
    ) -> None:
        options.setdefault("org_id", 0)
        options.setdefault("label", "governance")
        super().__init__(deployment, account, **options)

    def register_org(
        self, org_id: int, name: str, kind: OrgKind, treasury: ChecksumAddress, encryption_key: bytes
    ) -> OrgRecord:
        """Registers member org ``org_id`` (S1.1)."""
        call = self.deployment.registry.functions.registerOrg(org_id, name, int(kind), treasury, encryption_key)
        self.execute(PreparedStep("registerOrg", "S1.1", call, 250_000))
        return self.reader.org(org_id)

    def set_org_active(self, org_id: int, active: bool) -> OrgRecord:
        """Suspends (``active`` False) or reinstates org ``org_id`` (S1.1)."""
        call = self.deployment.registry.functions.setOrgActive(org_id, active)
        self.execute(PreparedStep("setOrgActive", "S1.1", call, 60_000))
        return self.reader.org(org_id)

    def set_treasury(self, org_id: int, treasury: ChecksumAddress) -> OrgRecord:
        """Moves org ``org_id``'s treasury."""
        call = self.deployment.registry.functions.setTreasury(org_id, treasury)
        self.execute(PreparedStep("setTreasury", "S1.1", call, 60_000))
        return self.reader.org(org_id)

    def set_encryption_key(self, org_id: int, department: Department, encryption_key: bytes) -> OrgRecord:
        """Sets the encryption key of org ``org_id`` (``department`` NONE) or of one of its departments."""
        call = self.deployment.registry.functions.setEncryptionKey(org_id, int(department), encryption_key)
        self.execute(PreparedStep("setEncryptionKey", "S1.1", call, 120_000))
        return self.reader.org(org_id)

    def bind_account(self, account: ChecksumAddress, org_id: int, department: Department) -> MemberRecord:
        """Binds ``account`` to ``department`` of org ``org_id`` (S1.2)."""
        call = self.deployment.registry.functions.bindAccount(account, org_id, int(department))
        self.execute(PreparedStep("bindAccount", "S1.2", call, 80_000))
        return self.reader.member(account)

    def unbind_account(self, account: ChecksumAddress) -> MemberRecord:
        """Unbinds ``account`` from its org (a retired or compromised key)."""
        call = self.deployment.registry.functions.unbindAccount(account)
        self.execute(PreparedStep("unbindAccount", "S1.2", call, 60_000))
        return self.reader.member(account)

    def set_asset_accepted(self, asset: ChecksumAddress, accepted: bool) -> AssetRecord:
        """Accepts ``asset`` as the asset of new contracts, or stops accepting it (contracts proposed keep theirs)."""
        call = self.deployment.registry.functions.setAssetAccepted(asset, accepted)
        self.execute(PreparedStep("setAssetAccepted", "S1.1", call, 120_000))
        return self.reader.asset(asset)
