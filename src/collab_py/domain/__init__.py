"""The domain: contract numbers and identifiers, records of the chain's state, e-contract drafts and documents,
confidential payloads, keys and e-invoice documents."""
