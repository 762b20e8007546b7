"""Decoding of revert data into named exceptions."""

from __future__ import annotations

from datetime import UTC

import pytest
from eth_abi import encode
from eth_utils import function_signature_to_4byte_selector as selector
from eth_utils.abi import collapse_if_tuple

from collab_py.chain import errors, errors_gen
from collab_py.chain.build import load_artifact
from collab_py.chain.enums import Department
from collab_py.domain.presentation import refusal_text
from collab_py.domain.types import contract_number


def test_custom_error_becomes_its_named_exception_with_arguments() -> None:
    account = "0x" + "ab" * 20
    data = selector("WrongDepartment(address,uint8,uint8)") + encode(["address", "uint8", "uint8"], [account, 2, 1])
    error = errors.default_decoder().decode(data)
    assert isinstance(error, errors.WrongDepartment)
    assert isinstance(error, errors.ContractError)
    assert error.args_by_name["expected"] is Department.FINANCE
    assert error.args_by_name["actual"] is Department.BUSINESS
    assert str(error) == (
        "WrongDepartment(account=0xABaBaBaBABabABabAbAbABAbABabababaBaBABaB, expected=Department.FINANCE, "
        "actual=Department.BUSINESS)"
    )


def test_openzeppelin_errors_are_known() -> None:
    data = selector("ERC20InsufficientAllowance(address,uint256,uint256)") + encode(
        ["address", "uint256", "uint256"], ["0x" + "01" * 20, 5, 9]
    )
    error = errors.default_decoder().decode(data)
    assert isinstance(error, errors.ERC20InsufficientAllowance)
    assert error.args_by_name["needed"] == 9


def test_reason_strings_panics_and_unknown_data() -> None:
    decoder = errors.default_decoder()
    reason = decoder.decode(selector("Error(string)") + encode(["string"], ["no"]))
    assert isinstance(reason, errors.RevertedWithReason)
    assert str(reason) == "RevertedWithReason: no"
    panic = decoder.decode(selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert isinstance(panic, errors.Panic)
    assert panic.args_by_name == {"code": 0x11}
    assert isinstance(decoder.decode("0xdeadbeef"), errors.UnknownRevert)
    assert isinstance(decoder.decode(None), errors.UnknownRevert)


def test_unknown_error_names_are_not_invented() -> None:
    with pytest.raises(AttributeError):
        _ = errors.WrongDepartmnet


def test_every_error_of_the_contracts_is_a_class_the_decoder_names() -> None:
    for name in errors_gen.SOURCES:
        for item in load_artifact(name).abi:
            if item["type"] != "error":
                continue
            error = getattr(errors, item["name"])
            assert issubclass(error, errors.ContractError)
            assert error.error_name == item["name"]
            signature = f"{item['name']}({','.join(collapse_if_tuple(arg) for arg in item['inputs'])})"
            assert errors.BY_SELECTOR[selector(signature)][0] is error


def test_generated_errors_match_the_compiled_contracts() -> None:
    """Fails when the contracts' errors changed and ``make errors`` was not run."""
    assert errors_gen.TARGET.read_text() == errors_gen.current(), (
        f"{errors_gen.TARGET.name} is stale: run `make errors` (python -m collab_py.chain.errors_gen)"
    )


def test_a_refusal_is_shown_with_its_contract_number_amounts_and_times_as_people_read_them() -> None:
    refusal = errors.PaymentExceedsUnpaid({"contractNo": contract_number("HT-1"), "amount": 100051, "unpaid": 100050})
    assert refusal_text(refusal, 2) == "PaymentExceedsUnpaid(contractNo=HT-1, amount=1000.51, unpaid=1000.50)"
    assert refusal_text(refusal, None) == "PaymentExceedsUnpaid(contractNo=HT-1, amount=100051, unpaid=100050)"
    expired = errors.PaymentKeyExpired({"voucherId": b"\x01" * 32, "expiry": 1_700_000_000})
    shown = refusal_text(expired, 2, UTC)
    assert shown == f"PaymentKeyExpired(voucherId=0x{'01' * 32}, expiry=2023-11-14 22:13:20 UTC)"
    assert refusal_text(errors.InvalidAmount(), 2) == "InvalidAmount()"
