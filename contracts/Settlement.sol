// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StageVoucher} from "./StageVoucher.sol";
import {ContractStatus, Department, OrgKind, PaymentVoucherTerms, VoucherStatus} from "./CollabTypes.sol";
import {ICollabRegistry} from "./interfaces/ICollabRegistry.sol";
import {IPaymentEscrow} from "./interfaces/IPaymentEscrow.sol";
import {ISettlement} from "./interfaces/ISettlement.sol";
import {PaymentIds} from "./libraries/PaymentIds.sol";

/**
 * @title Settlement
 * @notice S4–S5: business settlement once every stage is vouched, then payment applications and payment vouchers.
 * Issuing a payment voucher freezes its amount of the payer's asset in the escrow in the same transaction (S5.4).
 * @dev A payment is identified by its contract number and sequence number within the contract (1, 2, ...); its
 * voucher id is {PaymentIds-voucherId}. The escrow keeps the record of each payment, from its application to its
 * release; this module decides who may apply, refuse, withdraw and issue, and for how much.
 *
 * An application reserves its amount (it leaves `unpaid`) until it is refused, withdrawn or reclaimed, so the
 * applications and vouchers of a contract never exceed its total and every application can be issued or closed.
 */
abstract contract Settlement is StageVoucher, ISettlement {
    /// @notice The escrow that freezes and releases payment funds; set once by governance.
    IPaymentEscrow public escrow;

    modifier onlyEscrow() {
        if (msg.sender != address(escrow)) revert UnauthorizedCaller(msg.sender);
        _;
    }

    /**
     * @notice Connects the escrow, which must serve this registry and be operated by a registered payment
     * institution. Governance only, once: funds frozen there stay tied to this registry.
     */
    function setEscrow(IPaymentEscrow escrow_) external onlyOwner {
        if (address(escrow) != address(0)) revert EscrowAlreadySet();
        if (address(escrow_).code.length == 0) revert InvalidEscrow(address(escrow_));
        try escrow_.registry() returns (ICollabRegistry served) {
            if (address(served) != address(this)) revert InvalidEscrow(address(escrow_));
        } catch {
            revert InvalidEscrow(address(escrow_));
        }
        (Org memory institution,) = orgOf(escrow_.institutionOrg());
        if (institution.kind != OrgKind.PAYMENT_INSTITUTION) revert InvalidEscrow(address(escrow_));
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
     * @notice Party A rejects Party B's application for business settlement; the contract is SIGNED again and B may
     * apply once the dispute is resolved. Caller: A's BUSINESS.
     * @param reasonHash Hash of the reason document.
     */
    function rejectBusinessSettlement(bytes32 contractNo, bytes32 reasonHash) external {
        Agreement storage agreement = _agreement(contractNo);
        requireMember(msg.sender, agreement.partyA, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.SETTLEMENT_REQUESTED);
        agreement.status = ContractStatus.SIGNED;
        emit BusinessSettlementRejected(contractNo, agreement.partyA, reasonHash, msg.sender);
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
        // nothing is applied for before settlement: what is unpaid is the total
        emit BusinessSettlementVoucherIssued(
            contractNo, agreement.partyA, agreement.partyB, agreement.unpaid, msg.sender
        );
    }

    /**
     * @notice Party B's finance applies for payment of `amount` on a settled contract into the account whose salted
     * hash is `accountHash` (S5.1); the amount is reserved until the application is issued, refused or withdrawn.
     * Caller: B's FINANCE.
     * @param accountHash Salted hash of the receiving bank account; the payment voucher must carry the same.
     * @param accountForPayer The salt and account, encrypted to Party A's finance department.
     * @param accountForInstitution The salt and account, encrypted to the payment institution.
     * @return voucherId Id of the application and of the payment voucher it may receive.
     */
    function applyForPayment(
        bytes32 contractNo,
        uint128 amount,
        bytes32 accountHash,
        bytes calldata accountForPayer,
        bytes calldata accountForInstitution
    ) external returns (bytes32 voucherId) {
        Agreement storage agreement = _agreement(contractNo);
        requireMember(msg.sender, agreement.partyB, Department.FINANCE);
        _requireStatus(agreement, contractNo, ContractStatus.SETTLED);
        if (amount == 0) revert InvalidAmount();
        if (accountHash == 0) revert InvalidAccountHash();
        uint128 unpaid = agreement.unpaid;
        if (amount > unpaid) revert PaymentExceedsUnpaid(contractNo, amount, unpaid);
        uint8 seq = agreement.paymentCount;
        if (seq == type(uint8).max) revert PaymentLimitReached(contractNo);
        agreement.paymentCount = ++seq;
        agreement.unpaid = unpaid - amount;
        voucherId = PaymentIds.voucherId(contractNo, seq);
        emit PaymentApplied(
            voucherId, contractNo, seq, amount, accountHash, accountForPayer, accountForInstitution, msg.sender
        );
        escrow.recordApplication(voucherId, amount, accountHash);
    }

    /// @notice Party B's finance withdraws its application `seq` before a voucher is issued. Caller: B's FINANCE.
    function withdrawPaymentApplication(bytes32 contractNo, uint8 seq) external {
        Agreement storage agreement = _agreement(contractNo);
        requireMember(msg.sender, agreement.partyB, Department.FINANCE);
        _closeApplication(agreement, contractNo, seq, VoucherStatus.WITHDRAWN, 0);
    }

    /**
     * @notice Party A's finance refuses application `seq` (S5.2: it does not match the business settlement voucher,
     * or the payer disputes it). Caller: A's FINANCE.
     * @param reasonHash Hash of the reason document.
     */
    function refusePaymentApplication(bytes32 contractNo, uint8 seq, bytes32 reasonHash) external {
        Agreement storage agreement = _agreement(contractNo);
        requireMember(msg.sender, agreement.partyA, Department.FINANCE);
        _closeApplication(agreement, contractNo, seq, VoucherStatus.REFUSED, reasonHash);
    }

    /**
     * @notice Party A's finance issues the payment voucher of application `seq`; the amount of the contract's asset
     * is pulled from A's treasury and frozen in the escrow in this transaction (S5.2–S5.4). Caller: A's FINANCE.
     * @param terms The application's amount and account hash; the payment key's commitment, expiry (within the
     * escrow's key lifetime bounds) and ciphertext for the payee's finance department.
     */
    function issuePaymentVoucher(bytes32 contractNo, uint8 seq, PaymentVoucherTerms calldata terms) external {
        Agreement storage agreement = _agreement(contractNo);
        uint32 partyA = agreement.partyA;
        requireMember(msg.sender, partyA, Department.FINANCE);
        if (terms.keyCommitment == 0) revert InvalidPaymentKey();
        bytes32 voucherId = PaymentIds.voucherId(contractNo, seq);
        emit PaymentVoucherIssued(
            voucherId,
            contractNo,
            seq,
            terms.amount,
            terms.bankAccountHash,
            terms.keyCommitment,
            terms.expiry,
            terms.keyCiphertext
        );
        escrow.freeze(
            voucherId,
            _assets[agreement.assetId],
            treasuryOf(partyA),
            agreement.partyB,
            terms.amount,
            terms.bankAccountHash,
            terms.keyCommitment,
            terms.expiry
        );
    }

    /// @inheritdoc ISettlement
    function releaseCommitment(bytes32 contractNo, uint128 amount) external onlyEscrow {
        _agreements[contractNo].unpaid += amount;
    }

    /// @notice Id of payment `seq` of contract `contractNo`, shared by its application, voucher and escrow record.
    function paymentVoucherId(bytes32 contractNo, uint8 seq) external pure returns (bytes32) {
        return PaymentIds.voucherId(contractNo, seq);
    }

    function _closeApplication(
        Agreement storage agreement,
        bytes32 contractNo,
        uint8 seq,
        VoucherStatus status,
        bytes32 reasonHash
    ) private {
        bytes32 voucherId = PaymentIds.voucherId(contractNo, seq);
        uint128 amount = escrow.closeApplication(voucherId, status);
        agreement.unpaid += amount;
        emit PaymentApplicationClosed(voucherId, contractNo, seq, status, reasonHash, msg.sender);
    }

    /// @dev A treasury may not be the escrow either: funds paid there would be stranded.
    function _checkTreasury(address treasury) internal view override {
        if (treasury == address(escrow)) revert InvalidTreasury();
        super._checkTreasury(treasury);
    }

    function _requireAllStagesVouched(Agreement storage agreement, bytes32 contractNo) private view {
        uint256 vouched = agreement.vouchedCount;
        uint256 stages = agreement.stageCount;
        if (vouched != stages) revert StagesNotVouched(contractNo, vouched, stages);
    }
}
