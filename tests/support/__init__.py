"""What the tests share besides fixtures: the world they run in, the steps that bring a contract to a point of the
flow, and stepping a listener. Tests import from here (``from support import World, issued``), never from
``conftest``."""

from support.keystores import CHEAP_KDF
from support.listeners import catch_up
from support.steps import BANK_ACCOUNT, h, issued, released, secret_of, settled, signed, vouched
from support.world import A_FUNDS, C_BANK_ACCOUNT, World

__all__ = [
    "A_FUNDS",
    "BANK_ACCOUNT",
    "CHEAP_KDF",
    "C_BANK_ACCOUNT",
    "World",
    "catch_up",
    "h",
    "issued",
    "released",
    "secret_of",
    "settled",
    "signed",
    "vouched",
]
