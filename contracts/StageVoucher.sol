// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ContractRegistry} from "./ContractRegistry.sol";
import {ContractStatus, Department, SignedHashes, StageStatus, StageTerms} from "./CollabTypes.sol";
import {IStageVoucher} from "./interfaces/IStageVoucher.sol";

/**
 * @title StageVoucher
 * @notice S3: Party B submits the signed result of a stage; once Party A confirms it, a first voucher is issued for
 * that stage. A rejected result can be submitted again.
 * @dev The feedback is EIP-712 typed data binding the result to the contract's digital code (contract number, B's org
 * id, document hash) and to the stage it names (index, specification, amount), so it cannot be replayed on another
 * contract, stage, chain or registry. Invariant: `vouchedCount` is the number of CONFIRMED stages.
 */
abstract contract StageVoucher is ContractRegistry, IStageVoucher {
    /// @dev EIP-712 type of the stage feedback Party B signs (S3.1).
    bytes32 private constant _STAGE_FEEDBACK_TYPEHASH = keccak256(
        "StageFeedback(bytes32 contractNo,uint32 orgId,bytes32 docHash,uint8 stageIndex,bytes32 specHash,uint128 amount,bytes32 resultHash)"
    );

    /**
     * @notice Party B submits the result of a stage with its signed feedback (S3.1, S3.2). Caller: B's BUSINESS.
     * @param stage The stage's terms as registered (specification hash and amount).
     * @param signed The contract's document and terms hashes (in {ContractProposed}).
     * @param resultHash Hash of the delivered result.
     * @param signer Account of B's BUSINESS department that signed the feedback.
     * @param signature EIP-712 signature of StageFeedback(contractNo, B, docHash, stageIndex, specHash, amount,
     * resultHash).
     */
    function submitStageResult(
        bytes32 contractNo,
        uint8 stageIndex,
        StageTerms calldata stage,
        SignedHashes calldata signed,
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
        bytes31 open = _openDigest(_stageHash(stage), _codeHash(signed));
        if (record.digest != open) revert StageSpecMismatch(contractNo, stageIndex);
        if (resultHash == 0) revert InvalidResultHash();
        bytes32 structHash = keccak256(
            abi.encode(
                _STAGE_FEEDBACK_TYPEHASH,
                contractNo,
                partyB,
                signed.docHash,
                stageIndex,
                stage.specHash,
                stage.amount,
                resultHash
            )
        );
        _requireSignature(partyB, Department.BUSINESS, signer, _hashTypedDataV4(structHash), signature);
        record.digest = _resultDigest(open, resultHash);
        record.status = StageStatus.PENDING;
        emit StageResultSubmitted(contractNo, stageIndex, resultHash, signer, signature);
    }

    /**
     * @notice Party A confirms a pending stage result; the stage's first voucher is issued (S3.3).
     * Caller: A's BUSINESS.
     * @param stage The stage's terms; with `signed` and `resultHash`, those of the pending submission.
     */
    function confirmStageResult(
        bytes32 contractNo,
        uint8 stageIndex,
        StageTerms calldata stage,
        SignedHashes calldata signed,
        bytes32 resultHash
    ) external {
        Agreement storage agreement = _agreement(contractNo);
        bytes31 open = _openDigest(_stageHash(stage), _codeHash(signed));
        Stage storage record = _pendingStage(agreement, contractNo, stageIndex, open, resultHash);
        record.status = StageStatus.CONFIRMED;
        ++agreement.vouchedCount;
        emit FirstVoucherIssued(contractNo, stageIndex, resultHash, stage.amount, msg.sender);
    }

    /**
     * @notice Party A rejects a pending stage result; Party B may submit a new one (S3.3). Caller: A's BUSINESS.
     * @param reasonHash Hash of the reason document.
     */
    function rejectStageResult(
        bytes32 contractNo,
        uint8 stageIndex,
        StageTerms calldata stage,
        SignedHashes calldata signed,
        bytes32 resultHash,
        bytes32 reasonHash
    ) external {
        Agreement storage agreement = _agreement(contractNo);
        bytes31 open = _openDigest(_stageHash(stage), _codeHash(signed));
        Stage storage record = _pendingStage(agreement, contractNo, stageIndex, open, resultHash);
        record.digest = open;
        record.status = StageStatus.REJECTED;
        emit StageResultRejected(contractNo, stageIndex, resultHash, reasonHash, msg.sender);
    }

    /// @dev Digest stored for a stage (whose open digest is `open`) with result `resultHash` pending or confirmed.
    function _resultDigest(bytes31 open, bytes32 resultHash) private pure returns (bytes31) {
        return bytes31(keccak256(abi.encode(open, resultHash)));
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
        bytes31 open,
        bytes32 resultHash
    ) private view returns (Stage storage record) {
        requireMember(msg.sender, agreement.partyA, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.SIGNED);
        record = _stageRecord(agreement, contractNo, stageIndex);
        if (record.status != StageStatus.PENDING) revert StageNotPending(contractNo, stageIndex);
        if (record.digest != _resultDigest(open, resultHash)) revert StageResultMismatch(contractNo, stageIndex);
    }
}
