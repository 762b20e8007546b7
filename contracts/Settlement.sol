// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StageVoucher} from "./StageVoucher.sol";
import {IPaymentEscrow} from "./interfaces/IPaymentEscrow.sol";
import {ContractStatus, Department, PaymentVoucherTerms} from "./CollabTypes.sol";

/**
 * @title Settlement
 * @notice S4–S5: business settlement once every stage is vouched, then payment applications and payment vouchers.
 * Issuing a payment voucher freezes its amount of the payer's asset in the escrow in the same transaction (S5.4).
 * @dev A payment is identified by its contract number and sequence number within the contract (1, 2, ...); its
 * voucher id is `keccak256(abi.encode(contractNo, seq))`. The escrow keeps the record of each payment, from its
 * application to its release; this module decides who may apply and issue, and for how much.
 */
abstract contract Settlement is StageVoucher {
    /// @notice Longest lifetime of a payment key.
    uint256 public constant MAX_KEY_LIFETIME = 366 days;

    /// @notice The escrow that freezes and releases payment funds; set once by governance.
    IPaymentEscrow public escrow;

    /// @notice Emitted when governance connects the escrow.
    event EscrowSet(address indexed escrow);
    /// @notice Emitted when Party B applies for business settlement (S4.1).
    event BusinessSettlementRequested(bytes32 indexed contractNo, uint32 indexed partyB, address requestedBy);
    /// @notice Emitted when Party A approves: the contract's business settlement voucher (S4.2).
    event BusinessSettlementVoucherIssued(
        bytes32 indexed contractNo, uint32 indexed partyA, uint32 indexed partyB, uint256 total, address approvedBy
    );
    /// @notice Emitted when Party B's finance applies for payment (S5.1). `payeeAccountCiphertext` is for Party A.
    event PaymentApplied(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint8 seq,
        uint256 amount,
        bytes payeeAccountCiphertext,
        address appliedBy
    );
    /// @notice Emitted when Party A's finance issues a payment voucher and its funds are frozen (S5.2–S5.4).
    event PaymentVoucherIssued(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint8 seq,
        uint256 amount,
        bytes32 bankAccountHash,
        bytes bankAccountCiphertext,
        bytes32 keyCommitment,
        uint256 expiry,
        bytes keyCiphertext
    );

    /// @notice The escrow is already connected.
    error EscrowAlreadySet();
    /// @notice The escrow address must be non-zero.
    error InvalidEscrow();
    /// @notice Only the escrow may call this function.
    error UnauthorizedCaller(address caller);
    /// @notice Not every stage has a first voucher yet (S4.2).
    error StagesNotVouched(bytes32 contractNo, uint256 vouched, uint256 stages);
    /// @notice A payment amount must not be zero.
    error InvalidAmount();
    /// @notice The amount exceeds what is still unpaid on the contract (S5.2).
    error PaymentExceedsUnpaid(bytes32 contractNo, uint256 amount, uint256 unpaid);
    /// @notice The contract has reached its limit of 255 payment applications.
    error PaymentLimitReached(bytes32 contractNo);
    /// @notice The bank account hash and key commitment must not be zero.
    error InvalidPaymentKey();
    /// @notice The payment key's expiry must be in the future and at most {MAX_KEY_LIFETIME} away.
    error InvalidExpiry(uint256 expiry);

    modifier onlyEscrow() {
        if (msg.sender != address(escrow)) revert UnauthorizedCaller(msg.sender);
        _;
    }

    /// @notice Connects the escrow. Governance only, once: funds frozen there stay tied to this registry.
    function setEscrow(IPaymentEscrow escrow_) external onlyOwner {
        if (address(escrow) != address(0)) revert EscrowAlreadySet();
        if (address(escrow_) == address(0)) revert InvalidEscrow();
        escrow = escrow_;
        emit EscrowSet(address(escrow_));
    }

    /// @notice Party B applies for business settlement once every stage is vouched (S4.1). Caller: B's BUSINESS.
    function applyBusinessSettlement(bytes32 contractNo) external {
        Agreement storage agreement = _agreement(contractNo);
        requireMember(msg.sender, agreement.partyB, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.SIGNED);
        _requireAllStagesVouched(agreement, contractNo);
        agreement.status = ContractStatus.SETTLEMENT_REQUESTED;
        emit BusinessSettlementRequested(contractNo, agreement.partyB, msg.sender);
    }

    /**
     * @notice Party A approves business settlement: every stage has a first voucher and, as stage amounts sum to the
     * total, the vouchers add up to it. Issues the contract's business settlement voucher (S4.2). Caller: A's BUSINESS.
     */
    function approveBusinessSettlement(bytes32 contractNo) external {
        Agreement storage agreement = _agreement(contractNo);
        requireMember(msg.sender, agreement.partyA, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.SETTLEMENT_REQUESTED);
        _requireAllStagesVouched(agreement, contractNo);
        agreement.status = ContractStatus.SETTLED;
        emit BusinessSettlementVoucherIssued(
            contractNo, agreement.partyA, agreement.partyB, agreement.total, msg.sender
        );
    }

    /**
     * @notice Party B's finance applies for payment of `amount` on a settled contract (S5.1). Caller: B's FINANCE.
     * @param payeeAccountCiphertext Where the money should go, encrypted to Party A's finance department.
     * @return voucherId Id of the application and of the payment voucher it may receive.
     */
    function applyForPayment(bytes32 contractNo, uint128 amount, bytes calldata payeeAccountCiphertext)
        external
        returns (bytes32 voucherId)
    {
        Agreement storage agreement = _agreement(contractNo);
        requireMember(msg.sender, agreement.partyB, Department.FINANCE);
        _requireStatus(agreement, contractNo, ContractStatus.SETTLED);
        if (amount == 0) revert InvalidAmount();
        _requireUnpaid(agreement, contractNo, amount);
        uint8 seq = agreement.paymentCount;
        if (seq == type(uint8).max) revert PaymentLimitReached(contractNo);
        agreement.paymentCount = ++seq;
        voucherId = paymentVoucherId(contractNo, seq);
        emit PaymentApplied(voucherId, contractNo, seq, amount, payeeAccountCiphertext, msg.sender);
        escrow.recordApplication(voucherId, amount);
    }

    /**
     * @notice Party A's finance issues the payment voucher of application `seq`; the amount of the contract's asset
     * is pulled from A's treasury and frozen in the escrow in this transaction (S5.2–S5.4). Caller: A's FINANCE.
     * @param terms The application's amount; salted bank account hash and its ciphertext for the institution; the
     * payment key's commitment, expiry and ciphertext for the payee's finance department.
     */
    function issuePaymentVoucher(bytes32 contractNo, uint8 seq, PaymentVoucherTerms calldata terms) external {
        Agreement storage agreement = _agreement(contractNo);
        uint32 partyA = agreement.partyA;
        requireMember(msg.sender, partyA, Department.FINANCE);
        bytes32 voucherId = paymentVoucherId(contractNo, seq);
        uint128 amount = terms.amount;
        _requireUnpaid(agreement, contractNo, amount);
        if (terms.bankAccountHash == 0 || terms.keyCommitment == 0) revert InvalidPaymentKey();
        if (terms.expiry <= block.timestamp || terms.expiry > block.timestamp + MAX_KEY_LIFETIME) {
            revert InvalidExpiry(terms.expiry);
        }

        agreement.committed += amount;
        emit PaymentVoucherIssued(
            voucherId,
            contractNo,
            seq,
            amount,
            terms.bankAccountHash,
            terms.bankAccountCiphertext,
            terms.keyCommitment,
            terms.expiry,
            terms.keyCiphertext
        );
        escrow.freeze(voucherId, agreement.asset, treasuryOf(partyA), amount, terms.keyCommitment, terms.expiry);
    }

    /// @notice Returns `amount` of a reclaimed payment voucher to the contract's unpaid amount (S6.4). Escrow only.
    function releaseCommitment(bytes32 contractNo, uint128 amount) external onlyEscrow {
        _agreements[contractNo].committed -= amount;
    }

    /// @notice Id of payment `seq` of contract `contractNo`, shared by its application, voucher and escrow record.
    function paymentVoucherId(bytes32 contractNo, uint8 seq) public pure returns (bytes32) {
        return keccak256(abi.encode(contractNo, seq));
    }

    function _requireAllStagesVouched(Agreement storage agreement, bytes32 contractNo) private view {
        uint256 vouched = agreement.vouchedCount;
        uint256 stages = agreement.stageCount;
        if (vouched != stages) revert StagesNotVouched(contractNo, vouched, stages);
    }

    function _requireUnpaid(Agreement storage agreement, bytes32 contractNo, uint128 amount) private view {
        uint256 unpaid = agreement.total - agreement.committed;
        if (amount > unpaid) revert PaymentExceedsUnpaid(contractNo, amount, unpaid);
    }
}
