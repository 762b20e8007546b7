"""What the tests share besides fixtures: the world they run in and the steps that bring a contract to a point of
the flow. Tests import from here (``from support import World, issued``), never from ``conftest``."""

from support.steps import BANK_ACCOUNT, h, issued, secret_of, settled, signed, vouched
from support.world import A_FUNDS, World

__all__ = ["A_FUNDS", "BANK_ACCOUNT", "World", "h", "issued", "secret_of", "settled", "signed", "vouched"]
