"""The e-contract as Party B sends it to Party A (S2.1, S2.5): the document and its machine-readable terms in one
canonical JSON, whose keccak256 is the document hash both parties sign.

Party A recomputes everything from the bytes it received: the document hash, the terms (parties, asset, every stage's
specification hash and amount, total) and their EIP-712 hash, and compares them with what Party B registered on chain,
refusing with :class:`TermsMismatch` naming the first field that differs, before it signs anything.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from collab_py.chain import eip712
from collab_py.domain.types import contract_number
from collab_py.exceptions import CollabError

#: The format tag every e-contract document carries.
FORMAT = "collab/e-contract/1"
#: Most stages one contract may have (``ContractRegistry.MAX_STAGES``).
MAX_STAGES = 64


class EContractError(CollabError):
    """An e-contract document that cannot be read: not JSON, not this format, invalid terms, not canonical."""


class TermsMismatch(CollabError):
    """The e-contract received differs from what Party B registered on chain (S2.5): ``field`` names the first
    difference (``asset``, ``stages[1].amount``, ...)."""

    def __init__(self, field: str, document: object, chain: object) -> None:
        self.field = field
        super().__init__(f"{field}: the document says {document}, the chain holds {chain}")


class EContractStage(BaseModel):
    """One stage: its deliverable specification (text) and amount in the asset's base units."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specification: str = Field(min_length=1, max_length=65_536)
    amount: int = Field(gt=0, lt=2**128)

    @property
    def spec_hash(self) -> bytes:
        """keccak256 of the specification: what goes on chain."""
        return keccak(text=self.specification)

    @field_validator("amount", mode="before")
    @classmethod
    def _amount(cls, value: Any) -> Any:
        """Amounts travel as decimal strings (exact in every JSON reader); integers are accepted when built here."""
        if isinstance(value, str):
            if not value.isdigit() or (len(value) > 1 and value[0] == "0"):
                raise ValueError("an amount is a whole number of base units, written without sign or leading zeros")
            return int(value)
        return value

    @field_serializer("amount")
    def _amount_text(self, amount: int) -> str:
        return str(amount)


class EContract(BaseModel):
    """An e-contract document with its terms. ``document()`` gives its canonical bytes; their keccak256 is
    ``doc_hash``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: Literal["collab/e-contract/1"] = "collab/e-contract/1"
    number: str
    party_a: int = Field(gt=0, lt=2**32)
    party_b: int = Field(gt=0, lt=2**32)
    asset: str
    text: str = Field(max_length=4_194_304)
    stages: tuple[EContractStage, ...] = Field(min_length=1, max_length=MAX_STAGES)

    @field_validator("number")
    @classmethod
    def _number(cls, number: str) -> str:
        contract_number(number)  # raises InvalidContractNumber, a ValueError
        return number

    @field_validator("asset")
    @classmethod
    def _asset(cls, asset: str) -> str:
        if not is_address(asset):
            raise ValueError("not an address")
        return to_checksum_address(asset)

    @model_validator(mode="after")
    def _total(self) -> EContract:
        """The total is a ``uint128`` on chain (and in the terms both parties sign)."""
        if self.total >= 2**128:
            raise ValueError("the stage amounts add up to more than a uint128")
        return self

    @classmethod
    def from_document(cls, raw: bytes) -> EContract:
        """Reads a document made by :meth:`document`, refusing anything else (another format, a document
        re-encoded on its way, invalid terms) with :class:`EContractError`."""
        try:
            econtract = cls.model_validate(json.loads(raw.decode("utf-8")))
        except (UnicodeDecodeError, ValueError, RecursionError) as error:
            raise EContractError(f"not a {FORMAT} document: {_reason(error)}") from None
        if econtract.document() != raw:
            raise EContractError(f"not a canonical {FORMAT} document (re-encoded on its way?)")
        return econtract

    def document(self) -> bytes:
        """The canonical bytes: UTF-8 JSON with sorted keys and no insignificant whitespace."""
        return json.dumps(
            self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()

    @property
    def contract_no(self) -> bytes:
        """The contract number as ``bytes32``."""
        return contract_number(self.number)

    @property
    def doc_hash(self) -> bytes:
        """keccak256 of the canonical document: what both parties sign."""
        return keccak(self.document())

    @property
    def total(self) -> int:
        """The sum of the stage amounts."""
        return sum(stage.amount for stage in self.stages)

    def stage_terms(self) -> list[tuple[bytes, int]]:
        """Each stage's ``(specHash, amount)``, as the contracts take them."""
        return [(stage.spec_hash, stage.amount) for stage in self.stages]

    def terms(self) -> dict[str, Any]:
        """The EIP-712 ``Terms`` both parties sign."""
        return eip712.terms_message(self.party_a, self.party_b, to_checksum_address(self.asset), self.stage_terms())

    @property
    def terms_hash(self) -> bytes:
        """The EIP-712 hash of :meth:`terms`."""
        return eip712.terms_hash(self.terms())

    def check_against(
        self,
        *,
        contract_no: bytes,
        party_a: int,
        party_b: int,
        asset: str,
        stages: Sequence[tuple[bytes, int]],
        doc_hash: bytes,
        terms_hash: bytes,
    ) -> None:
        """Raises :class:`TermsMismatch` naming the first field in which this document differs from a contract as the
        chain registered it (Party A's check before it countersigns, S2.3, S2.5)."""
        compared: list[tuple[str, object, object]] = [
            ("number", self.contract_no, contract_no),
            ("party_a", self.party_a, party_a),
            ("party_b", self.party_b, party_b),
            ("asset", self.asset, to_checksum_address(asset)),
            ("stages", f"{len(self.stages)} stages", f"{len(stages)} stages"),
        ]
        pairs = zip(
            self.stage_terms(), stages, strict=False
        )  # a differing count is reported above, then stage by stage
        for index, ((spec, amount), (chain_spec, chain_amount)) in enumerate(pairs):
            compared.append((f"stages[{index}].specification", spec, chain_spec))
            compared.append((f"stages[{index}].amount", amount, chain_amount))
        compared.append(("document hash", self.doc_hash, doc_hash))
        compared.append(("terms hash", self.terms_hash, terms_hash))
        for field, mine, theirs in compared:
            if mine != theirs:
                raise TermsMismatch(field, _show(mine), _show(theirs))


def _show(value: object) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _reason(error: Exception) -> str:
    """What is wrong, without echoing the document's content."""
    if isinstance(error, ValidationError):
        return "; ".join(f"{'.'.join(map(str, item['loc'])) or 'document'}: {item['msg']}" for item in error.errors())
    return type(error).__name__
