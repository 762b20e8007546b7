"""The Python typed data signs exactly what the contracts verify."""

from __future__ import annotations

from collab_py import eip712
from collab_py.flow import ContractDraft
from conftest import World
from helpers import h


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
