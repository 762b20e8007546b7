"""Generates :mod:`collab_py.chain.contract_errors`: an exception class for every custom error of the contracts.

``python -m collab_py.chain.errors_gen`` (``make errors``) writes it from the compiled ABIs of
:data:`SOURCES`; ``--check`` only says whether it is up to date (exit code 1 if not). Run it whenever the contracts'
errors change: ``tests/test_errors.py`` fails while the file is stale.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from eth_utils.abi import collapse_if_tuple, function_signature_to_4byte_selector

from collab_py.chain.build import load_artifact
from collab_py.chain.enums import ENUMS

#: Contracts whose ABIs declare every error our transactions can revert with (including OpenZeppelin's).
SOURCES = ("CollabRegistry", "PaymentEscrow", "DepositToken")
#: The generated module.
TARGET = Path(__file__).with_name("contract_errors.py")

_HEADER = '''"""Every custom error of {sources} as an exception class.

Generated from the compiled ABIs by ``python -m collab_py.chain.errors_gen`` (``make errors``): do not edit. Import
the classes from :mod:`collab_py.chain.errors`.
"""

from __future__ import annotations

from enum import IntEnum

{enum_import}from collab_py.exceptions import ContractError

#: An argument of an error: its name, its ABI type, and the Python mirror of its enum (None for other types).
Argument = tuple[str, str, type[IntEnum] | None]

'''


class GenerationError(Exception):
    """The ABIs name something the generated module cannot express."""


def _enum_of(internal_type: str) -> str | None:
    """The Python mirror's name of an enum argument (``enum CollabTypes.Department`` -> ``Department``)."""
    if not internal_type.startswith("enum "):
        return None
    name = internal_type.removeprefix("enum ").rsplit(".", 1)[-1]
    if name not in ENUMS:
        raise GenerationError(f"enum {name} of the contracts has no Python mirror in collab_py/chain/enums.py")
    return name


def _solidity(argument: Mapping[str, Any]) -> str:
    """How the contract declares an argument, e.g. ``Department expected``."""
    kind = str(argument.get("internalType", argument["type"]))
    for prefix in ("enum ", "struct ", "contract "):
        kind = kind.removeprefix(prefix)
    return f"{kind.rsplit('.', 1)[-1]} {argument['name']}".strip()


def render(abis: Mapping[str, Sequence[Mapping[str, Any]]]) -> str:
    """The source of the generated module for the ABIs of ``abis`` (contract name -> ABI)."""
    # name -> selector -> (arguments, declaration); name -> contracts declaring it
    errors: dict[str, dict[bytes, tuple[list[tuple[str, str, str | None]], str]]] = {}
    declared_by: dict[str, list[str]] = {}
    for contract, abi in abis.items():
        for item in abi:
            if item.get("type") != "error":
                continue
            name, inputs = str(item["name"]), item["inputs"]
            types = [collapse_if_tuple(dict(argument)) for argument in inputs]
            selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
            arguments = [
                (argument["name"] or f"arg{index}", kind, _enum_of(str(argument.get("internalType", ""))))
                for index, (argument, kind) in enumerate(zip(inputs, types, strict=True))
            ]
            declaration = f"{name}({', '.join(_solidity(argument) for argument in inputs)})"
            errors.setdefault(name, {})[selector] = (arguments, declaration)
            if contract not in declared_by.setdefault(name, []):
                declared_by[name].append(contract)
    names = sorted(errors)
    enums = sorted({enum for name in names for arguments, _ in errors[name].values() for *_, enum in arguments if enum})
    enum_import = f"from collab_py.chain.enums import {', '.join(enums)}\n" if enums else ""
    out = [_HEADER.format(sources=_sentence(list(abis)), enum_import=enum_import)]
    out.append("__all__ = [\n" + "".join(f'    "{name}",\n' for name in names) + "]\n")
    for name in names:
        declarations = " or ".join(f"``{declaration}``" for _, declaration in errors[name].values())
        doc = textwrap.fill(
            f'"""{declarations}, declared by {_sentence(declared_by[name])}."""',
            width=116,
            initial_indent="    ",
            subsequent_indent="    ",
            break_long_words=False,
            break_on_hyphens=False,
        )
        out.append(f'\n\nclass {name}(ContractError):\n{doc}\n\n    error_name = "{name}"\n')
    out.append(
        "\n\n#: Each error's 4-byte selector -> its class and its arguments, in order.\n"
        "BY_SELECTOR: dict[bytes, tuple[type[ContractError], tuple[Argument, ...]]] = {\n"
    )
    for name in names:
        for selector, (arguments, _) in sorted(errors[name].items()):
            key = f'bytes.fromhex("{selector.hex()}")'
            out.append(f"    {key}: (\n        {name},\n        {_arguments(arguments)},\n    ),\n")
    out.append("}\n")
    return "".join(out)


def _arguments(arguments: list[tuple[str, str, str | None]]) -> str:
    """A tuple of arguments as ruff formats it: empty, one on the line, or one argument a line."""
    items = [f'("{name}", "{kind}", {enum or "None"})' for name, kind, enum in arguments]
    if not items:
        return "()"
    if len(items) == 1:
        return f"({items[0]},)"
    return "(\n" + "".join(f"            {item},\n" for item in items) + "        )"


def _sentence(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def current() -> str:
    """The module's source for the contracts as they are now compiled."""
    return render({name: load_artifact(name).abi for name in SOURCES})


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the module, or with ``--check`` only compare it."""
    parser = argparse.ArgumentParser(prog="python -m collab_py.chain.errors_gen", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the module is stale, without writing it")
    args = parser.parse_args(argv)
    source = current()
    if args.check:
        if not TARGET.is_file() or TARGET.read_text() != source:
            print(f"{TARGET} is stale: run `make errors`", file=sys.stderr)
            return 1
        print(f"{TARGET} is up to date")
        return 0
    TARGET.write_text(source)
    print(f"wrote {TARGET}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
