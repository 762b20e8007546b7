// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Kind of a member organisation (S1.1).
enum OrgKind {
    NONE,
    ENTERPRISE,
    PAYMENT_INSTITUTION
}

/// @notice Department an account acts for (S1.2). OPERATOR exists only in payment institutions.
enum Department {
    NONE,
    BUSINESS,
    FINANCE,
    OPERATOR
}

/**
 * @notice Life cycle of an e-contract (S2, S4). PROPOSED moves to SIGNED or, withdrawn by Party B or declined by
 * Party A, to CANCELLED; SETTLEMENT_REQUESTED moves to SETTLED, or back to SIGNED when Party A rejects it.
 */
enum ContractStatus {
    NONE,
    PROPOSED,
    SIGNED,
    SETTLEMENT_REQUESTED,
    SETTLED,
    CANCELLED
}

/// @notice Life cycle of one stage of an e-contract (S3).
enum StageStatus {
    NONE,
    OPEN,
    PENDING,
    CONFIRMED,
    REJECTED
}

/**
 * @notice Life cycle of one payment: its application (S5.1), then the frozen funds of its voucher (S5.4, S6).
 * @dev APPLIED moves to FROZEN (voucher issued), REFUSED (by the payer) or WITHDRAWN (by the payee). FROZEN moves
 * to PRESENTED (a third member presents the key); FROZEN and PRESENTED move to REQUESTED (key redeemed or assignment
 * confirmed) or, once the key expired, RECLAIMED. REQUESTED moves to RELEASED (by the institution, or by payer and
 * beneficiary after the release deadline) or RECLAIMED (by them, after the deadline). RELEASED, RECLAIMED, REFUSED
 * and WITHDRAWN are final.
 */
enum VoucherStatus {
    NONE,
    APPLIED,
    FROZEN,
    PRESENTED,
    REQUESTED,
    RELEASED,
    RECLAIMED,
    REFUSED,
    WITHDRAWN
}

/// @notice One stage of an e-contract: the hash of its deliverable specification and its amount (S2.2).
struct StageTerms {
    bytes32 specHash;
    uint128 amount;
}

/// @notice The hashes both parties' signatures commit to: the e-contract document's and the terms' (S2.5).
struct SignedHashes {
    bytes32 docHash;
    bytes32 termsHash;
}

/// @notice What Party B registers for a new e-contract (S2.1, S2.2). Party B is the caller's org.
struct ContractTerms {
    bytes32 contractNo;
    uint32 partyA;
    bytes32 docHash;
    address asset;
    StageTerms[] stages;
}

/**
 * @notice What Party A's finance department attaches to a payment voucher (S5.2, S5.3).
 * @dev `amount` and `bankAccountHash` must be the application's (whose account the payee encrypted to the
 * institution). `keyCiphertext`, the payment key, is encrypted to the payee's finance department; only the secret's
 * commitment is meaningful in clear.
 */
struct PaymentVoucherTerms {
    uint128 amount;
    bytes32 bankAccountHash;
    bytes32 keyCommitment;
    uint40 expiry;
    bytes keyCiphertext;
}
