"""Static analysis: slither on the contracts passes its triage, and the checker's gate (untriaged, stale) works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from collab_py.chain.build import project_root
from collab_py.devnet import slither as checker


def _contract(name: str, file: str) -> dict[str, Any]:
    return {"type": "contract", "name": name, "source_mapping": {"filename_relative": file, "lines": [10, 90]}}


def _function(contract: str, name: str, signature: str, file: str, lines: list[int]) -> dict[str, Any]:
    return {
        "type": "function",
        "name": name,
        "source_mapping": {"filename_relative": file, "lines": lines},
        "type_specific_fields": {"parent": _contract(contract, file), "signature": signature},
    }


def _node(function: dict[str, Any], line: int) -> dict[str, Any]:
    file = function["source_mapping"]["filename_relative"]
    return {
        "type": "node",
        "name": "external call",
        "source_mapping": {"filename_relative": file, "lines": [line]},
        "type_specific_fields": {"parent": function},
    }


def _result(check: str, impact: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "check": check,
        "impact": impact,
        "confidence": "Medium",
        "description": f"{check} finding\nmore detail",
        "elements": elements,
    }


def _report(*results: dict[str, Any]) -> dict[str, Any]:
    return {"success": True, "error": None, "results": {"detectors": list(results)}}


ESCROW = "contracts/PaymentEscrow.sol"
FREEZE = _function("PaymentEscrow", "freeze", "freeze(bytes32,address)", ESCROW, [171, 172, 194])
RELEASE = _function("PaymentEscrow", "release", "release(bytes32,uint8)", ESCROW, [266, 278])
SYNTHETIC = _report(
    _result("arbitrary-send-erc20", "High", [FREEZE, _node(FREEZE, 191)]),
    _result("reentrancy-no-eth", "Medium", [RELEASE, _node(RELEASE, 277)]),
    _result("timestamp", "Low", [RELEASE]),
    # only in a dependency: ignored
    _result(
        "incorrect-exp",
        "High",
        [_function("Math", "mulDiv", "mulDiv(uint256,uint256,uint256)", "node_modules/@oz/Math.sol", [1, 2])],
    ),
    # only in a test mock: out of scope
    _result(
        "unused-return",
        "Medium",
        [
            _function(
                "ERC1271Wallet", "isValidSignature", "isValidSignature(bytes32,bytes)", "contracts/mocks/W.sol", [3]
            )
        ],
    ),
)

REASON = "the from address is the payer's registered treasury, passed by the registry only"
TRIAGE = f"""
[[finding]]
detector = "arbitrary-send-erc20"
contract = "PaymentEscrow"
function = "freeze"
reason = "{REASON}"

[[finding]]
detector = "unused-return"
contract = "PaymentEscrow"
function = "requestPayment"
reason = "a finding that slither no longer reports: this entry is stale and must fail the check"
"""


def _run_checker(tmp_path: Path, report: dict[str, Any], triage: str) -> int:
    (tmp_path / "report.json").write_text(json.dumps(report))
    (tmp_path / "triage.toml").write_text(triage)
    return int(
        checker.main(["--slither-json", str(tmp_path / "report.json"), "--triage", str(tmp_path / "triage.toml")])
    )


def test_checker_reports_untriaged_medium_and_stale_entry(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run_checker(tmp_path, SYNTHETIC, TRIAGE) == 1
    out = capsys.readouterr().out
    assert "UNTRIAGED Medium: reentrancy-no-eth at PaymentEscrow.release (contracts/PaymentEscrow.sol#266-278)" in out
    assert "STALE triage entry: unused-return in PaymentEscrow.requestPayment matches no finding" in out
    assert "High/Medium: 2, triaged 1, untriaged 1" in out
    assert "findings only in dependencies (node_modules) or mocks, ignored: 2" in out
    # the triaged High passes, the Low is listed but not gated, the mock is out of scope
    rows = {(*line.split()[:3], line.split()[-1]) for line in out.splitlines() if line.split()}
    assert ("High", "Medium", "arbitrary-send-erc20", "triaged") in rows
    assert ("Medium", "Medium", "reentrancy-no-eth", "UNTRIAGED") in rows
    assert ("Low", "Medium", "timestamp", "-") in rows
    assert "(High 1, Medium 1, Low 1, Informational 0, Optimization 0)" in out
    assert "ERC1271Wallet" not in out
    assert "FAILED" in out


def test_checker_evaluates_each_failure(tmp_path: Path) -> None:
    (tmp_path / "triage.toml").write_text(TRIAGE)
    findings, ignored = checker.findings_from_report(SYNTHETIC)
    outcome = checker.evaluate(findings, checker.load_triage(tmp_path / "triage.toml"), ignored)
    assert [(f.detector, f.contract, f.function) for f in outcome.untriaged] == [
        ("reentrancy-no-eth", "PaymentEscrow", "release")
    ]
    assert [str(entry) for entry in outcome.stale] == ["unused-return in PaymentEscrow.requestPayment"]
    assert not outcome.ok


def test_checker_passes_when_gated_findings_are_triaged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = _report(*SYNTHETIC["results"]["detectors"][:1], SYNTHETIC["results"]["detectors"][2])
    triage = TRIAGE.split("[[finding]]")[1]
    assert _run_checker(tmp_path, report, "[[finding]]" + triage) == 0
    out = capsys.readouterr().out
    assert "OK:" in out
    assert "UNTRIAGED" not in out


def test_triage_matches_by_signature_not_lines(tmp_path: Path) -> None:
    moved = _function("PaymentEscrow", "freeze", "freeze(bytes32,address)", ESCROW, [500, 520])
    findings, _ = checker.findings_from_report(_report(_result("arbitrary-send-erc20", "High", [moved])))
    by_signature = TRIAGE.split("[[finding]]")[1].replace('"freeze"', '"freeze(bytes32,address)"')
    (tmp_path / "triage.toml").write_text("[[finding]]" + by_signature)
    assert checker.evaluate(findings, checker.load_triage(tmp_path / "triage.toml")).ok
    (tmp_path / "triage.toml").write_text("[[finding]]" + by_signature.replace("address)", "uint256)"))
    assert not checker.evaluate(findings, checker.load_triage(tmp_path / "triage.toml")).ok


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ('detector = "x"\ncontract = "C"\nfunction = "f"\nreason = "fine"', "the reason must explain why"),
        ('detector = "x"\ncontract = "C"\nreason = "' + REASON + '"', "missing keys ['function']"),
        ('detector = "x"\ncontract = "C"\nfunction = "f"\nfucntion = "f"\nreason = "' + REASON + '"', "unknown keys"),
    ],
)
def test_triage_file_is_validated(tmp_path: Path, entry: str, message: str) -> None:
    (tmp_path / "triage.toml").write_text(f"[[finding]]\n{entry}\n")
    with pytest.raises(checker.CheckError, match=message.replace("[", r"\[").replace("]", r"\]")):
        checker.load_triage(tmp_path / "triage.toml")


@pytest.mark.slow
def test_slither_finds_nothing_untriaged_on_the_contracts() -> None:
    """Runs slither through the offline compiler (about 20 s): every High/Medium finding is triaged, none is stale."""
    done = subprocess.run(
        [sys.executable, "-m", "collab_py.devnet.slither"],
        cwd=project_root(),
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "High/Medium:" in done.stdout
    assert "untriaged 0" in done.stdout
    assert "0 stale" in done.stdout
