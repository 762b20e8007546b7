"""E-contract documents as Party B drafts them off chain: number, text and stages."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils.crypto import keccak

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

    @property
    def doc_hash(self) -> bytes:
        """Hash of the document: what both parties sign."""
        return keccak(text=self.text)

    @property
    def total(self) -> int:
        """Sum of the stage amounts."""
        return sum(stage.amount for stage in self.stages)
