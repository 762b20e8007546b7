// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ContractRegistry} from "./ContractRegistry.sol";
import {ContractStatus, Department, StageStatus, StageTerms} from "./CollabTypes.sol";

/**
 * @title StageVoucher
 * @notice S3: Party B submits the signed result of a stage; once Party A confirms it, a first voucher is issued for
 * that stage. A rejected result can be submitted again.
 * @dev The feedback is EIP-712 typed data binding the result to the contract's digital code (contract number, B's org
 * id, document hash) and to the stage it names, so it cannot be replayed on another contract, stage, chain or registry.
 */
abstract contract StageVoucher is ContractRegistry {
    /// @dev EIP-712 type of the stage feedback Party B signs (S3.1).
    bytes32 private constant _STAGE_FEEDBACK_TYPEHASH = keccak256(
        "StageFeedback(bytes32 contractNo,uint32 orgId,bytes32 docHash,uint8 stageIndex,bytes32 specHash,bytes32 resultHash)"
    );

    /// @notice Emitted when Party B submits a stage result; it waits for Party A (S3.1, S3.2).
    event StageResultSubmitted(
        bytes32 indexed contractNo, uint8 indexed stageIndex, bytes32 resultHash, address signer, bytes signature
    );
    /// @notice Emitted when Party A confirms a stage result: the stage's first voucher (S3.3).
    event FirstVoucherIssued(
        bytes32 indexed contractNo,
        uint8 indexed stageIndex,
        bytes32 specHash,
        bytes32 resultHash,
        uint256 amount,
        address confirmedBy
    );
    /// @notice Emitted when Party A rejects a stage result, with the hash of its reason (S3.3).
    event StageResultRejected(
        bytes32 indexed contractNo, uint8 indexed stageIndex, bytes32 resultHash, bytes32 reasonHash, address rejectedBy
    );

    /// @notice The contract has no stage with this index.
    error StageOutOfRange(bytes32 contractNo, uint256 stageIndex);
    /// @notice The submitted specification hash or amount is not the stage's (S3.2).
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

    /**
     * @notice Party B submits the result of a stage with its signed feedback (S3.1, S3.2). Caller: B's BUSINESS.
     * @param stage The stage's terms as registered (specification hash and amount).
     * @param resultHash Hash of the delivered result.
     * @param signer Account of B's BUSINESS department that signed the feedback.
     * @param signature EIP-712 signature of StageFeedback(contractNo, B, docHash, stageIndex, specHash, resultHash).
     */
    function submitStageResult(
        bytes32 contractNo,
        uint8 stageIndex,
        StageTerms calldata stage,
        bytes32 resultHash,
        address signer,
        bytes calldata signature
    ) external {
        Agreement storage agreement = _agreement(contractNo);
        uint32 partyB = agreement.partyB;
        requireMember(msg.sender, partyB, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.SIGNED);
        Stage storage record = _stageRecord(agreement, contractNo, stageIndex);
        StageStatus status = record.status;
        if (status == StageStatus.PENDING) revert StageAlreadySubmitted(contractNo, stageIndex);
        if (status == StageStatus.CONFIRMED) revert StageAlreadyVouched(contractNo, stageIndex);
        if (record.digest != stageDigest(stage)) revert StageSpecMismatch(contractNo, stageIndex);
        if (resultHash == 0) revert InvalidResultHash();
        bytes32 structHash = keccak256(
            abi.encode(
                _STAGE_FEEDBACK_TYPEHASH, contractNo, partyB, agreement.docHash, stageIndex, stage.specHash, resultHash
            )
        );
        _requireSignature(partyB, Department.BUSINESS, signer, _hashTypedDataV4(structHash), signature);
        record.digest = resultDigest(stage, resultHash);
        record.status = StageStatus.PENDING;
        emit StageResultSubmitted(contractNo, stageIndex, resultHash, signer, signature);
    }

    /**
     * @notice Party A confirms a pending stage result; the stage's first voucher is issued (S3.3).
     * Caller: A's BUSINESS.
     * @param stage The stage's terms; with `resultHash`, they must be those of the pending submission.
     */
    function confirmStageResult(bytes32 contractNo, uint8 stageIndex, StageTerms calldata stage, bytes32 resultHash)
        external
    {
        Agreement storage agreement = _agreement(contractNo);
        Stage storage record = _pendingStage(agreement, contractNo, stageIndex, stage, resultHash);
        record.status = StageStatus.CONFIRMED;
        ++agreement.vouchedCount;
        emit FirstVoucherIssued(contractNo, stageIndex, stage.specHash, resultHash, stage.amount, msg.sender);
    }

    /**
     * @notice Party A rejects a pending stage result; Party B may submit a new one (S3.3). Caller: A's BUSINESS.
     * @param reasonHash Hash of the reason document.
     */
    function rejectStageResult(
        bytes32 contractNo,
        uint8 stageIndex,
        StageTerms calldata stage,
        bytes32 resultHash,
        bytes32 reasonHash
    ) external {
        Agreement storage agreement = _agreement(contractNo);
        Stage storage record = _pendingStage(agreement, contractNo, stageIndex, stage, resultHash);
        record.digest = stageDigest(stage);
        record.status = StageStatus.REJECTED;
        emit StageResultRejected(contractNo, stageIndex, resultHash, reasonHash, msg.sender);
    }

    /// @notice Digest stored for a stage whose result `resultHash` is pending or confirmed.
    function resultDigest(StageTerms calldata stage, bytes32 resultHash) public pure returns (bytes31) {
        return bytes31(keccak256(abi.encode(stage.specHash, stage.amount, resultHash)));
    }

    /// @dev Returns the record of stage `stageIndex`, reverting with {StageOutOfRange} if the contract has none.
    function _stageRecord(Agreement storage agreement, bytes32 contractNo, uint256 stageIndex)
        private
        view
        returns (Stage storage)
    {
        if (stageIndex >= agreement.stageCount) revert StageOutOfRange(contractNo, stageIndex);
        return _stages[contractNo][stageIndex];
    }

    /// @dev Authorises Party A's BUSINESS and returns the pending stage whose terms and result are those given.
    function _pendingStage(
        Agreement storage agreement,
        bytes32 contractNo,
        uint8 stageIndex,
        StageTerms calldata stage,
        bytes32 resultHash
    ) private view returns (Stage storage record) {
        requireMember(msg.sender, agreement.partyA, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.SIGNED);
        record = _stageRecord(agreement, contractNo, stageIndex);
        if (record.status != StageStatus.PENDING) revert StageNotPending(contractNo, stageIndex);
        if (record.digest != resultDigest(stage, resultHash)) revert StageResultMismatch(contractNo, stageIndex);
    }
}
