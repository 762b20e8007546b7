// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice S3: stage results and the first vouchers that confirm them.
interface IStageVoucher {
    /// @notice Emitted when Party B submits a stage result; it waits for Party A (S3.1, S3.2).
    event StageResultSubmitted(
        bytes32 indexed contractNo, uint8 stageIndex, bytes32 resultHash, address signer, bytes signature
    );
    /// @notice Emitted when Party A confirms a stage result: the stage's first voucher (S3.3).
    event FirstVoucherIssued(
        bytes32 indexed contractNo, uint8 stageIndex, bytes32 resultHash, uint256 amount, address confirmedBy
    );
    /// @notice Emitted when Party A rejects a stage result, with the hash of its reason (S3.3).
    event StageResultRejected(
        bytes32 indexed contractNo, uint8 stageIndex, bytes32 resultHash, bytes32 reasonHash, address rejectedBy
    );

    /// @notice The contract has no stage with this index.
    error StageOutOfRange(bytes32 contractNo, uint256 stageIndex);
    /// @notice The submitted specification hash or amount, or the contract hashes given, are not the stage's (S3.2).
    error StageSpecMismatch(bytes32 contractNo, uint256 stageIndex);
    /// @notice The stage already has a result waiting for Party A.
    error StageAlreadySubmitted(bytes32 contractNo, uint256 stageIndex);
    /// @notice The stage already has its first voucher.
    error StageAlreadyVouched(bytes32 contractNo, uint256 stageIndex);
    /// @notice The stage has no result waiting for Party A.
    error StageNotPending(bytes32 contractNo, uint256 stageIndex);
    /// @notice The terms or result Party A names are not those of the pending submission.
    error StageResultMismatch(bytes32 contractNo, uint256 stageIndex);
    /// @notice A result hash must not be zero.
    error InvalidResultHash();
}
