// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VoucherStatus} from "../CollabTypes.sol";

/// @notice S4–S5: business settlement, payment applications and payment vouchers.
interface ISettlement {
    /// @notice Emitted when governance connects the escrow.
    event EscrowSet(address indexed escrow);
    /// @notice Emitted when Party B applies for business settlement (S4.1).
    event BusinessSettlementRequested(bytes32 indexed contractNo, uint32 indexed partyB, address requestedBy);
    /// @notice Emitted when Party A rejects Party B's application for business settlement; the contract is SIGNED again.
    event BusinessSettlementRejected(bytes32 indexed contractNo, uint32 indexed partyA, bytes32 reasonHash, address rejectedBy);
    /// @notice Emitted when Party A approves: the contract's business settlement voucher (S4.2).
    event BusinessSettlementVoucherIssued(
        bytes32 indexed contractNo, uint32 indexed partyA, uint32 indexed partyB, uint256 total, address approvedBy
    );
    /**
     * @notice Emitted when Party B's finance applies for payment into the account whose salted hash is
     * `accountHash` (S5.1). The salt and account are encrypted to Party A's finance department (`accountForPayer`, to
     * build the payment key) and to the payment institution (`accountForInstitution`, to pay).
     */
    event PaymentApplied(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint8 seq,
        uint256 amount,
        bytes32 accountHash,
        bytes accountForPayer,
        bytes accountForInstitution,
        address appliedBy
    );
    /// @notice Emitted when an application ends without a voucher: REFUSED by the payer or WITHDRAWN by the payee.
    event PaymentApplicationClosed(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint8 seq,
        VoucherStatus status,
        bytes32 reasonHash,
        address closedBy
    );
    /// @notice Emitted when Party A's finance issues a payment voucher and its funds are frozen (S5.2–S5.4).
    event PaymentVoucherIssued(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint8 seq,
        uint256 amount,
        bytes32 bankAccountHash,
        bytes32 keyCommitment,
        uint256 expiry,
        bytes keyCiphertext
    );

    /// @notice The escrow is already connected.
    error EscrowAlreadySet();
    /// @notice The escrow must be a contract that serves this registry, operated by a registered payment institution.
    error InvalidEscrow(address escrow);
    /// @notice Not every stage has a first voucher yet (S4.2).
    error StagesNotVouched(bytes32 contractNo, uint256 vouched, uint256 stages);
    /// @notice A payment amount must not be zero.
    error InvalidAmount();
    /// @notice The amount exceeds what is neither paid nor applied for on the contract (S5.1, S5.2).
    error PaymentExceedsUnpaid(bytes32 contractNo, uint256 amount, uint256 unpaid);
    /// @notice The contract has reached its limit of 255 payment applications.
    error PaymentLimitReached(bytes32 contractNo);
    /// @notice The salted hash of the receiving account must not be zero.
    error InvalidAccountHash();
    /// @notice The payment key's commitment must not be zero.
    error InvalidPaymentKey();

    /// @notice Returns `amount` of a payment that ends unpaid to the contract's unpaid amount. Escrow only.
    function releaseCommitment(bytes32 contractNo, uint128 amount) external;
}
