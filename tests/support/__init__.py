"""What the tests share besides fixtures: the world they run in, the steps that bring a contract to a point of the
flow, reading and steering the chain, and stepping a listener. Tests import from here (``from support import World,
issued``), never from ``conftest``."""

from support.chain import advance, balance, forbid_sending, nonce, now, stage_digest
from support.keystores import CHEAP_KDF
from support.listeners import accounting, bookkeeper, bot_actions, catch_up, entries, institution_bot
from support.steps import (
    BANK_ACCOUNT,
    applied,
    assigned,
    econtract,
    h,
    issued,
    proposed,
    released,
    requested,
    secret_of,
    settled,
    signed,
    vouched,
)
from support.world import A_FUNDS, C_BANK_ACCOUNT, World

__all__ = [
    "A_FUNDS",
    "BANK_ACCOUNT",
    "CHEAP_KDF",
    "C_BANK_ACCOUNT",
    "World",
    "accounting",
    "advance",
    "applied",
    "assigned",
    "balance",
    "bookkeeper",
    "bot_actions",
    "catch_up",
    "econtract",
    "entries",
    "forbid_sending",
    "h",
    "institution_bot",
    "issued",
    "nonce",
    "now",
    "proposed",
    "released",
    "requested",
    "secret_of",
    "settled",
    "signed",
    "stage_digest",
    "vouched",
]
