"""The Python typed data signs exactly what the contracts verify, and the e-contract document both parties sign the
hash of reads back as it was written.

Every typed data (``DigitalCode`` with its nested ``Terms`` and ``Stage[]``, ``StageFeedback``,
``AssignmentConfirmation``, ``Invoice``, ``JointSettlement``) is checked three ways: its digest and signature against
eth-account's ``encode_typed_data``; its type string against the contract's (whose hash is a constant of the verifying
contract's code); and its digest against the contract's own digest view (``digitalCodeDigest``, ``assignmentDigest``,
``invoiceDigest``, ``settlementDigest``; ``StageFeedback`` has no view: a feedback the service signs is accepted by
the registry in ``test_stages``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from eth_account import Account
from eth_account._utils.encode_typed_data.encoding_and_hashing import encode_type
from eth_account.messages import encode_typed_data
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.contract.contract import ContractFunction

from collab_py.chain import eip712
from collab_py.chain.build import load_artifact
from collab_py.devnet.flow import Flow
from collab_py.domain.drafts import ContractDraft
from collab_py.domain.econtract import EContract, EContractError, EContractStage
from support import World, econtract, proposed

SIGNER = Account.create()

#: The type strings as the contracts declare them (their keccak256 are the contracts' typehash constants).
SOLIDITY_TYPES = {
    "DigitalCode": "DigitalCode(bytes32 contractNo,uint32 orgId,bytes32 docHash,Terms terms)"
    "Stage(bytes32 specHash,uint128 amount)"
    "Terms(uint32 partyA,uint32 partyB,address asset,uint128 total,Stage[] stages)",
    "StageFeedback": "StageFeedback(bytes32 contractNo,uint32 orgId,bytes32 docHash,uint8 stageIndex,bytes32 specHash,"
    "uint128 amount,bytes32 resultHash)",
    "AssignmentConfirmation": "AssignmentConfirmation(bytes32 voucherId,uint32 assigneeOrg,bytes32 bankAccountHash)",
    "Invoice": "Invoice(bytes32 voucherId,bytes32 invoiceHash)",
    "JointSettlement": "JointSettlement(bytes32 voucherId,bool toBeneficiary)",
}
VERIFIED_BY = {
    "DigitalCode": "CollabRegistry",
    "StageFeedback": "CollabRegistry",
    "AssignmentConfirmation": "PaymentEscrow",
    "Invoice": "PaymentEscrow",
    "JointSettlement": "PaymentEscrow",
}

# ---------------------------------------------------------------------------------------------------- strategies
words = st.binary(min_size=32, max_size=32)
orgs = st.integers(min_value=0, max_value=2**32 - 1)
addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
chain_ids = st.integers(min_value=1, max_value=2**64)
#: Up to 8 stages whose amounts cannot overflow the uint128 total; none at all encodes too (the registry refuses it).
stage_lists = st.lists(st.tuples(words, st.integers(min_value=1, max_value=2**124)), max_size=8)
terms = st.builds(eip712.terms_message, orgs, orgs, addresses, stage_lists)


def digital_codes(chain_id: int, registry: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(eip712.digital_code, st.just(chain_id), st.just(registry), words, orgs, words, terms)


def stage_feedbacks(chain_id: int, registry: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        eip712.stage_feedback,
        st.just(chain_id),
        st.just(registry),
        contract_no=words,
        org_id=orgs,
        doc_hash=words,
        stage_index=st.integers(min_value=0, max_value=255),
        spec_hash=words,
        amount=st.integers(min_value=0, max_value=2**128 - 1),
        result_hash=words,
    )


def assignments(chain_id: int, escrow: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(eip712.assignment_confirmation, st.just(chain_id), st.just(escrow), words, orgs, words)


def invoices(chain_id: int, escrow: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(eip712.invoice, st.just(chain_id), st.just(escrow), words, words)


def settlements(chain_id: int, escrow: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(eip712.joint_settlement, st.just(chain_id), st.just(escrow), words, st.booleans())


TYPED_DATA = {
    "DigitalCode": digital_codes,
    "StageFeedback": stage_feedbacks,
    "AssignmentConfirmation": assignments,
    "Invoice": invoices,
    "JointSettlement": settlements,
}


@st.composite
def any_typed_data(draw: st.DrawFn) -> dict[str, Any]:
    """Any of the five typed data, for any chain, contract and field values."""
    build = draw(st.sampled_from(sorted(TYPED_DATA)))
    return draw(TYPED_DATA[build](draw(chain_ids), draw(addresses)))


# ---------------------------------------------------------------------------------------------------- eth-account
@settings(max_examples=300, deadline=None)
@given(any_typed_data())
def test_digest_and_signature_are_eth_accounts(data: dict[str, Any]) -> None:
    signable = encode_typed_data(full_message=data)
    assert eip712.typed_digest(data) == keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert eip712.sign_typed(SIGNER, data) == bytes(SIGNER.sign_message(signable).signature)


@pytest.mark.parametrize("primary", sorted(SOLIDITY_TYPES))
@settings(max_examples=5, deadline=None)
@given(draw=st.data())
def test_type_strings_are_the_contracts(primary: str, draw: st.DataObject) -> None:
    """The encoded type of each typed data is the contract's, and its hash is a constant of the verifying contract."""
    data = draw.draw(TYPED_DATA[primary](1, to_checksum_address(b"\x01" * 20)))
    assert data["primaryType"] == primary
    assert encode_type(primary, data["types"]) == SOLIDITY_TYPES[primary]
    code = load_artifact(VERIFIED_BY[primary]).deployed_bytecode.lower()
    assert keccak(text=SOLIDITY_TYPES[primary]).hex() in code


# ---------------------------------------------------------------------------------------------------- the contracts
#: Per digest view: the typed data drawn for the deployment and the view call that must give its digest.
OnChain = Callable[[st.DrawFn, World], tuple[dict[str, Any], ContractFunction]]


def _digital_code(draw: st.DrawFn, world: World) -> tuple[dict[str, Any], ContractFunction]:
    manifest = world.deployment.manifest
    data = draw(digital_codes(manifest.chain_id, manifest.registry))
    message = data["message"]
    view = world.deployment.registry.functions.digitalCodeDigest(
        message["contractNo"], message["orgId"], message["docHash"], eip712.terms_hash(message["terms"])
    )
    return data, view


def _escrow_view(strategy: Callable[[int, str], st.SearchStrategy[dict[str, Any]]], view: str) -> OnChain:
    def build(draw: st.DrawFn, world: World) -> tuple[dict[str, Any], ContractFunction]:
        manifest = world.deployment.manifest
        data = draw(strategy(manifest.chain_id, manifest.escrow))
        return data, world.deployment.escrow.functions[view](*data["message"].values())

    return build


ON_CHAIN: dict[str, OnChain] = {
    "digitalCodeDigest": _digital_code,
    "assignmentDigest": _escrow_view(assignments, "assignmentDigest"),
    "invoiceDigest": _escrow_view(invoices, "invoiceDigest"),
    "settlementDigest": _escrow_view(settlements, "settlementDigest"),
}


@pytest.mark.parametrize("view", sorted(ON_CHAIN))
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_digest_is_the_contracts_view(session_world: World, view: str, data: st.DataObject) -> None:
    """Read-only calls: the session's deployment, unchanged, serves every example."""
    typed, call = ON_CHAIN[view](data.draw, session_world)
    assert eip712.typed_digest(typed) == bytes(call.call())


def test_terms_hash_is_the_one_the_registry_computes(world: World, flow: Flow, draft: ContractDraft) -> None:
    document = proposed(flow, world, draft)
    agreement = flow.business(world.a).reader.agreement(draft.number)
    assert agreement.terms_hash == document.terms_hash == eip712.terms_hash(document.terms())
    assert agreement.doc_hash == document.doc_hash == keccak(document.document())
    assert agreement.total == document.total == sum(stage.amount for stage in draft.stages)


def test_domains_differ_by_chain_and_contract(world: World, draft: ContractDraft) -> None:
    manifest, document = world.deployment.manifest, econtract(world, draft)

    def code(chain_id: int, contract: str) -> bytes:
        data = eip712.digital_code(chain_id, contract, document.contract_no, 2, document.doc_hash, document.terms())
        return eip712.typed_digest(data)

    digests = {code(manifest.chain_id, manifest.registry), code(manifest.chain_id + 1, manifest.registry)}
    digests.add(code(manifest.chain_id, manifest.escrow))
    assert len(digests) == 3
    assert eip712.domain(eip712.REGISTRY_DOMAIN, 1, manifest.registry)["version"] == "2"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("orgId",), 2**32),
        (("orgId",), -1),
        (("orgId",), True),
        (("contractNo",), b"\x01" * 31),
        (("docHash",), "0x" + "00" * 32),
        (("terms", "total"), 2**128),
        (("terms", "stages"), {"specHash": b"\x03" * 32, "amount": 5}),
        (("terms", "stages", 0, "amount"), 2**128),
        (("terms", "stages", 0, "specHash"), b"\x03" * 33),
        (("terms", "asset"), "0x1234"),
    ],
)
def test_values_outside_their_type_are_refused(path: tuple[str | int, ...], value: Any) -> None:
    contract = to_checksum_address(b"\x01" * 20)
    terms = eip712.terms_message(1, 2, contract, [(b"\x03" * 32, 5)])
    data = eip712.digital_code(1, contract, b"\x01" * 32, 2, b"\x02" * 32, terms)
    container = data["message"]
    for key in path[:-1]:
        container = container[key]
    container[path[-1]] = value
    with pytest.raises(ValueError, match=r"out of range|is not a|Unknown format"):
        eip712.typed_digest(data)


def test_a_message_with_other_fields_than_its_type_is_refused() -> None:
    data = eip712.joint_settlement(1, to_checksum_address(b"\x01" * 20), b"\x01" * 32, True)
    data["message"]["amount"] = 1
    with pytest.raises(ValueError, match="the message's fields are not the type's"):
        eip712.typed_digest(data)
    del data["message"]["amount"], data["message"]["toBeneficiary"]
    with pytest.raises(ValueError, match="the message's fields are not the type's"):
        eip712.typed_digest(data)


# ---------------------------------------------------------------------------------------------------- the e-contract
#: Text that must never be echoed in an error about the document that carries it.
CONFIDENTIAL = "CONFIDENTIAL-7f3a price 12.5 per unit"

texts = st.text(max_size=200)
econtracts = st.builds(
    EContract,
    number=st.from_regex(r"\A[A-Z]{2}-[0-9]{1,8}\Z"),
    party_a=st.integers(1, 2**32 - 1),
    party_b=st.integers(1, 2**32 - 1),
    asset=addresses,
    text=texts,
    stages=st.lists(
        st.builds(EContractStage, specification=texts.filter(bool), amount=st.integers(1, 2**124)),
        min_size=1,
        max_size=6,
    ).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(econtracts)
def test_econtract_document_round_trips(document: EContract) -> None:
    raw = document.document()
    assert EContract.from_document(raw) == document
    assert document.doc_hash == keccak(raw)
    assert json.loads(raw)["format"] == "collab/e-contract/1"
    assert all(isinstance(stage["amount"], str) for stage in json.loads(raw)["stages"])  # exact in any JSON reader
    assert document.terms_hash == eip712.terms_hash(document.terms())


def _sample(world: World, draft: ContractDraft) -> dict[str, Any]:
    """The sample contract's document as JSON, its text and a specification carrying :data:`CONFIDENTIAL`."""
    content = json.loads(econtract(world, draft).document())
    content["text"] += " Lieferung für Party A, " + CONFIDENTIAL  # not ASCII: its escapes are not canonical
    content["stages"][0]["specification"] += " " + CONFIDENTIAL
    return content


def _canonical(content: Any) -> bytes:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


NON_CANONICAL: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "indented": lambda content: json.dumps(content, sort_keys=True, indent=1, ensure_ascii=False).encode(),
    "keys unsorted": lambda content: json.dumps(dict(reversed(content.items())), separators=(",", ":")).encode(),
    "ascii escapes": lambda content: json.dumps(content, sort_keys=True, separators=(",", ":")).encode(),
    "byte order mark": lambda content: b"\xef\xbb\xbf" + _canonical(content),
    "trailing newline": lambda content: _canonical(content) + b"\n",
    "amount as a number": lambda content: _canonical(
        {**content, "stages": [{**stage, "amount": int(stage["amount"])} for stage in content["stages"]]}
    ),
}


@pytest.mark.parametrize("how", sorted(NON_CANONICAL))
def test_econtract_refuses_a_document_that_is_not_canonical(world: World, draft: ContractDraft, how: str) -> None:
    content = _sample(world, draft)
    assert EContract.from_document(_canonical(content)).text.endswith(CONFIDENTIAL)  # the canonical form reads
    with pytest.raises(EContractError) as refusal:
        EContract.from_document(NON_CANONICAL[how](content))
    assert CONFIDENTIAL not in str(refusal.value)
    assert "price" not in str(refusal.value)


def _changed(path: tuple[str | int, ...], value: Any) -> Callable[[dict[str, Any]], Any]:
    def change(content: dict[str, Any]) -> Any:
        container: Any = content
        for key in path[:-1]:
            container = container[key]
        if value is KeyError:
            del container[path[-1]]
        else:
            container[path[-1]] = value
        return content

    return change


MALFORMED: dict[str, Callable[[dict[str, Any]], Any]] = {
    "another format": _changed(("format",), "collab/e-contract/2"),
    "no format": _changed(("format",), KeyError),
    "unknown field": _changed(("price",), CONFIDENTIAL),
    "no stages": _changed(("stages",), []),
    "65 stages": lambda content: {**content, "stages": content["stages"][:1] * 65},
    "zero amount": _changed(("stages", 0, "amount"), "0"),
    "negative amount": _changed(("stages", 1, "amount"), "-5"),
    "leading zero": _changed(("stages", 1, "amount"), "0100"),
    "decimal amount": _changed(("stages", 1, "amount"), "100.00"),
    "amount over uint128": _changed(("stages", 2, "amount"), str(2**128)),
    "total over uint128": _changed(("stages",), [{"specification": s, "amount": str(2**127)} for s in "ab"]),
    "empty specification": _changed(("stages", 2, "specification"), ""),
    "stage field unknown": _changed(("stages", 0, "deadline"), CONFIDENTIAL),
    "party 0": _changed(("party_a",), 0),
    "party over uint32": _changed(("party_b",), 2**32),
    "asset not an address": _changed(("asset",), CONFIDENTIAL),
    "number too long": _changed(("number",), "N" * 33),
    "text not a string": _changed(("text",), [CONFIDENTIAL]),
    "a list": lambda content: [content],
}


@pytest.mark.parametrize("how", sorted(MALFORMED))
def test_econtract_refuses_a_malformed_document_without_echoing_it(
    world: World, draft: ContractDraft, how: str
) -> None:
    with pytest.raises(EContractError) as refusal:
        EContract.from_document(_canonical(MALFORMED[how](_sample(world, draft))))
    assert CONFIDENTIAL not in str(refusal.value)
    assert str(refusal.value).startswith("not a")


@pytest.mark.parametrize(
    "raw",
    [b"", b"\xff\xfe", b"not json " + CONFIDENTIAL.encode(), b"[" * 100_000, b"null", b'"' + CONFIDENTIAL.encode()],
)
def test_econtract_refuses_what_is_not_json_without_echoing_it(raw: bytes) -> None:
    with pytest.raises(EContractError) as refusal:
        EContract.from_document(raw)
    assert CONFIDENTIAL not in str(refusal.value)
