"""E-contract documents as Party B drafts them off chain: number, text and stages; with the parties and the asset
they become the :class:`~collab_py.domain.econtract.EContract` both parties sign."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak

from collab_py.domain.econtract import EContract, EContractStage
from collab_py.domain.types import contract_number


@dataclass(frozen=True)
class StageDraft:
    """One stage of an e-contract document: its deliverable specification and amount (in token units)."""

    specification: str
    amount: int

    @property
    def spec_hash(self) -> bytes:
        """Hash of the deliverable specification, as registered on chain."""
        return keccak(text=self.specification)

    def terms(self) -> tuple[bytes, int]:
        """The ``StageTerms`` tuple the contracts take."""
        return (self.spec_hash, self.amount)


@dataclass(frozen=True)
class ContractDraft:
    """Party B's e-contract document (off chain) with its number and stages."""

    number: str
    text: str
    stages: tuple[StageDraft, ...]

    @property
    def contract_no(self) -> bytes:
        """The contract number as ``bytes32``."""
        return contract_number(self.number)

    def econtract(self, *, party_a: int, party_b: int, asset: str) -> EContract:
        """The e-contract Party B registers and sends to Party A: this draft with its parties and asset."""
        return EContract(
            number=self.number,
            party_a=party_a,
            party_b=party_b,
            asset=asset,
            text=self.text,
            stages=tuple(
                EContractStage(specification=stage.specification, amount=stage.amount) for stage in self.stages
            ),
        )

    @property
    def total(self) -> int:
        """Sum of the stage amounts."""
        return sum(stage.amount for stage in self.stages)
