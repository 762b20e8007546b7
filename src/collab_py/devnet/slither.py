"""Slither static analysis of the contracts, gated by a triage file.

``collab-slither`` (or ``python -m collab_py.devnet.slither``) runs slither (``slither-analyzer``, the ``dev`` extra) on
``contracts/`` through the offline compiler, prints every finding on our code (impact, detector, location, triage
status) and the counts per impact, and exits non-zero if a High or Medium finding is not triaged, or if a triage
entry matches no finding any more (stale). ``--slither-json PATH`` checks a saved slither JSON report instead of
running slither; ``--report PATH`` saves the report of this run.

Compilation. crytic-compile, slither's front end, calls ``solc --combined-json`` by default, which the offline
compiler (the checkout's ``.solcx/solc-v0.8.30``, a launcher for npm's solc-js registered by
``collab_py.chain.toolchain``) does not support. So this checker writes a solc standard-JSON input and makes
crytic-compile use its ``solc-json`` platform, which runs ``solc --standard-json --allow-paths <cwd>`` from the
repository root:

    slither <input.json> --compile-force-framework solc-json --solc .solcx/solc-v0.8.30 --fail-none --json <out>

The input names the sources (``urls``, read by the compiler relative to the repository root) and uses the build's
settings (``collab_py.chain.build``: remapping, optimizer, viaIR). viaIR is needed, not only faithful:
crytic-compile asks for bytecode, and without viaIR the legacy code generator fails with "stack too deep" on
ContractRegistry.

Scope. Every ``contracts/**/*.sol`` except ``contracts/mocks/`` (test-only tokens and wallets, never deployed) is
compiled; OpenZeppelin under ``node_modules`` is compiled as a dependency. slither runs unfiltered and this checker
keeps the findings with at least one element in our sources: slither's own ``--filter-paths node_modules`` would
also drop findings on our code that merely mention an OpenZeppelin function (e.g. a parameter shadowing
``ERC20.name()``). Findings only about dependencies are counted and ignored.

Triage file (``security/slither-triage.toml``): one ``[[finding]]`` table per accepted finding, with ``detector``
(slither's check name), ``contract`` and ``function`` (the function the finding is in; for findings about an event
or a state variable, its name; ``""`` for contract-level ones), and a written ``reason``. ``function`` may be a full
signature (``freeze(bytes32,address)``) to pick one overload. No line numbers, so edits elsewhere keep entries valid.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from collab_py.chain.build import OPTIMIZER_RUNS, REMAPPINGS, project_root, source_files
from collab_py.chain.toolchain import ensure_solc
from collab_py.exceptions import CollabError

#: The triage file, relative to the repository root.
TRIAGE_FILE = Path("security") / "slither-triage.toml"
#: Impacts that fail the check unless triaged.
GATED = ("High", "Medium")
IMPACTS = ("High", "Medium", "Low", "Informational", "Optimization")
#: What we analyse: the contracts, without the test-only mocks.
SOURCE_DIR = "contracts/"
EXCLUDED_DIRS = ("contracts/mocks/", "contracts/.cache/")
TRIAGE_KEYS = ("detector", "contract", "function", "reason")
MIN_REASON = 40


class CheckError(CollabError):
    """The check could not run: slither failed, or the triage file or report is invalid."""


@dataclass(frozen=True)
class Finding:
    """One slither result on our code, located by contract and function (or other member)."""

    detector: str
    impact: str
    confidence: str
    contract: str
    function: str
    signature: str
    file: str
    lines: str
    description: str
    element: str = ""

    @property
    def location(self) -> str:
        name = ".".join(part for part in (self.contract, self.function) if part) or "-"
        if self.element and self.element != self.function:
            name += f" [{self.element}]"
        return f"{name} ({self.file}#{self.lines})" if self.file else name


@dataclass(frozen=True)
class TriageEntry:
    """An accepted finding: which one, and why."""

    detector: str
    contract: str
    function: str
    reason: str

    @property
    def key(self) -> tuple[str, str, str]:
        return self.detector, self.contract, self.function

    def matches(self, finding: Finding) -> bool:
        if (self.detector, self.contract) != (finding.detector, finding.contract):
            return False
        wanted = finding.signature if "(" in self.function else finding.function
        return self.function == wanted

    def __str__(self) -> str:
        name = ".".join(part for part in (self.contract, self.function) if part) or "-"
        return f"{self.detector} in {name}"


@dataclass
class Outcome:
    """Findings on our code, which entry triages each, and what fails the check."""

    findings: list[Finding]
    triage: dict[Finding, TriageEntry]
    untriaged: list[Finding]
    stale: list[TriageEntry]
    ignored: int

    @property
    def ok(self) -> bool:
        return not self.untriaged and not self.stale


# --- running slither -------------------------------------------------------------------------------------------


def analysed_sources(root: Path) -> list[str]:
    """The source units we analyse: ``contracts/**/*.sol`` without the mocks, relative to ``root``."""
    sources = []
    for path in source_files(root):
        name = path.relative_to(root).as_posix()
        if not name.startswith(EXCLUDED_DIRS):
            sources.append(name)
    return sources


def standard_json_input(root: Path) -> dict[str, Any]:
    """The solc standard-JSON input for slither: our sources, with the build's remapping and optimizer settings."""
    sources = analysed_sources(root)
    if not sources:
        raise CheckError(f"no Solidity sources under {root / SOURCE_DIR}")
    return {
        "language": "Solidity",
        "sources": {name: {"urls": [name]} for name in sources},
        "settings": {
            "viaIR": True,
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "remappings": list(REMAPPINGS),
            # what crytic-compile reads: ABI, bytecode and source maps per contract, and each source's AST
            "outputSelection": {
                "*": {"*": ["abi", "devdoc", "userdoc", "evm.bytecode", "evm.deployedBytecode"], "": ["ast"]}
            },
        },
    }


def slither_command(input_path: Path, solc: Path, report_path: Path) -> list[str]:
    """The slither command line (run from the repository root)."""
    return [
        sys.executable,
        "-m",
        "slither",
        str(input_path),
        "--compile-force-framework",
        "solc-json",
        "--solc",
        str(solc),
        "--fail-none",
        "--disable-color",
        "--json",
        str(report_path),
    ]


def run_slither(root: Path) -> tuple[dict[str, Any], float]:
    """Runs slither on the contracts; returns its JSON report and the wall time of the run in seconds."""
    try:
        version = metadata.version("slither-analyzer")
    except metadata.PackageNotFoundError:
        raise CheckError("slither-analyzer is not installed: pip install -e '.[dev]'") from None
    solc = ensure_solc()
    with tempfile.TemporaryDirectory(prefix="slither-") as folder:
        # run from a folder that shows the compiler only the contracts and their npm dependencies: from the
        # repository root, crytic-compile would take foundry.toml for a Foundry project and fail
        for name in ("contracts", "node_modules"):
            (Path(folder) / name).symlink_to(root / name, target_is_directory=True)
        input_path = Path(folder) / "input.json"
        input_path.write_text(json.dumps(standard_json_input(root), indent=1))
        report_path = Path(folder) / "report.json"  # slither does not overwrite an existing file
        command = slither_command(input_path, solc, report_path)
        print(f"slither {version}, in {root}: {shlex.join(command)}", flush=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        start = time.monotonic()
        done = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, check=False)
        elapsed = time.monotonic() - start
        if not report_path.is_file():
            raise CheckError(f"slither exited with {done.returncode} and wrote no report:\n{_tail(done.stderr)}")
        report: dict[str, Any] = json.loads(report_path.read_text())
    if not report.get("success"):
        raise CheckError(f"slither failed: {report.get('error')}\n{_tail(done.stderr)}")
    return report, elapsed


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- reading the report ----------------------------------------------------------------------------------------


def _is_ours(filename: str) -> bool:
    return filename.startswith(SOURCE_DIR) and not filename.startswith(EXCLUDED_DIRS)


def _filename(element: dict[str, Any]) -> str:
    mapping = element.get("source_mapping") or {}
    return str(mapping.get("filename_relative") or "")


def _locate(element: dict[str, Any]) -> tuple[str, str, str]:
    """(contract, function or member, function signature) of a result element, from its parents."""
    contract = function = signature = ""
    chain = []
    node: dict[str, Any] | None = element
    while node is not None:
        chain.append(node)
        node = (node.get("type_specific_fields") or {}).get("parent")
    for item in chain:
        kind = item.get("type")
        if kind == "function" and not function:
            function = str(item.get("name", ""))
            signature = str((item.get("type_specific_fields") or {}).get("signature") or function)
        elif kind == "contract" and not contract:
            contract = str(item.get("name", ""))
    if not function and element is not chain[-1] and element.get("type") != "node":
        function = str(element.get("name", ""))  # an event, state variable, struct ... of the contract
        signature = function
    if element.get("type") == "contract":
        contract = str(element.get("name", ""))
    return contract, function, signature


def _lines(element: dict[str, Any]) -> str:
    lines = (element.get("source_mapping") or {}).get("lines") or []
    if not lines:
        return "?"
    return str(lines[0]) if len(lines) == 1 else f"{lines[0]}-{lines[-1]}"


def findings_from_report(report: dict[str, Any]) -> tuple[list[Finding], int]:
    """The findings with an element in our sources, and the number of the others (dependencies, mocks)."""
    try:
        results = (report.get("results") or {}).get("detectors") or []
    except AttributeError:
        raise CheckError("not a slither JSON report") from None
    findings: list[Finding] = []
    ignored = 0
    for result in results:
        elements = result.get("elements") or []
        ours = [element for element in elements if _is_ours(_filename(element))]
        if not ours:
            ignored += 1
            continue
        element = ours[0]
        contract, function, signature = _locate(element)
        description = str(result.get("description", "")).strip().splitlines()
        findings.append(
            Finding(
                detector=str(result["check"]),
                impact=str(result["impact"]),
                confidence=str(result.get("confidence", "")),
                contract=contract,
                function=function,
                signature=signature,
                file=_filename(element),
                lines=_lines(element),
                description=description[0] if description else "",
                element=str(element.get("name", "")) if element.get("type") not in ("function", "node") else "",
            )
        )
    findings.sort(key=lambda f: (_rank(f.impact), f.detector, f.contract, f.function, f.file, f.lines))
    return findings, ignored


def _rank(impact: str) -> int:
    return IMPACTS.index(impact) if impact in IMPACTS else len(IMPACTS)


# --- the triage file -------------------------------------------------------------------------------------------


def load_triage(path: Path) -> list[TriageEntry]:
    """The triage entries of ``path`` (none if it does not exist); raises :class:`CheckError` on a malformed one."""
    if not path.is_file():
        return []
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise CheckError(f"{path}: {error}") from None
    unknown = set(data) - {"finding"}
    if unknown:
        raise CheckError(f"{path}: unknown top-level keys {sorted(unknown)}; entries are [[finding]] tables")
    entries: list[TriageEntry] = []
    for number, table in enumerate(data.get("finding", []), start=1):
        where = f"{path}: finding #{number}"
        if not isinstance(table, dict):
            raise CheckError(f"{where}: not a table")
        missing = [key for key in TRIAGE_KEYS if key not in table]
        extra = sorted(set(table) - set(TRIAGE_KEYS))
        if missing or extra:
            raise CheckError(f"{where}: missing keys {missing}, unknown keys {extra}; keys are {list(TRIAGE_KEYS)}")
        if not all(isinstance(table[key], str) for key in TRIAGE_KEYS):
            raise CheckError(f"{where}: every value must be a string")
        entry = TriageEntry(**{key: table[key].strip() for key in TRIAGE_KEYS})
        if not entry.detector:
            raise CheckError(f"{where}: detector must not be empty")
        if len(" ".join(entry.reason.split())) < MIN_REASON:
            raise CheckError(f"{where} ({entry}): the reason must explain why (at least {MIN_REASON} characters)")
        if entry.key in {other.key for other in entries}:
            raise CheckError(f"{where}: {entry} is listed twice")
        entries.append(entry)
    return entries


# --- the verdict -----------------------------------------------------------------------------------------------


def evaluate(findings: list[Finding], entries: list[TriageEntry], ignored: int = 0) -> Outcome:
    """Matches findings to triage entries: untriaged High/Medium findings and stale entries fail the check."""
    triage: dict[Finding, TriageEntry] = {}
    used: set[int] = set()
    for finding in findings:
        for index, entry in enumerate(entries):
            if entry.matches(finding):
                triage[finding] = entry
                used.add(index)
                break
    untriaged = [f for f in findings if f.impact in GATED and f not in triage]
    stale = [entry for index, entry in enumerate(entries) if index not in used]
    return Outcome(findings=findings, triage=triage, untriaged=untriaged, stale=stale, ignored=ignored)


def render(outcome: Outcome) -> str:
    """The findings as a table, then the counts and what fails the check."""
    header = ("Impact", "Confidence", "Detector", "Location", "Triage")
    rows = [
        (
            f.impact,
            f.confidence,
            f.detector,
            f.location,
            "triaged" if f in outcome.triage else ("UNTRIAGED" if f.impact in GATED else "-"),
        )
        for f in outcome.findings
    ]
    lines = []
    if rows:
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(header, widths, strict=True)).rstrip())
        lines.append("  ".join("-" * width for width in widths))
        lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
        lines.append("")
    counts = Counter(f.impact for f in outcome.findings)
    summary = ", ".join(f"{impact} {counts.get(impact, 0)}" for impact in IMPACTS)
    lines.append(f"findings on contracts/ (mocks excluded): {len(outcome.findings)} ({summary})")
    lines.append(f"findings only in dependencies (node_modules) or mocks, ignored: {outcome.ignored}")
    gated = [f for f in outcome.findings if f.impact in GATED]
    lines.append(
        f"High/Medium: {len(gated)}, triaged {len(gated) - len(outcome.untriaged)}, untriaged {len(outcome.untriaged)}"
    )
    lines.append(f"triage entries: {len(set(outcome.triage.values()))} in use, {len(outcome.stale)} stale")
    for finding in outcome.untriaged:
        lines.append(f"UNTRIAGED {finding.impact}: {finding.detector} at {finding.location}: {finding.description}")
    for entry in outcome.stale:
        lines.append(f"STALE triage entry: {entry} matches no finding; remove it or update it")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: 0 if every High/Medium finding is triaged and no entry is stale, 1 if not, 2 on errors."""
    parser = argparse.ArgumentParser(prog="collab-slither", description=__doc__.split("\n")[0])
    parser.add_argument("--triage", type=Path, help=f"triage file (TOML; default: {TRIAGE_FILE} in the repository)")
    parser.add_argument("--slither-json", type=Path, help="check this slither JSON report instead of running slither")
    parser.add_argument("--report", type=Path, help="also save slither's JSON report here")
    args = parser.parse_args(argv)
    root = project_root()
    triage = args.triage if args.triage is not None else root / TRIAGE_FILE
    start = time.monotonic()
    try:
        entries = load_triage(triage)
        if args.slither_json is not None:
            report = json.loads(args.slither_json.read_text())
        else:
            report, elapsed = run_slither(root)
            print(f"slither ran in {elapsed:.1f} s")
        if args.report is not None:
            args.report.write_text(json.dumps(report, indent=1))
        findings, ignored = findings_from_report(report)
    except (CheckError, OSError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    outcome = evaluate(findings, entries, ignored)
    print(render(outcome))
    verdict = "OK" if outcome.ok else "FAILED"
    print(f"{verdict}: slither check in {time.monotonic() - start:.1f} s (triage: {triage})")
    return 0 if outcome.ok else 1


if __name__ == "__main__":
    sys.exit(main())
