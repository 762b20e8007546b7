"""The world every chain test runs in: one deployment with Party A, B, C and the bank (a sandbox on anvil)."""

from __future__ import annotations

from collab_py.devnet.sandbox import A_FUNDS, C_BANK_ACCOUNT, Sandbox

__all__ = ["A_FUNDS", "C_BANK_ACCOUNT", "World"]

World = Sandbox
