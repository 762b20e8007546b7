"""The chain: connecting and sending transactions, the contracts' build, deployment and manifest, typed data,
reading logs, and the contracts' errors."""
