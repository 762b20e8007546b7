"""Every custom error of CollabRegistry, PaymentEscrow and DepositToken as an exception class.

Generated from the compiled ABIs by ``python -m collab_py.chain.errors_gen`` (``make errors``): do not edit. Import
the classes from :mod:`collab_py.chain.errors`.
"""

from __future__ import annotations

from enum import IntEnum

from collab_py.chain.enums import ContractStatus, Department, OrgKind, VoucherStatus
from collab_py.exceptions import ContractError

#: An argument of an error: its name, its ABI type, and the Python mirror of its enum (None for other types).
Argument = tuple[str, str, type[IntEnum] | None]

__all__ = [
    "AccessControlBadConfirmation",
    "AccessControlUnauthorizedAccount",
    "AccountAlreadyBound",
    "AssetNotAccepted",
    "DigitalCodeMismatch",
    "DuplicateContractNumber",
    "ERC20InsufficientAllowance",
    "ERC20InsufficientBalance",
    "ERC20InvalidApprover",
    "ERC20InvalidReceiver",
    "ERC20InvalidSender",
    "ERC20InvalidSpender",
    "EnforcedPause",
    "EscrowAlreadySet",
    "ExpectedPause",
    "InvalidAccountHash",
    "InvalidAmount",
    "InvalidAsset",
    "InvalidAssignee",
    "InvalidContractNumber",
    "InvalidCounterparty",
    "InvalidDepartment",
    "InvalidDocumentHash",
    "InvalidEncryptionKey",
    "InvalidEscrow",
    "InvalidExpiry",
    "InvalidInvoiceHash",
    "InvalidOrgId",
    "InvalidOrgKind",
    "InvalidOrgName",
    "InvalidPaymentKey",
    "InvalidResultHash",
    "InvalidShortString",
    "InvalidSignature",
    "InvalidStage",
    "InvalidStageCount",
    "InvalidTreasury",
    "InvalidWindow",
    "InvoiceAlreadyAnchored",
    "NotAMember",
    "OrgAlreadyRegistered",
    "OrgSuspended",
    "OwnableInvalidOwner",
    "OwnableUnauthorizedAccount",
    "PaymentAccountMismatch",
    "PaymentAmountMismatch",
    "PaymentExceedsUnpaid",
    "PaymentKeyExpired",
    "PaymentKeyNotExpired",
    "PaymentLimitReached",
    "ReentrancyGuardReentrantCall",
    "ReleaseDeadlineNotReached",
    "SafeCastOverflowedUintDowncast",
    "SafeERC20FailedOperation",
    "SettlementDirectionRefused",
    "StageAlreadySubmitted",
    "StageAlreadyVouched",
    "StageNotPending",
    "StageOutOfRange",
    "StageResultMismatch",
    "StageSpecMismatch",
    "StagesNotVouched",
    "StringTooLong",
    "UnauthorizedCaller",
    "UnauthorizedSigner",
    "UnexpectedContractStatus",
    "UnexpectedVoucherStatus",
    "UnknownContract",
    "UnknownOrg",
    "UnknownVoucher",
    "UnsupportedToken",
    "WrongDepartment",
    "WrongParty",
    "WrongSecret",
]


class AccessControlBadConfirmation(ContractError):
    """``AccessControlBadConfirmation()``, declared by DepositToken."""

    error_name = "AccessControlBadConfirmation"


class AccessControlUnauthorizedAccount(ContractError):
    """``AccessControlUnauthorizedAccount(address account, bytes32 neededRole)``, declared by DepositToken."""

    error_name = "AccessControlUnauthorizedAccount"


class AccountAlreadyBound(ContractError):
    """``AccountAlreadyBound(address account, uint32 orgId)``, declared by CollabRegistry."""

    error_name = "AccountAlreadyBound"


class AssetNotAccepted(ContractError):
    """``AssetNotAccepted(address asset)``, declared by CollabRegistry."""

    error_name = "AssetNotAccepted"


class DigitalCodeMismatch(ContractError):
    """``DigitalCodeMismatch(bytes32 contractNo, bytes32 docHash, bytes32 termsHash)``, declared by
    CollabRegistry."""

    error_name = "DigitalCodeMismatch"


class DuplicateContractNumber(ContractError):
    """``DuplicateContractNumber(bytes32 contractNo)``, declared by CollabRegistry."""

    error_name = "DuplicateContractNumber"


class ERC20InsufficientAllowance(ContractError):
    """``ERC20InsufficientAllowance(address spender, uint256 allowance, uint256 needed)``, declared by
    DepositToken."""

    error_name = "ERC20InsufficientAllowance"


class ERC20InsufficientBalance(ContractError):
    """``ERC20InsufficientBalance(address sender, uint256 balance, uint256 needed)``, declared by DepositToken."""

    error_name = "ERC20InsufficientBalance"


class ERC20InvalidApprover(ContractError):
    """``ERC20InvalidApprover(address approver)``, declared by DepositToken."""

    error_name = "ERC20InvalidApprover"


class ERC20InvalidReceiver(ContractError):
    """``ERC20InvalidReceiver(address receiver)``, declared by DepositToken."""

    error_name = "ERC20InvalidReceiver"


class ERC20InvalidSender(ContractError):
    """``ERC20InvalidSender(address sender)``, declared by DepositToken."""

    error_name = "ERC20InvalidSender"


class ERC20InvalidSpender(ContractError):
    """``ERC20InvalidSpender(address spender)``, declared by DepositToken."""

    error_name = "ERC20InvalidSpender"


class EnforcedPause(ContractError):
    """``EnforcedPause()``, declared by PaymentEscrow."""

    error_name = "EnforcedPause"


class EscrowAlreadySet(ContractError):
    """``EscrowAlreadySet()``, declared by CollabRegistry."""

    error_name = "EscrowAlreadySet"


class ExpectedPause(ContractError):
    """``ExpectedPause()``, declared by PaymentEscrow."""

    error_name = "ExpectedPause"


class InvalidAccountHash(ContractError):
    """``InvalidAccountHash()``, declared by CollabRegistry."""

    error_name = "InvalidAccountHash"


class InvalidAmount(ContractError):
    """``InvalidAmount()``, declared by CollabRegistry."""

    error_name = "InvalidAmount"


class InvalidAsset(ContractError):
    """``InvalidAsset(address asset)``, declared by CollabRegistry."""

    error_name = "InvalidAsset"


class InvalidAssignee(ContractError):
    """``InvalidAssignee(uint32 orgId)``, declared by PaymentEscrow."""

    error_name = "InvalidAssignee"


class InvalidContractNumber(ContractError):
    """``InvalidContractNumber()``, declared by CollabRegistry."""

    error_name = "InvalidContractNumber"


class InvalidCounterparty(ContractError):
    """``InvalidCounterparty(uint32 partyA)``, declared by CollabRegistry."""

    error_name = "InvalidCounterparty"


class InvalidDepartment(ContractError):
    """``InvalidDepartment(OrgKind kind, Department department)``, declared by CollabRegistry."""

    error_name = "InvalidDepartment"


class InvalidDocumentHash(ContractError):
    """``InvalidDocumentHash()``, declared by CollabRegistry."""

    error_name = "InvalidDocumentHash"


class InvalidEncryptionKey(ContractError):
    """``InvalidEncryptionKey()``, declared by CollabRegistry."""

    error_name = "InvalidEncryptionKey"


class InvalidEscrow(ContractError):
    """``InvalidEscrow(address escrow)``, declared by CollabRegistry."""

    error_name = "InvalidEscrow"


class InvalidExpiry(ContractError):
    """``InvalidExpiry(uint256 expiry)``, declared by PaymentEscrow."""

    error_name = "InvalidExpiry"


class InvalidInvoiceHash(ContractError):
    """``InvalidInvoiceHash()``, declared by PaymentEscrow."""

    error_name = "InvalidInvoiceHash"


class InvalidOrgId(ContractError):
    """``InvalidOrgId()``, declared by CollabRegistry."""

    error_name = "InvalidOrgId"


class InvalidOrgKind(ContractError):
    """``InvalidOrgKind()``, declared by CollabRegistry."""

    error_name = "InvalidOrgKind"


class InvalidOrgName(ContractError):
    """``InvalidOrgName()``, declared by CollabRegistry."""

    error_name = "InvalidOrgName"


class InvalidPaymentKey(ContractError):
    """``InvalidPaymentKey()``, declared by CollabRegistry."""

    error_name = "InvalidPaymentKey"


class InvalidResultHash(ContractError):
    """``InvalidResultHash()``, declared by CollabRegistry."""

    error_name = "InvalidResultHash"


class InvalidShortString(ContractError):
    """``InvalidShortString()``, declared by CollabRegistry and PaymentEscrow."""

    error_name = "InvalidShortString"


class InvalidSignature(ContractError):
    """``InvalidSignature(address signer)``, declared by CollabRegistry and PaymentEscrow."""

    error_name = "InvalidSignature"


class InvalidStage(ContractError):
    """``InvalidStage(uint256 stageIndex)``, declared by CollabRegistry."""

    error_name = "InvalidStage"


class InvalidStageCount(ContractError):
    """``InvalidStageCount(uint256 count)``, declared by CollabRegistry."""

    error_name = "InvalidStageCount"


class InvalidTreasury(ContractError):
    """``InvalidTreasury()``, declared by CollabRegistry."""

    error_name = "InvalidTreasury"


class InvalidWindow(ContractError):
    """``InvalidWindow(uint256 window)``, declared by PaymentEscrow."""

    error_name = "InvalidWindow"


class InvoiceAlreadyAnchored(ContractError):
    """``InvoiceAlreadyAnchored(bytes32 voucherId, bytes32 invoiceHash)``, declared by PaymentEscrow."""

    error_name = "InvoiceAlreadyAnchored"


class NotAMember(ContractError):
    """``NotAMember(address account)``, declared by CollabRegistry."""

    error_name = "NotAMember"


class OrgAlreadyRegistered(ContractError):
    """``OrgAlreadyRegistered(uint32 orgId)``, declared by CollabRegistry."""

    error_name = "OrgAlreadyRegistered"


class OrgSuspended(ContractError):
    """``OrgSuspended(uint32 orgId)``, declared by CollabRegistry."""

    error_name = "OrgSuspended"


class OwnableInvalidOwner(ContractError):
    """``OwnableInvalidOwner(address owner)``, declared by CollabRegistry."""

    error_name = "OwnableInvalidOwner"


class OwnableUnauthorizedAccount(ContractError):
    """``OwnableUnauthorizedAccount(address account)``, declared by CollabRegistry."""

    error_name = "OwnableUnauthorizedAccount"


class PaymentAccountMismatch(ContractError):
    """``PaymentAccountMismatch(bytes32 voucherId, bytes32 applied, bytes32 issued)``, declared by PaymentEscrow."""

    error_name = "PaymentAccountMismatch"


class PaymentAmountMismatch(ContractError):
    """``PaymentAmountMismatch(bytes32 voucherId, uint256 applied, uint256 issued)``, declared by PaymentEscrow."""

    error_name = "PaymentAmountMismatch"


class PaymentExceedsUnpaid(ContractError):
    """``PaymentExceedsUnpaid(bytes32 contractNo, uint256 amount, uint256 unpaid)``, declared by CollabRegistry."""

    error_name = "PaymentExceedsUnpaid"


class PaymentKeyExpired(ContractError):
    """``PaymentKeyExpired(bytes32 voucherId, uint256 expiry)``, declared by PaymentEscrow."""

    error_name = "PaymentKeyExpired"


class PaymentKeyNotExpired(ContractError):
    """``PaymentKeyNotExpired(bytes32 voucherId, uint256 expiry)``, declared by PaymentEscrow."""

    error_name = "PaymentKeyNotExpired"


class PaymentLimitReached(ContractError):
    """``PaymentLimitReached(bytes32 contractNo)``, declared by CollabRegistry."""

    error_name = "PaymentLimitReached"


class ReentrancyGuardReentrantCall(ContractError):
    """``ReentrancyGuardReentrantCall()``, declared by PaymentEscrow."""

    error_name = "ReentrancyGuardReentrantCall"


class ReleaseDeadlineNotReached(ContractError):
    """``ReleaseDeadlineNotReached(bytes32 voucherId, uint256 deadline)``, declared by PaymentEscrow."""

    error_name = "ReleaseDeadlineNotReached"


class SafeCastOverflowedUintDowncast(ContractError):
    """``SafeCastOverflowedUintDowncast(uint8 bits, uint256 value)``, declared by CollabRegistry."""

    error_name = "SafeCastOverflowedUintDowncast"


class SafeERC20FailedOperation(ContractError):
    """``SafeERC20FailedOperation(address token)``, declared by PaymentEscrow."""

    error_name = "SafeERC20FailedOperation"


class SettlementDirectionRefused(ContractError):
    """``SettlementDirectionRefused(bytes32 voucherId, bool toBeneficiary)``, declared by PaymentEscrow."""

    error_name = "SettlementDirectionRefused"


class StageAlreadySubmitted(ContractError):
    """``StageAlreadySubmitted(bytes32 contractNo, uint256 stageIndex)``, declared by CollabRegistry."""

    error_name = "StageAlreadySubmitted"


class StageAlreadyVouched(ContractError):
    """``StageAlreadyVouched(bytes32 contractNo, uint256 stageIndex)``, declared by CollabRegistry."""

    error_name = "StageAlreadyVouched"


class StageNotPending(ContractError):
    """``StageNotPending(bytes32 contractNo, uint256 stageIndex)``, declared by CollabRegistry."""

    error_name = "StageNotPending"


class StageOutOfRange(ContractError):
    """``StageOutOfRange(bytes32 contractNo, uint256 stageIndex)``, declared by CollabRegistry."""

    error_name = "StageOutOfRange"


class StageResultMismatch(ContractError):
    """``StageResultMismatch(bytes32 contractNo, uint256 stageIndex)``, declared by CollabRegistry."""

    error_name = "StageResultMismatch"


class StageSpecMismatch(ContractError):
    """``StageSpecMismatch(bytes32 contractNo, uint256 stageIndex)``, declared by CollabRegistry."""

    error_name = "StageSpecMismatch"


class StagesNotVouched(ContractError):
    """``StagesNotVouched(bytes32 contractNo, uint256 vouched, uint256 stages)``, declared by CollabRegistry."""

    error_name = "StagesNotVouched"


class StringTooLong(ContractError):
    """``StringTooLong(string str)``, declared by CollabRegistry and PaymentEscrow."""

    error_name = "StringTooLong"


class UnauthorizedCaller(ContractError):
    """``UnauthorizedCaller(address caller)``, declared by CollabRegistry and PaymentEscrow."""

    error_name = "UnauthorizedCaller"


class UnauthorizedSigner(ContractError):
    """``UnauthorizedSigner(address signer, uint32 orgId)``, declared by CollabRegistry and PaymentEscrow."""

    error_name = "UnauthorizedSigner"


class UnexpectedContractStatus(ContractError):
    """``UnexpectedContractStatus(bytes32 contractNo, ContractStatus expected, ContractStatus actual)``, declared by
    CollabRegistry."""

    error_name = "UnexpectedContractStatus"


class UnexpectedVoucherStatus(ContractError):
    """``UnexpectedVoucherStatus(bytes32 voucherId, VoucherStatus status)``, declared by PaymentEscrow."""

    error_name = "UnexpectedVoucherStatus"


class UnknownContract(ContractError):
    """``UnknownContract(bytes32 contractNo)``, declared by CollabRegistry."""

    error_name = "UnknownContract"


class UnknownOrg(ContractError):
    """``UnknownOrg(uint32 orgId)``, declared by CollabRegistry."""

    error_name = "UnknownOrg"


class UnknownVoucher(ContractError):
    """``UnknownVoucher(bytes32 voucherId)``, declared by PaymentEscrow."""

    error_name = "UnknownVoucher"


class UnsupportedToken(ContractError):
    """``UnsupportedToken(address asset, uint256 expected, uint256 received)``, declared by PaymentEscrow."""

    error_name = "UnsupportedToken"


class WrongDepartment(ContractError):
    """``WrongDepartment(address account, Department expected, Department actual)``, declared by CollabRegistry."""

    error_name = "WrongDepartment"


class WrongParty(ContractError):
    """``WrongParty(address account, uint32 expectedOrgId)``, declared by CollabRegistry and PaymentEscrow."""

    error_name = "WrongParty"


class WrongSecret(ContractError):
    """``WrongSecret(bytes32 voucherId)``, declared by PaymentEscrow."""

    error_name = "WrongSecret"


#: Each error's 4-byte selector -> its class and its arguments, in order.
BY_SELECTOR: dict[bytes, tuple[type[ContractError], tuple[Argument, ...]]] = {
    bytes.fromhex("6697b232"): (
        AccessControlBadConfirmation,
        (),
    ),
    bytes.fromhex("e2517d3f"): (
        AccessControlUnauthorizedAccount,
        (
            ("account", "address", None),
            ("neededRole", "bytes32", None),
        ),
    ),
    bytes.fromhex("6da4d89c"): (
        AccountAlreadyBound,
        (
            ("account", "address", None),
            ("orgId", "uint32", None),
        ),
    ),
    bytes.fromhex("96d15917"): (
        AssetNotAccepted,
        (("asset", "address", None),),
    ),
    bytes.fromhex("cea90053"): (
        DigitalCodeMismatch,
        (
            ("contractNo", "bytes32", None),
            ("docHash", "bytes32", None),
            ("termsHash", "bytes32", None),
        ),
    ),
    bytes.fromhex("3edec946"): (
        DuplicateContractNumber,
        (("contractNo", "bytes32", None),),
    ),
    bytes.fromhex("fb8f41b2"): (
        ERC20InsufficientAllowance,
        (
            ("spender", "address", None),
            ("allowance", "uint256", None),
            ("needed", "uint256", None),
        ),
    ),
    bytes.fromhex("e450d38c"): (
        ERC20InsufficientBalance,
        (
            ("sender", "address", None),
            ("balance", "uint256", None),
            ("needed", "uint256", None),
        ),
    ),
    bytes.fromhex("e602df05"): (
        ERC20InvalidApprover,
        (("approver", "address", None),),
    ),
    bytes.fromhex("ec442f05"): (
        ERC20InvalidReceiver,
        (("receiver", "address", None),),
    ),
    bytes.fromhex("96c6fd1e"): (
        ERC20InvalidSender,
        (("sender", "address", None),),
    ),
    bytes.fromhex("94280d62"): (
        ERC20InvalidSpender,
        (("spender", "address", None),),
    ),
    bytes.fromhex("d93c0665"): (
        EnforcedPause,
        (),
    ),
    bytes.fromhex("8ee0acc0"): (
        EscrowAlreadySet,
        (),
    ),
    bytes.fromhex("8dfc202b"): (
        ExpectedPause,
        (),
    ),
    bytes.fromhex("55e3f623"): (
        InvalidAccountHash,
        (),
    ),
    bytes.fromhex("2c5211c6"): (
        InvalidAmount,
        (),
    ),
    bytes.fromhex("6f79c78a"): (
        InvalidAsset,
        (("asset", "address", None),),
    ),
    bytes.fromhex("2f1f04b7"): (
        InvalidAssignee,
        (("orgId", "uint32", None),),
    ),
    bytes.fromhex("265f7263"): (
        InvalidContractNumber,
        (),
    ),
    bytes.fromhex("6246a011"): (
        InvalidCounterparty,
        (("partyA", "uint32", None),),
    ),
    bytes.fromhex("a35d7279"): (
        InvalidDepartment,
        (
            ("kind", "uint8", OrgKind),
            ("department", "uint8", Department),
        ),
    ),
    bytes.fromhex("192d9976"): (
        InvalidDocumentHash,
        (),
    ),
    bytes.fromhex("411ca7ca"): (
        InvalidEncryptionKey,
        (),
    ),
    bytes.fromhex("4a13f468"): (
        InvalidEscrow,
        (("escrow", "address", None),),
    ),
    bytes.fromhex("3accc52b"): (
        InvalidExpiry,
        (("expiry", "uint256", None),),
    ),
    bytes.fromhex("b932190d"): (
        InvalidInvoiceHash,
        (),
    ),
    bytes.fromhex("c1144a2c"): (
        InvalidOrgId,
        (),
    ),
    bytes.fromhex("8ec49d3c"): (
        InvalidOrgKind,
        (),
    ),
    bytes.fromhex("4149f172"): (
        InvalidOrgName,
        (),
    ),
    bytes.fromhex("6b667891"): (
        InvalidPaymentKey,
        (),
    ),
    bytes.fromhex("2687977f"): (
        InvalidResultHash,
        (),
    ),
    bytes.fromhex("b3512b0c"): (
        InvalidShortString,
        (),
    ),
    bytes.fromhex("d855c4f4"): (
        InvalidSignature,
        (("signer", "address", None),),
    ),
    bytes.fromhex("213975eb"): (
        InvalidStage,
        (("stageIndex", "uint256", None),),
    ),
    bytes.fromhex("02a21ae8"): (
        InvalidStageCount,
        (("count", "uint256", None),),
    ),
    bytes.fromhex("14bcf5c8"): (
        InvalidTreasury,
        (),
    ),
    bytes.fromhex("378972b5"): (
        InvalidWindow,
        (("window", "uint256", None),),
    ),
    bytes.fromhex("2068b362"): (
        InvoiceAlreadyAnchored,
        (
            ("voucherId", "bytes32", None),
            ("invoiceHash", "bytes32", None),
        ),
    ),
    bytes.fromhex("c74f99ae"): (
        NotAMember,
        (("account", "address", None),),
    ),
    bytes.fromhex("7c59790d"): (
        OrgAlreadyRegistered,
        (("orgId", "uint32", None),),
    ),
    bytes.fromhex("09b4fda1"): (
        OrgSuspended,
        (("orgId", "uint32", None),),
    ),
    bytes.fromhex("1e4fbdf7"): (
        OwnableInvalidOwner,
        (("owner", "address", None),),
    ),
    bytes.fromhex("118cdaa7"): (
        OwnableUnauthorizedAccount,
        (("account", "address", None),),
    ),
    bytes.fromhex("fedb7927"): (
        PaymentAccountMismatch,
        (
            ("voucherId", "bytes32", None),
            ("applied", "bytes32", None),
            ("issued", "bytes32", None),
        ),
    ),
    bytes.fromhex("7af411dc"): (
        PaymentAmountMismatch,
        (
            ("voucherId", "bytes32", None),
            ("applied", "uint256", None),
            ("issued", "uint256", None),
        ),
    ),
    bytes.fromhex("7baf4a4b"): (
        PaymentExceedsUnpaid,
        (
            ("contractNo", "bytes32", None),
            ("amount", "uint256", None),
            ("unpaid", "uint256", None),
        ),
    ),
    bytes.fromhex("17b8c226"): (
        PaymentKeyExpired,
        (
            ("voucherId", "bytes32", None),
            ("expiry", "uint256", None),
        ),
    ),
    bytes.fromhex("711fe357"): (
        PaymentKeyNotExpired,
        (
            ("voucherId", "bytes32", None),
            ("expiry", "uint256", None),
        ),
    ),
    bytes.fromhex("afc33da1"): (
        PaymentLimitReached,
        (("contractNo", "bytes32", None),),
    ),
    bytes.fromhex("3ee5aeb5"): (
        ReentrancyGuardReentrantCall,
        (),
    ),
    bytes.fromhex("7090ca7c"): (
        ReleaseDeadlineNotReached,
        (
            ("voucherId", "bytes32", None),
            ("deadline", "uint256", None),
        ),
    ),
    bytes.fromhex("6dfcc650"): (
        SafeCastOverflowedUintDowncast,
        (
            ("bits", "uint8", None),
            ("value", "uint256", None),
        ),
    ),
    bytes.fromhex("5274afe7"): (
        SafeERC20FailedOperation,
        (("token", "address", None),),
    ),
    bytes.fromhex("68d32e2f"): (
        SettlementDirectionRefused,
        (
            ("voucherId", "bytes32", None),
            ("toBeneficiary", "bool", None),
        ),
    ),
    bytes.fromhex("60634a3c"): (
        StageAlreadySubmitted,
        (
            ("contractNo", "bytes32", None),
            ("stageIndex", "uint256", None),
        ),
    ),
    bytes.fromhex("7fcf7885"): (
        StageAlreadyVouched,
        (
            ("contractNo", "bytes32", None),
            ("stageIndex", "uint256", None),
        ),
    ),
    bytes.fromhex("9b536197"): (
        StageNotPending,
        (
            ("contractNo", "bytes32", None),
            ("stageIndex", "uint256", None),
        ),
    ),
    bytes.fromhex("19fdf49a"): (
        StageOutOfRange,
        (
            ("contractNo", "bytes32", None),
            ("stageIndex", "uint256", None),
        ),
    ),
    bytes.fromhex("226b190a"): (
        StageResultMismatch,
        (
            ("contractNo", "bytes32", None),
            ("stageIndex", "uint256", None),
        ),
    ),
    bytes.fromhex("ba5a2c9d"): (
        StageSpecMismatch,
        (
            ("contractNo", "bytes32", None),
            ("stageIndex", "uint256", None),
        ),
    ),
    bytes.fromhex("2cdff1e8"): (
        StagesNotVouched,
        (
            ("contractNo", "bytes32", None),
            ("vouched", "uint256", None),
            ("stages", "uint256", None),
        ),
    ),
    bytes.fromhex("305a27a9"): (
        StringTooLong,
        (("str", "string", None),),
    ),
    bytes.fromhex("d86ad9cf"): (
        UnauthorizedCaller,
        (("caller", "address", None),),
    ),
    bytes.fromhex("37518e9b"): (
        UnauthorizedSigner,
        (
            ("signer", "address", None),
            ("orgId", "uint32", None),
        ),
    ),
    bytes.fromhex("3e1f36d6"): (
        UnexpectedContractStatus,
        (
            ("contractNo", "bytes32", None),
            ("expected", "uint8", ContractStatus),
            ("actual", "uint8", ContractStatus),
        ),
    ),
    bytes.fromhex("898436ec"): (
        UnexpectedVoucherStatus,
        (
            ("voucherId", "bytes32", None),
            ("status", "uint8", VoucherStatus),
        ),
    ),
    bytes.fromhex("10aeede1"): (
        UnknownContract,
        (("contractNo", "bytes32", None),),
    ),
    bytes.fromhex("3d579d05"): (
        UnknownOrg,
        (("orgId", "uint32", None),),
    ),
    bytes.fromhex("08fdbf2a"): (
        UnknownVoucher,
        (("voucherId", "bytes32", None),),
    ),
    bytes.fromhex("5951a4b5"): (
        UnsupportedToken,
        (
            ("asset", "address", None),
            ("expected", "uint256", None),
            ("received", "uint256", None),
        ),
    ),
    bytes.fromhex("6c3c7e11"): (
        WrongDepartment,
        (
            ("account", "address", None),
            ("expected", "uint8", Department),
            ("actual", "uint8", Department),
        ),
    ),
    bytes.fromhex("aadae67f"): (
        WrongParty,
        (
            ("account", "address", None),
            ("expectedOrgId", "uint32", None),
        ),
    ),
    bytes.fromhex("074b705b"): (
        WrongSecret,
        (("voucherId", "bytes32", None),),
    ),
}
