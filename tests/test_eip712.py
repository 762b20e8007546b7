"""The Python typed data signs exactly what the contracts verify."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from collab_py.chain import eip712
from collab_py.domain.drafts import ContractDraft
from support import World, h

SIGNER = Account.create()


def test_digital_code_digest_matches_the_registry(world: World, draft: ContractDraft) -> None:
    manifest = world.deployment.manifest
    data = eip712.digital_code(manifest.chain_id, manifest.registry, draft.contract_no, 2, draft.doc_hash)
    on_chain = world.deployment.registry.functions.digitalCodeDigest(draft.contract_no, 2, draft.doc_hash).call()
    assert eip712.typed_digest(data) == on_chain


def test_assignment_digest_matches_the_escrow(world: World) -> None:
    manifest = world.deployment.manifest
    data = eip712.assignment_confirmation(manifest.chain_id, manifest.escrow, h("voucher"), 3, h("account"))
    on_chain = world.deployment.escrow.functions.assignmentDigest(h("voucher"), 3, h("account")).call()
    assert eip712.typed_digest(data) == on_chain


def test_domains_differ_by_chain_and_contract(world: World, draft: ContractDraft) -> None:
    manifest = world.deployment.manifest
    base = eip712.digital_code(manifest.chain_id, manifest.registry, draft.contract_no, 2, draft.doc_hash)
    other_chain = eip712.digital_code(manifest.chain_id + 1, manifest.registry, draft.contract_no, 2, draft.doc_hash)
    other_registry = eip712.digital_code(manifest.chain_id, manifest.escrow, draft.contract_no, 2, draft.doc_hash)
    digests = {eip712.typed_digest(d) for d in (base, other_chain, other_registry)}
    assert len(digests) == 3


words = st.binary(min_size=32, max_size=32)
orgs = st.integers(min_value=0, max_value=2**32 - 1)
contracts = st.binary(min_size=20, max_size=20).map(to_checksum_address)


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """Any of the four typed-data documents, for any chain, contract and field values."""
    chain_id, contract = draw(st.integers(min_value=1, max_value=2**64)), draw(contracts)
    return draw(
        st.one_of(
            st.builds(eip712.digital_code, st.just(chain_id), st.just(contract), words, orgs, words),
            st.builds(
                eip712.stage_feedback, st.just(chain_id), st.just(contract), contract_no=words, org_id=orgs,
                doc_hash=words, stage_index=st.integers(min_value=0, max_value=255), spec_hash=words,
                result_hash=words,
            ),
            st.builds(eip712.assignment_confirmation, st.just(chain_id), st.just(contract), words, orgs, words),
            st.builds(eip712.invoice, st.just(chain_id), st.just(contract), words, words),
        )
    )  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(documents())
def test_digest_and_signature_are_eth_accounts(data: dict[str, Any]) -> None:
    signable = encode_typed_data(full_message=data)
    assert eip712.typed_digest(data) == keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert eip712.sign_typed(SIGNER, data) == bytes(SIGNER.sign_message(signable).signature)


@pytest.mark.parametrize(
    ("field", "value"),
    [("orgId", 2**32), ("orgId", -1), ("orgId", True), ("contractNo", b"\x01" * 31), ("docHash", "0x" + "00" * 32)],
)
def test_values_outside_their_type_are_refused(field: str, value: Any) -> None:
    data = eip712.digital_code(1, to_checksum_address(b"\x01" * 20), b"\x01" * 32, 2, b"\x02" * 32)
    data["message"][field] = value
    with pytest.raises(ValueError, match=r"out of range|is not a"):
        eip712.typed_digest(data)
