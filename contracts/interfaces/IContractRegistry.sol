// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ContractStatus, StageTerms} from "../CollabTypes.sol";

/// @notice S2: e-contracts whose terms both parties sign.
interface IContractRegistry {
    /**
     * @notice Emitted when Party B registers an e-contract with its signature (S2.1, S2.2). `termsHash` is the
     * EIP-712 hash of the terms (parties, asset, total, stages) that both signatures commit to.
     */
    event ContractProposed(
        bytes32 indexed contractNo,
        uint32 indexed partyA,
        uint32 indexed partyB,
        bytes32 docHash,
        bytes32 termsHash,
        address asset,
        uint256 total,
        StageTerms[] stages,
        address signer,
        bytes signature
    );
    /// @notice Emitted when Party A countersigns the same document and terms; the contract is SIGNED (S2.3, S2.4).
    event ContractSigned(
        bytes32 indexed contractNo, uint32 indexed partyA, address signer, bytes signature, uint256 signedAt
    );

    /// @notice Emitted when Party B withdraws or Party A declines a proposed contract; its number stays used.
    event ContractCancelled(bytes32 indexed contractNo, uint32 indexed orgId, bytes32 reasonHash, address cancelledBy);

    /// @notice Contract number 0 is reserved.
    error InvalidContractNumber();
    /// @notice A contract with this number is already registered (S2.4).
    error DuplicateContractNumber(bytes32 contractNo);
    /// @notice No contract with this number is registered.
    error UnknownContract(bytes32 contractNo);
    /// @notice The contract is not in the status this step requires.
    error UnexpectedContractStatus(bytes32 contractNo, ContractStatus expected, ContractStatus actual);
    /// @notice The document hash must not be zero.
    error InvalidDocumentHash();
    /**
     * @notice Party A's document hash or terms hash is not the one Party B registered (S2.3, S2.5): a tampered or
     * wrong document, or other parties, asset, stages, amounts or total.
     */
    error DigitalCodeMismatch(bytes32 contractNo, bytes32 docHash, bytes32 termsHash);
    /// @notice Party A must be another active enterprise than Party B.
    error InvalidCounterparty(uint32 partyA);
    /// @notice A contract has 1 to {MAX_STAGES} stages.
    error InvalidStageCount(uint256 count);
    /// @notice Every stage needs a specification hash and a non-zero amount.
    error InvalidStage(uint256 stageIndex);

    /// @notice The asset, payer (Party A) and payee (Party B) of a registered contract.
    function partiesOf(bytes32 contractNo) external view returns (address asset, uint32 payer, uint32 payee);

    /// @notice For a release: the contract's asset and payer; reverts unless `beneficiaryOrg` is an active enterprise.
    function releaseContext(bytes32 contractNo, uint32 beneficiaryOrg) external view returns (address asset, uint32 payer);
}
