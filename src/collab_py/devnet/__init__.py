"""Development tooling: a local node, a ready consortium on it, the whole flow, load generation, pipelined
transactions and the demo."""
