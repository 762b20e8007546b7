"""Python mirrors of the contracts' enums (see ``contracts/CollabTypes.sol``)."""

from __future__ import annotations

from enum import IntEnum


class OrgKind(IntEnum):
    """Kind of a member organisation (S1.1)."""

    NONE = 0
    ENTERPRISE = 1
    PAYMENT_INSTITUTION = 2


class Department(IntEnum):
    """Department an account acts for (S1.2)."""

    NONE = 0
    BUSINESS = 1
    FINANCE = 2
    OPERATOR = 3


class ContractStatus(IntEnum):
    """Life cycle of an e-contract (S2, S4); a proposal withdrawn or declined is CANCELLED."""

    NONE = 0
    PROPOSED = 1
    SIGNED = 2
    SETTLEMENT_REQUESTED = 3
    SETTLED = 4
    CANCELLED = 5


class StageStatus(IntEnum):
    """Life cycle of a stage (S3)."""

    NONE = 0
    OPEN = 1
    PENDING = 2
    CONFIRMED = 3
    REJECTED = 4


class VoucherStatus(IntEnum):
    """Life cycle of a payment: its application (S5.1), then the frozen funds of its voucher (S5.4, S6)."""

    NONE = 0
    APPLIED = 1
    FROZEN = 2
    PRESENTED = 3
    REQUESTED = 4
    RELEASED = 5
    RECLAIMED = 6
    REFUSED = 7
    WITHDRAWN = 8


#: Solidity enum name -> Python enum, used to show decoded values by name.
ENUMS: dict[str, type[IntEnum]] = {
    cls.__name__: cls for cls in (OrgKind, Department, ContractStatus, StageStatus, VoucherStatus)
}
