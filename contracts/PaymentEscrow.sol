// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IContractRegistry} from "./interfaces/IContractRegistry.sol";
import {IPaymentEscrow} from "./interfaces/IPaymentEscrow.sol";
import {Department, VoucherStatus} from "./CollabTypes.sol";

/**
 * @title PaymentEscrow
 * @notice S5.4–S7: the ledger of payments. It records each payment application, holds the payer's frozen funds
 * per payment voucher and releases them against the payment key.
 *
 * The payee's finance department redeems the key before it expires by revealing its secret; or a third member (Party
 * C) presents it and the payee confirms the assignment with an EIP-712 signature naming C. The payment institution's
 * operator then transfers the funds to the beneficiary's treasury, which emits the second voucher (S7). An expired,
 * unredeemed key lets the payer's finance department reclaim the funds (S6.4). Once paid, the payee's finance
 * department anchors its signed e-invoice for the payment and delivers it, encrypted to the payer, in the same
 * transaction (S8.3).
 *
 * @dev A revealed secret only ever pays the beneficiary recorded with it: the payee itself, or the org the payee
 * confirmed. Funds move only to treasuries registered in the registry. The institution's operators can pause.
 * The functions that call the token are `nonReentrant` and follow checks-effects-interactions; the others only make
 * static calls to the registry. Pausing stops movements of funds only: anchoring an e-invoice moves none and is
 * allowed while paused, so invoicing of payments already made is not held up by an incident.
 */
contract PaymentEscrow is IPaymentEscrow, EIP712, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice One payment: its amount, status, key expiry and, once redeemed or presented, the orgs concerned.
    struct Voucher {
        uint128 amount;
        VoucherStatus status;
        uint40 expiry;
        uint32 beneficiaryOrg;
        uint32 presenterOrg;
    }

    /// @dev EIP-712 type of the payee's confirmation that a presented key pays `assigneeOrg` (S6.3).
    bytes32 private constant _ASSIGNMENT_TYPEHASH =
        keccak256("AssignmentConfirmation(bytes32 voucherId,uint32 assigneeOrg,bytes32 bankAccountHash)");
    /// @dev EIP-712 type of the payee's signature over the e-invoice of a released payment (S8.3).
    bytes32 private constant _INVOICE_TYPEHASH = keccak256("Invoice(bytes32 voucherId,bytes32 invoiceHash)");

    /// @notice The registry of members and contracts this escrow serves.
    IContractRegistry public immutable registry;
    /// @notice The payment institution whose operators release funds and pause the escrow.
    uint32 public immutable institutionOrg;

    mapping(bytes32 voucherId => Voucher) private _vouchers;
    mapping(bytes32 voucherId => bytes32) private _keyCommitments;
    mapping(bytes32 voucherId => bytes32) private _invoices;

    /// @notice Emitted when a payment voucher's funds are pulled from the payer's treasury and frozen (S5.4).
    event FundsFrozen(bytes32 indexed voucherId, address indexed asset, address payerTreasury, uint256 amount, uint256 expiry);
    /// @notice Emitted when the payee's finance redeems the key: the institution may now pay the payee (S6.1).
    event PaymentRequested(bytes32 indexed voucherId, bytes32 indexed contractNo, uint32 indexed beneficiaryOrg, address requestedBy);
    /// @notice Emitted when a third member presents the key; the payee is asked to confirm the assignment (S6.3).
    event PaymentKeyPresented(bytes32 indexed voucherId, bytes32 indexed contractNo, uint32 indexed presenterOrg, address presentedBy);
    /// @notice Emitted when the payee confirms the assignment: the institution may now pay the assignee (S6.3).
    event AssignmentConfirmed(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint32 indexed beneficiaryOrg,
        bytes32 bankAccountHash,
        bytes bankAccountCiphertext,
        address signer
    );
    /**
     * @notice The second voucher (S7.1): the institution transferred `amount` of `asset` from the payer's frozen
     * funds to the beneficiary's treasury at `paidAt`. The single source accounting listens to.
     */
    event SecondVoucher(
        bytes32 indexed voucherId,
        uint32 indexed payerOrg,
        uint32 indexed payeeOrg,
        bytes32 contractNo,
        uint8 seq,
        uint32 beneficiaryOrg,
        address beneficiary,
        address asset,
        uint256 amount,
        uint256 paidAt,
        address operator
    );
    /// @notice Emitted when the payer's finance takes back the funds of an expired, unredeemed key (S6.4).
    event PaymentReclaimed(bytes32 indexed voucherId, bytes32 indexed contractNo, uint32 indexed payerOrg, address payerTreasury, uint256 amount);
    /**
     * @notice The payee anchored the e-invoice of a released payment (S8.3): `invoiceHash` is the keccak256 of the
     * invoice document, `invoiceCiphertext` the document encrypted to the payer's finance department (its delivery),
     * and `signature` `signer`'s EIP-712 signature of Invoice(voucherId, invoiceHash).
     */
    event InvoiceAnchored(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint32 indexed payeeOrg,
        bytes32 invoiceHash,
        bytes invoiceCiphertext,
        address signer,
        bytes signature
    );

    /// @notice Only the registry may call this function.
    error UnauthorizedCaller(address caller);
    /// @notice A payment with this id is already recorded.
    error VoucherExists(bytes32 voucherId);
    /// @notice No payment with this id is recorded.
    error UnknownVoucher(bytes32 voucherId);
    /// @notice This application already has its payment voucher (S5.2: one per application).
    error PaymentAlreadyIssued(bytes32 voucherId);
    /// @notice The voucher's amount differs from the application's.
    error PaymentAmountMismatch(bytes32 voucherId, uint256 applied, uint256 issued);
    /// @notice The voucher is not in a status that allows this step.
    error UnexpectedVoucherStatus(bytes32 voucherId, VoucherStatus status);
    /// @notice The escrow received another amount than the one transferred: fee-on-transfer and rebasing tokens are refused.
    error UnsupportedToken(address asset, uint256 expected, uint256 received);
    /// @notice The payment key expired (S6.4).
    error PaymentKeyExpired(bytes32 voucherId, uint256 expiry);
    /// @notice The payment key has not expired yet: the payer cannot reclaim.
    error PaymentKeyNotExpired(bytes32 voucherId, uint256 expiry);
    /// @notice The secret does not open the voucher's key commitment.
    error WrongSecret(bytes32 voucherId);
    /// @notice The payer and the payee cannot present a key as a third party.
    error InvalidAssignee(uint32 orgId);
    /// @notice The assignment names another org than the one that presented the key.
    error AssigneeMismatch(uint32 presenterOrg, uint32 assigneeOrg);
    /// @notice The caller acts for neither the payee nor the org that presented the key.
    error WrongParty(address account, uint32 expectedOrgId);
    /// @notice The signature is not `signer`'s over the expected typed data (EIP-712 or ERC-1271).
    error InvalidSignature(address signer);
    /// @notice The signer does not act for the FINANCE department of the org that must sign (an active org).
    error UnauthorizedSigner(address signer, uint32 orgId);
    /// @notice An invoice hash must not be zero.
    error InvalidInvoiceHash();
    /// @notice This payment already has its e-invoice (S8.3: one per payment); `invoiceHash` is the anchored one.
    error InvoiceAlreadyAnchored(bytes32 voucherId, bytes32 invoiceHash);

    modifier onlyRegistry() {
        if (msg.sender != address(registry)) revert UnauthorizedCaller(msg.sender);
        _;
    }

    modifier onlyOperator() {
        registry.requireMember(msg.sender, institutionOrg, Department.OPERATOR);
        _;
    }

    /**
     * @param registry_ The registry whose {Settlement} module freezes funds here.
     * @param institutionOrg_ Org id of the payment institution operating this escrow.
     */
    constructor(IContractRegistry registry_, uint32 institutionOrg_) EIP712("collab PaymentEscrow", "1") {
        registry = registry_;
        institutionOrg = institutionOrg_;
    }

    /// @inheritdoc IPaymentEscrow
    function recordApplication(bytes32 voucherId, uint128 amount) external onlyRegistry {
        Voucher storage voucher = _vouchers[voucherId];
        if (voucher.status != VoucherStatus.NONE) revert VoucherExists(voucherId);
        voucher.amount = amount;
        voucher.status = VoucherStatus.APPLIED;
    }

    /// @inheritdoc IPaymentEscrow
    function freeze(
        bytes32 voucherId,
        address asset,
        address payerTreasury,
        uint128 amount,
        bytes32 keyCommitment,
        uint40 expiry
    ) external onlyRegistry whenNotPaused nonReentrant {
        Voucher storage voucher = _vouchers[voucherId];
        VoucherStatus status = voucher.status;
        if (status == VoucherStatus.NONE) revert UnknownVoucher(voucherId);
        if (status != VoucherStatus.APPLIED) revert PaymentAlreadyIssued(voucherId);
        if (amount != voucher.amount) revert PaymentAmountMismatch(voucherId, voucher.amount, amount);
        voucher.status = VoucherStatus.FROZEN;
        voucher.expiry = expiry;
        _keyCommitments[voucherId] = keyCommitment;
        emit FundsFrozen(voucherId, asset, payerTreasury, amount, expiry);

        IERC20 token = IERC20(asset);
        uint256 balanceBefore = token.balanceOf(address(this));
        token.safeTransferFrom(payerTreasury, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - balanceBefore;
        if (received != amount) revert UnsupportedToken(asset, amount, received);
    }

    /**
     * @notice The payee's finance redeems the payment key before it expires (S6.1): the funds will be paid to the
     * payee. Also overrides a pending presentation by a third party. Caller: the payee's FINANCE.
     * @param secret The secret from the decrypted payment key.
     */
    function requestPayment(bytes32 contractNo, uint8 seq, bytes32 secret) external whenNotPaused {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        (, , uint32 payee) = registry.partiesOf(contractNo);
        registry.requireMember(msg.sender, payee, Department.FINANCE);
        VoucherStatus status = voucher.status;
        if (status != VoucherStatus.FROZEN && status != VoucherStatus.PRESENTED) {
            revert UnexpectedVoucherStatus(voucherId, status);
        }
        _checkKey(voucherId, voucher.expiry, secret);
        voucher.beneficiaryOrg = payee;
        voucher.status = VoucherStatus.REQUESTED;
        emit PaymentRequested(voucherId, contractNo, payee, msg.sender);
    }

    /**
     * @notice A third member (Party C) presents a payment key the payee passed to it (S6.3); the payee must then
     * confirm with {confirmAssignment}. Caller: the FINANCE department of an active org other than payer and payee.
     */
    function presentPaymentKey(bytes32 contractNo, uint8 seq, bytes32 secret) external whenNotPaused {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        uint32 presenter = registry.requireDepartment(msg.sender, Department.FINANCE);
        (, uint32 payer, uint32 payee) = registry.partiesOf(contractNo);
        if (presenter == payer || presenter == payee) revert InvalidAssignee(presenter);
        if (voucher.status != VoucherStatus.FROZEN) revert UnexpectedVoucherStatus(voucherId, voucher.status);
        _checkKey(voucherId, voucher.expiry, secret);
        voucher.presenterOrg = presenter;
        voucher.status = VoucherStatus.PRESENTED;
        emit PaymentKeyPresented(voucherId, contractNo, presenter, msg.sender);
    }

    /**
     * @notice Confirms that a presented key pays the org that presented it (S6.3), with the payee's signature.
     * Caller: the FINANCE department of the payee or of the presenting org, before the key expires.
     * @param assigneeOrg The org the payee names; must be the presenting org.
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
    ) external whenNotPaused {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        (, , uint32 payee) = registry.partiesOf(contractNo);
        uint32 caller = registry.requireDepartment(msg.sender, Department.FINANCE);
        uint32 presenter = voucher.presenterOrg;
        if (caller != payee && caller != presenter) revert WrongParty(msg.sender, payee);
        if (voucher.status != VoucherStatus.PRESENTED) revert UnexpectedVoucherStatus(voucherId, voucher.status);
        if (block.timestamp >= voucher.expiry) revert PaymentKeyExpired(voucherId, voucher.expiry);
        if (assigneeOrg != presenter) revert AssigneeMismatch(presenter, assigneeOrg);
        _checkAssignmentSignature(voucherId, payee, assigneeOrg, bankAccountHash, signer, signature);
        voucher.beneficiaryOrg = assigneeOrg;
        voucher.status = VoucherStatus.REQUESTED;
        emit AssignmentConfirmed(voucherId, contractNo, assigneeOrg, bankAccountHash, bankAccountCiphertext, signer);
    }

    /**
     * @notice The institution transfers a requested payment to the beneficiary's treasury and emits the second
     * voucher (S6.2, S7.1). Caller: an OPERATOR of the payment institution.
     */
    function release(bytes32 contractNo, uint8 seq) external onlyOperator whenNotPaused nonReentrant {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        if (voucher.status != VoucherStatus.REQUESTED) revert UnexpectedVoucherStatus(voucherId, voucher.status);
        voucher.status = VoucherStatus.RELEASED;
        (address asset, uint32 payer, uint32 payee) = registry.partiesOf(contractNo);
        uint32 beneficiaryOrg = voucher.beneficiaryOrg;
        address beneficiary = registry.treasuryOf(beneficiaryOrg);
        uint128 amount = voucher.amount;
        emit SecondVoucher(
            voucherId, payer, payee, contractNo, seq, beneficiaryOrg, beneficiary, asset, amount, block.timestamp, msg.sender
        );
        IERC20(asset).safeTransfer(beneficiary, amount);
    }

    /**
     * @notice The payer's finance takes back the funds of an expired key that was never redeemed (S6.4); the amount
     * is again unpaid on the contract. Caller: the payer's FINANCE.
     */
    function reclaim(bytes32 contractNo, uint8 seq) external whenNotPaused nonReentrant {
        (bytes32 voucherId, Voucher storage voucher) = _voucher(contractNo, seq);
        (address asset, uint32 payer, ) = registry.partiesOf(contractNo);
        registry.requireMember(msg.sender, payer, Department.FINANCE);
        VoucherStatus status = voucher.status;
        if (status != VoucherStatus.FROZEN && status != VoucherStatus.PRESENTED) {
            revert UnexpectedVoucherStatus(voucherId, status);
        }
        if (block.timestamp < voucher.expiry) revert PaymentKeyNotExpired(voucherId, voucher.expiry);
        voucher.status = VoucherStatus.RECLAIMED;
        uint128 amount = voucher.amount;
        address payerTreasury = registry.treasuryOf(payer);
        emit PaymentReclaimed(voucherId, contractNo, payer, payerTreasury, amount);
        registry.releaseCommitment(contractNo, amount);
        IERC20(asset).safeTransfer(payerTreasury, amount);
    }

    /**
     * @notice The payee anchors the e-invoice of a released payment and delivers it to the payer (S8.3). One invoice
     * per payment. Caller: the payee's FINANCE. Allowed while paused: it moves no funds.
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
        (, , uint32 payee) = registry.partiesOf(contractNo);
        registry.requireMember(msg.sender, payee, Department.FINANCE);
        if (voucher.status != VoucherStatus.RELEASED) revert UnexpectedVoucherStatus(voucherId, voucher.status);
        bytes32 anchored = _invoices[voucherId];
        if (anchored != bytes32(0)) revert InvoiceAlreadyAnchored(voucherId, anchored);
        if (invoiceHash == bytes32(0)) revert InvalidInvoiceHash();
        _checkInvoiceSignature(voucherId, payee, invoiceHash, signer, signature);
        _invoices[voucherId] = invoiceHash;
        emit InvoiceAnchored(voucherId, contractNo, payee, invoiceHash, invoiceCiphertext, signer, signature);
    }

    /// @notice Stops every movement of funds. Caller: an OPERATOR of the payment institution.
    function pause() external onlyOperator {
        _pause();
    }

    /// @notice Resumes movements of funds. Caller: an OPERATOR of the payment institution.
    function unpause() external onlyOperator {
        _unpause();
    }

    /// @notice Returns the frozen-funds record of `voucherId` (status NONE if unknown).
    function voucherOf(bytes32 voucherId) external view returns (Voucher memory) {
        return _vouchers[voucherId];
    }

    /// @notice Returns the commitment to the secret of `voucherId`'s payment key.
    function keyCommitmentOf(bytes32 voucherId) external view returns (bytes32) {
        return _keyCommitments[voucherId];
    }

    /// @notice Returns the hash of the e-invoice anchored for `voucherId` (zero if none yet).
    function invoiceOf(bytes32 voucherId) external view returns (bytes32) {
        return _invoices[voucherId];
    }

    /// @notice The commitment Party A puts on chain for `secret`: bound to this chain, this escrow and the voucher.
    function commitmentOf(bytes32 voucherId, bytes32 secret) public view returns (bytes32) {
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

    function _voucher(bytes32 contractNo, uint8 seq) private view returns (bytes32 voucherId, Voucher storage voucher) {
        voucherId = keccak256(abi.encode(contractNo, seq));
        voucher = _vouchers[voucherId];
        if (voucher.status == VoucherStatus.NONE) revert UnknownVoucher(voucherId);
    }

    function _checkKey(bytes32 voucherId, uint40 expiry, bytes32 secret) private view {
        if (block.timestamp >= expiry) revert PaymentKeyExpired(voucherId, expiry);
        if (commitmentOf(voucherId, secret) != _keyCommitments[voucherId]) revert WrongSecret(voucherId);
    }

    function _checkAssignmentSignature(
        bytes32 voucherId,
        uint32 payee,
        uint32 assigneeOrg,
        bytes32 bankAccountHash,
        address signer,
        bytes calldata signature
    ) private view {
        registry.requireMember(signer, payee, Department.FINANCE);
        bytes32 digest = assignmentDigest(voucherId, assigneeOrg, bankAccountHash);
        if (!SignatureChecker.isValidSignatureNow(signer, digest, signature)) revert InvalidSignature(signer);
    }

    /// @dev Reverts unless `signer` acts for `payee`'s FINANCE and `signature` is its signature of the invoice.
    function _checkInvoiceSignature(
        bytes32 voucherId,
        uint32 payee,
        bytes32 invoiceHash,
        address signer,
        bytes calldata signature
    ) private view {
        try registry.requireMember(signer, payee, Department.FINANCE) {} catch {
            revert UnauthorizedSigner(signer, payee);
        }
        bytes32 digest = invoiceDigest(voucherId, invoiceHash);
        if (!SignatureChecker.isValidSignatureNow(signer, digest, signature)) revert InvalidSignature(signer);
    }
}
