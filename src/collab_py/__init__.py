"""collab: intercompany transactions on a permissioned Ethereum chain."""

__version__ = "0.1.0"
