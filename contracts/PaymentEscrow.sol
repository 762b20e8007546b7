// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Department, VoucherStatus} from "./CollabTypes.sol";
import {ICollabRegistry} from "./interfaces/ICollabRegistry.sol";
import {IPaymentEscrow} from "./interfaces/IPaymentEscrow.sol";
import {PaymentIds} from "./libraries/PaymentIds.sol";

/**
 * @title PaymentEscrow
 * @notice S5.4–S8.3: the ledger of payments. It records each payment application, holds the payer's frozen funds
 * per payment voucher and releases them against the payment key.
 *
 * The payee's finance department redeems the key before it expires by revealing its secret; or it assigns the payment
 * to a third member (Party C) with an EIP-712 signature naming C, after C presented the key or not (S6.3). The
 * beneficiary's treasury is pinned then (a later treasury move by governance does not redirect it; the beneficiary
 * may pin its new treasury itself). The payment institution's operator transfers the funds there, which emits the
 * second voucher (S7). An expired, unredeemed key lets the payer's finance department reclaim the funds (S6.4). If the
 * institution has not released a requested payment {releaseWindow} after the request, payer and beneficiary settle it
 * without the institution, one sending the other's EIP-712 signature, to the beneficiary or back to the payer; a party
 * whose counterparty's org is suspended settles alone, in its own favour (S6.5). Once paid, the payee's finance
 * department anchors its signed e-invoice, encrypted to the payer, in one transaction (S8.3).
 *
 * @dev Invariants: the escrow's balance of an asset is the sum of the amounts of its FROZEN, PRESENTED and REQUESTED
 * vouchers; a voucher's funds leave once, for their full amount, to the treasury pinned for its beneficiary or to the
 * payer's; statuses only move forward (see {VoucherStatus}); every non-final status has an exit that needs no
 * operator, as long as one of the two parties' orgs is active (governance reinstating an org is the exit otherwise).
 * The functions that call the token are `nonReentrant`, follow checks-effects-interactions and check the balance
 * moved by the amount asked; the others only make static calls to the registry. Pausing stops what the institution
 * does with funds (freezing new vouchers, releasing); redeeming, assigning, reclaiming an expired key and settling
 * after the deadline stay open, so a pause can delay a payment but never decide who gets it.
 */
contract PaymentEscrow is IPaymentEscrow, EIP712, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /**
     * @notice One payment: its amount and status, its payee, and the org to be paid: the org that presented the key
     * while PRESENTED, the beneficiary from REQUESTED on. `time` is the key's expiry while FROZEN or PRESENTED, the
     * time of the request from REQUESTED on (the release deadline is `time + releaseWindow`).
     */
    struct Voucher {
        uint128 amount;
        VoucherStatus status;
        uint40 time;
        uint32 payee;
        uint32 beneficiaryOrg;
    }

    /// @notice Bounds of the release window (institution's time to release after a request) and of key lifetimes.
    uint256 public constant MIN_RELEASE_WINDOW = 1 hours;
    uint256 public constant MAX_RELEASE_WINDOW = 90 days;
    uint256 public constant MAX_KEY_LIFETIME = 366 days;

    /// @dev EIP-712 type of the payee's confirmation that its payment pays `assigneeOrg` (S6.3).
    bytes32 private constant _ASSIGNMENT_TYPEHASH =
        keccak256("AssignmentConfirmation(bytes32 voucherId,uint32 assigneeOrg,bytes32 bankAccountHash)");
    /// @dev EIP-712 type of the payee's signature over the e-invoice of a released payment (S8.3).
    bytes32 private constant _INVOICE_TYPEHASH = keccak256("Invoice(bytes32 voucherId,bytes32 invoiceHash)");
    /// @dev EIP-712 type of a party's consent to settle a requested payment without the institution (S6.5).
    bytes32 private constant _SETTLEMENT_TYPEHASH = keccak256("JointSettlement(bytes32 voucherId,bool toBeneficiary)");

    /// @notice The registry of members and contracts this escrow serves.
    ICollabRegistry public immutable registry;
    /// @notice The payment institution whose operators release funds and pause the escrow.
    uint32 public immutable institutionOrg;
    /// @notice How long after a request the institution alone may release it; then the parties may settle it.
    uint40 public immutable releaseWindow;
    /// @notice The shortest lifetime of a payment key, so that the payee has time to redeem it.
    uint40 public immutable minKeyLifetime;

    mapping(bytes32 voucherId => Voucher) private _vouchers;
    /**
     * @dev What the next step of a payment must match, one slot for its whole life: the payee's salted account hash
     * while APPLIED, the payment key's commitment while FROZEN or PRESENTED, the beneficiary's pinned treasury while
     * REQUESTED; cleared once the payment is final. See {commitmentOf}.
     */
    mapping(bytes32 voucherId => bytes32) private _commitments;
    mapping(bytes32 voucherId => bytes32) private _invoices;

    modifier onlyRegistry() {
        if (msg.sender != address(registry)) revert UnauthorizedCaller(msg.sender);
        _;
    }

    modifier onlyOperator() {
        (uint32 org,) = registry.accountOrg(msg.sender, Department.OPERATOR);
        if (org != institutionOrg) revert WrongParty(msg.sender, institutionOrg);
        _;
    }

    /**
     * @param registry_ The registry whose settlement module records applications and freezes funds here.
     * @param institutionOrg_ Org id of the payment institution operating this escrow.
     * @param releaseWindow_ Time the institution alone has to release a requested payment.
     * @param minKeyLifetime_ Shortest lifetime of a payment key (at most {MIN_RELEASE_WINDOW} x 24).
     */
    constructor(ICollabRegistry registry_, uint32 institutionOrg_, uint40 releaseWindow_, uint40 minKeyLifetime_)
        EIP712("collab PaymentEscrow", "2")
    {
        if (releaseWindow_ < MIN_RELEASE_WINDOW || releaseWindow_ > MAX_RELEASE_WINDOW) {
            revert InvalidWindow(releaseWindow_);
        }
        if (minKeyLifetime_ == 0 || minKeyLifetime_ > 24 * MIN_RELEASE_WINDOW) revert InvalidWindow(minKeyLifetime_);
        registry = registry_;
        institutionOrg = institutionOrg_;
        releaseWindow = releaseWindow_;
        minKeyLifetime = minKeyLifetime_;
    }

    /// @inheritdoc IPaymentEscrow
    function recordApplication(bytes32 voucherId, uint128 amount, bytes32 accountHash) external onlyRegistry {
        Voucher storage voucher = _vouchers[voucherId];
        voucher.amount = amount;
        voucher.status = VoucherStatus.APPLIED;
        _commitments[voucherId] = accountHash;
    }

    /// @inheritdoc IPaymentEscrow
    function closeApplication(bytes32 voucherId, VoucherStatus status) external onlyRegistry returns (uint128) {
        Voucher storage voucher = _vouchers[voucherId];
        _requireStatus(voucherId, voucher.status, VoucherStatus.APPLIED);
        voucher.status = status;
        delete _commitments[voucherId];
        return voucher.amount;
    }

    /// @inheritdoc IPaymentEscrow
    function freeze(
        bytes32 voucherId,
        address asset,
        address payerTreasury,
        uint32 payee,
        uint128 amount,
        bytes32 accountHash,
        bytes32 keyCommitment,
        uint40 expiry
    ) external onlyRegistry whenNotPaused nonReentrant {
        Voucher storage voucher = _vouchers[voucherId];
        _requireStatus(voucherId, voucher.status, VoucherStatus.APPLIED);
        if (amount != voucher.amount) revert PaymentAmountMismatch(voucherId, voucher.amount, amount);
        bytes32 applied = _commitments[voucherId];
        if (accountHash != applied) revert PaymentAccountMismatch(voucherId, applied, accountHash);
        if (expiry < block.timestamp + minKeyLifetime || expiry > block.timestamp + MAX_KEY_LIFETIME) {
            revert InvalidExpiry(expiry);
        }
        voucher.status = VoucherStatus.FROZEN;
        voucher.time = expiry;
        voucher.payee = payee;
        _commitments[voucherId] = keyCommitment;
        _transfer(IERC20(asset), payerTreasury, address(this), amount);
    }

    /**
     * @notice The payee's finance redeems the payment key before it expires (S6.1): the funds will be paid to the
     * payee's treasury, pinned now. Also overrides a presentation by a third party. Caller: the payee's FINANCE.
     * @param secret The secret from the decrypted payment key.
     */
    function requestPayment(bytes32 contractNo, uint8 seq, bytes32 secret) external {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        (uint32 caller, address treasury) = registry.accountOrg(msg.sender, Department.FINANCE);
        uint32 payee = voucher.payee;
        if (caller != payee) revert WrongParty(msg.sender, payee);
        _requireRedeemable(voucherId, voucher);
        if (keyCommitmentFor(voucherId, secret) != _commitments[voucherId]) revert WrongSecret(voucherId);
        _request(voucherId, voucher, payee, treasury);
        emit PaymentRequested(voucherId, contractNo, payee, seq, treasury, msg.sender);
    }

    /**
     * @notice A third member (Party C) presents a payment key the payee passed to it (S6.3): the chain records that
     * it waits for the payee's confirmation ({confirmAssignment}). Caller: the FINANCE department of an active org
     * other than payer and payee.
     */
    function presentPaymentKey(bytes32 contractNo, uint8 seq, bytes32 secret) external {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        uint32 presenter = registry.requireDepartment(msg.sender, Department.FINANCE);
        (, uint32 payer,) = registry.partiesOf(contractNo);
        if (presenter == payer || presenter == voucher.payee) revert InvalidAssignee(presenter);
        _requireStatus(voucherId, voucher.status, VoucherStatus.FROZEN);
        if (block.timestamp >= voucher.time) revert PaymentKeyExpired(voucherId, voucher.time);
        if (keyCommitmentFor(voucherId, secret) != _commitments[voucherId]) revert WrongSecret(voucherId);
        voucher.beneficiaryOrg = presenter;
        voucher.status = VoucherStatus.PRESENTED;
        emit PaymentKeyPresented(voucherId, contractNo, presenter, seq, msg.sender);
    }

    /**
     * @notice The payee's signature assigns the payment to `assigneeOrg` (S6.3), whether or not that org presented
     * the key (a presentation by another org is overridden); the assignee's treasury is pinned now. Caller: the
     * FINANCE department of the payee or of the assignee, before the key expires.
     * @param assigneeOrg The org the payee names: an active enterprise other than payer and payee.
     * @param bankAccountHash Salted hash of the assignee's bank account; its ciphertext is for the institution.
     * @param signer Account of the payee's FINANCE department that signed the confirmation.
     * @param signature EIP-712 signature of AssignmentConfirmation(voucherId, assigneeOrg, bankAccountHash).
     */
    function confirmAssignment(
        bytes32 contractNo,
        uint8 seq,
        uint32 assigneeOrg,
        bytes32 bankAccountHash,
        bytes calldata bankAccountCiphertext,
        address signer,
        bytes calldata signature
    ) external {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        uint32 caller = registry.requireDepartment(msg.sender, Department.FINANCE);
        uint32 payee = voucher.payee;
        if (caller != payee && caller != assigneeOrg) revert WrongParty(msg.sender, payee);
        _requireRedeemable(voucherId, voucher);
        (, uint32 payer,) = registry.partiesOf(contractNo);
        if (assigneeOrg == payer || assigneeOrg == payee) revert InvalidAssignee(assigneeOrg);
        _checkSignature(payee, signer, assignmentDigest(voucherId, assigneeOrg, bankAccountHash), signature);
        address beneficiary = registry.activeTreasuryOf(assigneeOrg);
        _request(voucherId, voucher, assigneeOrg, beneficiary);
        emit AssignmentConfirmed(
            voucherId, contractNo, assigneeOrg, seq, beneficiary, bankAccountHash, bankAccountCiphertext, signer
        );
    }

    /**
     * @notice The beneficiary pins its current treasury for a requested payment, e.g. after governance moved it
     * away from a compromised one. Caller: the beneficiary's FINANCE.
     */
    function pinBeneficiaryTreasury(bytes32 contractNo, uint8 seq) external {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        _requireStatus(voucherId, voucher.status, VoucherStatus.REQUESTED);
        (uint32 caller, address treasury) = registry.accountOrg(msg.sender, Department.FINANCE);
        uint32 beneficiaryOrg = voucher.beneficiaryOrg;
        if (caller != beneficiaryOrg) revert WrongParty(msg.sender, beneficiaryOrg);
        _commitments[voucherId] = bytes32(uint256(uint160(treasury)));
        emit BeneficiaryTreasuryPinned(voucherId, contractNo, beneficiaryOrg, seq, treasury);
    }

    /**
     * @notice The institution transfers a requested payment to the beneficiary's pinned treasury and emits the
     * second voucher (S6.2, S7.1). The beneficiary org must still be an active member. Caller: an OPERATOR of the
     * payment institution.
     */
    function release(bytes32 contractNo, uint8 seq) external onlyOperator whenNotPaused nonReentrant {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        _requireStatus(voucherId, voucher.status, VoucherStatus.REQUESTED);
        (address asset, uint32 payer) = registry.releaseContext(contractNo, voucher.beneficiaryOrg);
        _pay(voucherId, voucher, contractNo, seq, asset, payer);
    }

    /**
     * @notice The payer's finance takes back the funds of an expired key that was never redeemed (S6.4); the amount
     * is again unpaid on the contract. Caller: the payer's FINANCE.
     */
    function reclaim(bytes32 contractNo, uint8 seq) external nonReentrant {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        (uint32 caller, address treasury) = registry.accountOrg(msg.sender, Department.FINANCE);
        (address asset, uint32 payer,) = registry.partiesOf(contractNo);
        if (caller != payer) revert WrongParty(msg.sender, payer);
        VoucherStatus status = voucher.status;
        if (status != VoucherStatus.FROZEN && status != VoucherStatus.PRESENTED) {
            revert UnexpectedVoucherStatus(voucherId, status);
        }
        if (block.timestamp < voucher.time) revert PaymentKeyNotExpired(voucherId, voucher.time);
        _return(voucherId, voucher, contractNo, seq, asset, payer, treasury);
    }

    /**
     * @notice Payer and beneficiary settle a requested payment that the institution did not release within
     * {releaseWindow} of the request (S6.5): to the beneficiary's pinned treasury (a second voucher) or back to the
     * payer's. Caller: the FINANCE department of one of them, with the other's signature; or alone, in its own favour,
     * when the other's org is suspended (`cosigner` and `signature` are then ignored).
     * @param toBeneficiary True to pay the beneficiary, false to return the funds to the payer.
     * @param cosigner Account of the other party's FINANCE department that signed.
     * @param signature EIP-712 signature of JointSettlement(voucherId, toBeneficiary), see {settlementDigest}.
     */
    function settleWithoutInstitution(
        bytes32 contractNo,
        uint8 seq,
        bool toBeneficiary,
        address cosigner,
        bytes calldata signature
    ) external nonReentrant {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        _requireStatus(voucherId, voucher.status, VoucherStatus.REQUESTED);
        uint256 deadline = releaseDeadlineOf(voucherId);
        if (block.timestamp < deadline) revert ReleaseDeadlineNotReached(voucherId, deadline);
        (uint32 caller, address callerTreasury) = registry.accountOrg(msg.sender, Department.FINANCE);
        (address asset, uint32 payer,) = registry.partiesOf(contractNo);
        uint32 beneficiaryOrg = voucher.beneficiaryOrg;
        if (caller != payer && caller != beneficiaryOrg) revert WrongParty(msg.sender, payer);
        uint32 other = caller == payer ? beneficiaryOrg : payer;
        if (registry.isActiveOrg(other)) {
            _checkSignature(other, cosigner, settlementDigest(voucherId, toBeneficiary), signature);
        } else {
            if (toBeneficiary != (caller == beneficiaryOrg)) revert SettlementDirectionRefused(voucherId, toBeneficiary);
            cosigner = address(0);
        }
        emit SettledWithoutInstitution(voucherId, contractNo, seq, toBeneficiary, msg.sender, cosigner);
        if (toBeneficiary) {
            _pay(voucherId, voucher, contractNo, seq, asset, payer);
        } else {
            address payerTreasury = caller == payer ? callerTreasury : registry.treasuryOf(payer);
            _return(voucherId, voucher, contractNo, seq, asset, payer, payerTreasury);
        }
    }

    /**
     * @notice The payee anchors the e-invoice of a released payment and delivers it to the payer (S8.3). One invoice
     * per payment. Caller: the payee's FINANCE.
     * @dev The payee is the contract's Party B even when the payment was assigned to a third member (S6.3): the
     * invoice is for what B delivered. Only the ciphertext carries the document; it is not checked on chain, the
     * payer checks it against `invoiceHash` after decrypting it.
     * @param invoiceHash keccak256 of the invoice document; non-zero.
     * @param invoiceCiphertext The invoice document encrypted to the payer's FINANCE encryption key.
     * @param signer Account of the payee's FINANCE department that signed the invoice (an ERC-1271 wallet may sign).
     * @param signature EIP-712 signature of Invoice(voucherId, invoiceHash), see {invoiceDigest}.
     */
    function anchorInvoice(
        bytes32 contractNo,
        uint8 seq,
        bytes32 invoiceHash,
        bytes calldata invoiceCiphertext,
        address signer,
        bytes calldata signature
    ) external {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        uint32 payee = voucher.payee;
        (uint32 caller,) = registry.accountOrg(msg.sender, Department.FINANCE);
        if (caller != payee) revert WrongParty(msg.sender, payee);
        _requireStatus(voucherId, voucher.status, VoucherStatus.RELEASED);
        bytes32 anchored = _invoices[voucherId];
        if (anchored != bytes32(0)) revert InvoiceAlreadyAnchored(voucherId, anchored);
        if (invoiceHash == bytes32(0)) revert InvalidInvoiceHash();
        _checkSignature(payee, signer, invoiceDigest(voucherId, invoiceHash), signature);
        _invoices[voucherId] = invoiceHash;
        emit InvoiceAnchored(voucherId, contractNo, payee, seq, invoiceHash, invoiceCiphertext, signer, signature);
    }

    /// @notice Stops freezing funds for new vouchers and releasing requested ones. Caller: an OPERATOR of the institution.
    function pause() external onlyOperator {
        _pause();
    }

    /// @notice Resumes what {pause} stopped. Caller: an OPERATOR of the payment institution.
    function unpause() external onlyOperator {
        _unpause();
    }

    /// @notice Returns the record of payment `voucherId` (status NONE if unknown).
    function voucherOf(bytes32 voucherId) external view returns (Voucher memory) {
        return _vouchers[voucherId];
    }

    /**
     * @notice What the next step of payment `voucherId` must match: the payee's salted account hash while APPLIED,
     * the payment key's commitment while FROZEN or PRESENTED, the beneficiary's pinned treasury (an address in the
     * low 20 bytes) while REQUESTED; zero once the payment is final.
     */
    function commitmentOf(bytes32 voucherId) external view returns (bytes32) {
        return _commitments[voucherId];
    }

    /// @notice Returns the hash of the e-invoice anchored for `voucherId` (zero if none yet).
    function invoiceOf(bytes32 voucherId) external view returns (bytes32) {
        return _invoices[voucherId];
    }

    /// @notice When payer and beneficiary may settle requested payment `voucherId` without the institution: the
    /// request's time plus {releaseWindow}; zero unless the payment is REQUESTED.
    function releaseDeadlineOf(bytes32 voucherId) public view returns (uint256) {
        Voucher storage voucher = _vouchers[voucherId];
        return voucher.status == VoucherStatus.REQUESTED ? uint256(voucher.time) + releaseWindow : 0;
    }

    /// @notice The commitment Party A puts on chain for `secret`: bound to this chain, this escrow and the voucher.
    function keyCommitmentFor(bytes32 voucherId, bytes32 secret) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), voucherId, secret));
    }

    /// @notice The EIP-712 digest the payee signs to confirm an assignment; lets clients check what they sign.
    function assignmentDigest(bytes32 voucherId, uint32 assigneeOrg, bytes32 bankAccountHash)
        public
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(_ASSIGNMENT_TYPEHASH, voucherId, assigneeOrg, bankAccountHash)));
    }

    /// @notice The EIP-712 digest the payee signs for an e-invoice; lets clients check what they sign.
    function invoiceDigest(bytes32 voucherId, bytes32 invoiceHash) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_INVOICE_TYPEHASH, voucherId, invoiceHash)));
    }

    /// @notice The EIP-712 digest a party signs to settle a requested payment without the institution.
    function settlementDigest(bytes32 voucherId, bool toBeneficiary) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_SETTLEMENT_TYPEHASH, voucherId, toBeneficiary)));
    }

    /// @dev Records `beneficiaryOrg` as the org to pay and pins `treasury`, where the funds will go.
    function _request(bytes32 voucherId, Voucher storage voucher, uint32 beneficiaryOrg, address treasury) private {
        voucher.beneficiaryOrg = beneficiaryOrg;
        voucher.status = VoucherStatus.REQUESTED;
        voucher.time = uint40(block.timestamp);
        _commitments[voucherId] = bytes32(uint256(uint160(treasury)));
    }

    /// @dev Pays a requested voucher to its pinned treasury and emits the second voucher (S7.1).
    function _pay(
        bytes32 voucherId,
        Voucher storage voucher,
        bytes32 contractNo,
        uint8 seq,
        address asset,
        uint32 payer
    ) private {
        address beneficiary = address(uint160(uint256(_commitments[voucherId])));
        voucher.status = VoucherStatus.RELEASED;
        delete _commitments[voucherId];
        uint128 amount = voucher.amount;
        emit SecondVoucher(
            voucherId,
            payer,
            voucher.payee,
            contractNo,
            seq,
            voucher.beneficiaryOrg,
            beneficiary,
            asset,
            amount,
            block.timestamp,
            msg.sender
        );
        _transfer(IERC20(asset), address(this), beneficiary, amount);
    }

    /// @dev Returns a voucher's funds to the payer's treasury; the amount is again unpaid on the contract.
    function _return(
        bytes32 voucherId,
        Voucher storage voucher,
        bytes32 contractNo,
        uint8 seq,
        address asset,
        uint32 payer,
        address payerTreasury
    ) private {
        voucher.status = VoucherStatus.RECLAIMED;
        delete _commitments[voucherId];
        uint128 amount = voucher.amount;
        emit PaymentReclaimed(voucherId, contractNo, payer, seq, payerTreasury, amount);
        registry.releaseCommitment(contractNo, amount);
        _transfer(IERC20(asset), address(this), payerTreasury, amount);
    }

    /// @dev Moves `amount` of `token` and checks that the recipient's balance moved by exactly that amount.
    function _transfer(IERC20 token, address from, address to, uint128 amount) private {
        uint256 before = token.balanceOf(to);
        if (from == address(this)) {
            token.safeTransfer(to, amount);
        } else {
            token.safeTransferFrom(from, to, amount);
        }
        uint256 received = token.balanceOf(to) - before;
        if (received != amount) revert UnsupportedToken(address(token), amount, received);
    }

    /// @dev Reverts unless the payment's key is still valid and it is FROZEN or PRESENTED.
    function _requireRedeemable(bytes32 voucherId, Voucher storage voucher) private view {
        VoucherStatus status = voucher.status;
        if (status != VoucherStatus.FROZEN && status != VoucherStatus.PRESENTED) {
            revert UnexpectedVoucherStatus(voucherId, status);
        }
        if (block.timestamp >= voucher.time) revert PaymentKeyExpired(voucherId, voucher.time);
    }

    function _voucher(bytes32 contractNo, uint8 seq) private view returns (bytes32 voucherId, Voucher storage voucher) {
        voucherId = PaymentIds.voucherId(contractNo, seq);
        voucher = _vouchers[voucherId];
        if (voucher.status == VoucherStatus.NONE) revert UnknownVoucher(voucherId);
    }

    function _requireStatus(bytes32 voucherId, VoucherStatus status, VoucherStatus expected) private pure {
        if (status == VoucherStatus.NONE) revert UnknownVoucher(voucherId);
        if (status != expected) revert UnexpectedVoucherStatus(voucherId, status);
    }

    /// @dev Reverts unless `signer` acts for `orgId`'s FINANCE (an active org) and `signature` is its signature.
    function _checkSignature(uint32 orgId, address signer, bytes32 digest, bytes calldata signature) private view {
        try registry.requireMember(signer, orgId, Department.FINANCE) {}
        catch {
            revert UnauthorizedSigner(signer, orgId);
        }
        if (!SignatureChecker.isValidSignatureNow(signer, digest, signature)) revert InvalidSignature(signer);
    }
}
