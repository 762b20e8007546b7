// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {VoucherStatus} from "../CollabTypes.sol";
import {ICollabErrors} from "./ICollabErrors.sol";
import {ICollabRegistry} from "./ICollabRegistry.sol";

/// @notice S5.4–S8.3: the ledger of payments, their frozen funds, the payment key, release and the second voucher.
interface IPaymentEscrow is ICollabErrors {
    /// @notice Emitted when the payee's finance redeems the key: the institution may now pay `beneficiary` (S6.1).
    event PaymentRequested(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint32 indexed beneficiaryOrg,
        uint8 seq,
        address beneficiary,
        address requestedBy
    );
    /// @notice Emitted when a third member presents the key; the payee is asked to confirm the assignment (S6.3).
    event PaymentKeyPresented(
        bytes32 indexed voucherId, bytes32 indexed contractNo, uint32 indexed presenterOrg, uint8 seq, address presentedBy
    );
    /// @notice Emitted when the beneficiary pins its current treasury for a requested payment (after a treasury move).
    event BeneficiaryTreasuryPinned(
        bytes32 indexed voucherId, bytes32 indexed contractNo, uint32 indexed beneficiaryOrg, uint8 seq, address beneficiary
    );
    /// @notice Emitted when the payee confirms the assignment: the institution may now pay the assignee (S6.3).
    event AssignmentConfirmed(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint32 indexed beneficiaryOrg,
        uint8 seq,
        address beneficiary,
        bytes32 bankAccountHash,
        bytes bankAccountCiphertext,
        address signer
    );
    /**
     * @notice The second voucher (S7.1): `amount` of `asset` went from the payer's frozen funds to the beneficiary's
     * treasury at `paidAt`, released by `releasedBy` (the institution's operator, or the party that settled without
     * it, S6.5). The single source accounting listens to.
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
        address releasedBy
    );
    /// @notice Emitted when frozen funds go back to the payer: an expired key (S6.4), or after the release deadline
    /// without the institution (S6.5, with {SettledWithoutInstitution}).
    event PaymentReclaimed(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint32 indexed payerOrg,
        uint8 seq,
        address payerTreasury,
        uint256 amount
    );
    /**
     * @notice Emitted when payer and beneficiary settled a requested payment without the institution (S6.5): one
     * party sent the other's signature (`cosigner`), or settled alone in its own favour because the other's org is
     * suspended (`cosigner` zero).
     */
    event SettledWithoutInstitution(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint8 seq,
        bool toBeneficiary,
        address caller,
        address cosigner
    );
    /**
     * @notice The payee anchored the e-invoice of a released payment (S8.3): `invoiceHash` is the keccak256 of the
     * invoice document, `invoiceCiphertext` the document encrypted to the payer's finance department (its delivery),
     * and `signature` `signer`'s EIP-712 signature of Invoice(voucherId, invoiceHash).
     */
    event InvoiceAnchored(
        bytes32 indexed voucherId,
        bytes32 indexed contractNo,
        uint32 indexed payeeOrg,
        uint8 seq,
        bytes32 invoiceHash,
        bytes invoiceCiphertext,
        address signer,
        bytes signature
    );

    /// @notice No payment with this id is recorded.
    error UnknownVoucher(bytes32 voucherId);
    /// @notice The voucher's amount differs from the application's.
    error PaymentAmountMismatch(bytes32 voucherId, uint256 applied, uint256 issued);
    /// @notice The voucher pays another account than the one the payee applied with (S5.1, S5.2).
    error PaymentAccountMismatch(bytes32 voucherId, bytes32 applied, bytes32 issued);
    /// @notice The voucher is not in a status that allows this step.
    error UnexpectedVoucherStatus(bytes32 voucherId, VoucherStatus status);
    /// @notice A balance moved by another amount than the one transferred: fee-on-transfer and rebasing tokens are
    /// refused, also when a listed token changes its behaviour.
    error UnsupportedToken(address asset, uint256 expected, uint256 received);
    /// @notice The payment key expired (S6.4).
    error PaymentKeyExpired(bytes32 voucherId, uint256 expiry);
    /// @notice The payment key has not expired yet: the payer cannot reclaim.
    error PaymentKeyNotExpired(bytes32 voucherId, uint256 expiry);
    /// @notice The secret does not open the voucher's key commitment.
    error WrongSecret(bytes32 voucherId);
    /// @notice The payer and the payee cannot be a third-party assignee of their own payment.
    error InvalidAssignee(uint32 orgId);
    /// @notice The payment key's expiry must be between {minKeyLifetime} and {MAX_KEY_LIFETIME} from now.
    error InvalidExpiry(uint256 expiry);
    /// @notice An invoice hash must not be zero.
    error InvalidInvoiceHash();
    /// @notice This payment already has its e-invoice (S8.3: one per payment); `invoiceHash` is the anchored one.
    error InvoiceAlreadyAnchored(bytes32 voucherId, bytes32 invoiceHash);
    /// @notice Payer and beneficiary may settle a requested payment without the institution only after `deadline`.
    error ReleaseDeadlineNotReached(bytes32 voucherId, uint256 deadline);
    /// @notice A party settling alone (the other's org is suspended) may only settle in its own favour.
    error SettlementDirectionRefused(bytes32 voucherId, bool toBeneficiary);
    /// @notice The release window and the shortest key lifetime must be within the escrow's bounds.
    error InvalidWindow(uint256 window);

    /// @notice Records payment application `voucherId` for `amount` into the account hashed `accountHash` (S5.1).
    /// @dev Callable by the registry only.
    function recordApplication(bytes32 voucherId, uint128 amount, bytes32 accountHash) external;

    /// @notice Closes application `voucherId` without a voucher (`status` REFUSED or WITHDRAWN); returns its amount.
    /// @dev Callable by the registry only.
    function closeApplication(bytes32 voucherId, VoucherStatus status) external returns (uint128 amount);

    /**
     * @notice Pulls `amount` of `asset` from `payerTreasury` and freezes it for payment voucher `voucherId` of a
     * contract whose payee is `payee` (S5.4).
     * @dev Callable by the registry only, in the transaction that issues the voucher. `amount` and `accountHash` must
     * be the application's, and an application gets one voucher.
     */
    function freeze(
        bytes32 voucherId,
        address asset,
        address payerTreasury,
        uint32 payee,
        uint128 amount,
        bytes32 accountHash,
        bytes32 keyCommitment,
        uint40 expiry
    ) external;

    /// @notice The registry whose settlement module records applications and freezes funds here.
    function registry() external view returns (ICollabRegistry);

    /// @notice The payment institution whose operators release funds and pause the escrow.
    function institutionOrg() external view returns (uint32);
}
