// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Consortium} from "./Consortium.sol";
import {ContractStatus, ContractTerms, Department, OrgKind, StageStatus, StageTerms} from "./CollabTypes.sol";

/**
 * @title ContractRegistry
 * @notice S2: e-contracts signed by both parties. Only the document's hash, the parties, the stages, the amounts and
 * the asset are on chain; the document stays off chain.
 * @dev Each party signs its digital code (contract number, its org id, document hash) as EIP-712 typed data under
 * this contract's domain (bound to chain id and address), so a signature is valid for one contract number, one org,
 * one chain and one registry only.
 *
 * Storage is packed for gas: an agreement takes three slots, a stage one. A stage slot holds a 248-bit digest of
 * its terms (and, once a result is submitted, of that result) beside its status; callers pass the terms, which are
 * in the {ContractProposed} event, and the contract checks them against the digest.
 */
abstract contract ContractRegistry is Consortium, EIP712 {
    /// @notice On-chain record of an e-contract. `committed` is the amount of payment vouchers issued and not reclaimed.
    struct Agreement {
        address asset;
        uint32 partyA;
        uint32 partyB;
        ContractStatus status;
        uint8 stageCount;
        uint8 vouchedCount;
        uint8 paymentCount;
        bytes32 docHash;
        uint128 total;
        uint128 committed;
    }

    /// @notice On-chain record of a stage: digest of its terms (and pending or confirmed result) and status.
    struct Stage {
        bytes31 digest;
        StageStatus status;
    }

    /// @notice Most stages one contract may have.
    uint256 public constant MAX_STAGES = 64;

    /// @dev EIP-712 type of the digital code each party signs (S2.1, S2.3).
    bytes32 private constant _DIGITAL_CODE_TYPEHASH =
        keccak256("DigitalCode(bytes32 contractNo,uint32 orgId,bytes32 docHash)");

    mapping(bytes32 contractNo => Agreement) internal _agreements;
    mapping(bytes32 contractNo => mapping(uint256 stageIndex => Stage)) internal _stages;

    /// @notice Emitted when Party B registers an e-contract with its signature (S2.1, S2.2).
    event ContractProposed(
        bytes32 indexed contractNo,
        uint32 indexed partyA,
        uint32 indexed partyB,
        bytes32 docHash,
        address asset,
        uint256 total,
        StageTerms[] stages,
        address signer,
        bytes signature
    );
    /// @notice Emitted when Party A countersigns; the contract is SIGNED at `signedAt` (S2.3, S2.4).
    event ContractSigned(
        bytes32 indexed contractNo, uint32 indexed partyA, address signer, bytes signature, uint256 signedAt
    );

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
    /// @notice Party A's document hash differs from Party B's: tampered or wrong document (S2.3).
    error DocumentHashMismatch(bytes32 contractNo);
    /// @notice The asset must be a deployed contract (an ERC-20).
    error InvalidAsset(address asset);
    /// @notice Party A must be another active enterprise than Party B.
    error InvalidCounterparty(uint32 partyA);
    /// @notice A contract has 1 to {MAX_STAGES} stages.
    error InvalidStageCount(uint256 count);
    /// @notice Every stage needs a specification hash and a non-zero amount.
    error InvalidStage(uint256 stageIndex);

    constructor() EIP712("collab ContractRegistry", "1") {}

    /**
     * @notice Party B registers an e-contract and its signed digital code (S2.1, S2.2). Caller: B's BUSINESS.
     * @param terms Contract number, Party A, document hash, asset and stages; the total is the sum of the stages.
     * @param signer Account of B's BUSINESS department that signed the digital code (an EOA or ERC-1271 wallet).
     * @param signature EIP-712 signature of DigitalCode(contractNo, B's org id, docHash).
     */
    function proposeContract(ContractTerms calldata terms, address signer, bytes calldata signature) external {
        uint32 partyB = requireDepartment(msg.sender, Department.BUSINESS);
        bytes32 contractNo = terms.contractNo;
        if (contractNo == 0) revert InvalidContractNumber();
        Agreement storage agreement = _agreements[contractNo];
        if (agreement.status != ContractStatus.NONE) revert DuplicateContractNumber(contractNo);
        if (terms.docHash == 0) revert InvalidDocumentHash();
        if (terms.asset.code.length == 0) revert InvalidAsset(terms.asset);
        if (terms.partyA == partyB) revert InvalidCounterparty(terms.partyA);
        _requireActiveOrg(terms.partyA, OrgKind.ENTERPRISE);
        uint256 count = terms.stages.length;
        if (count == 0 || count > MAX_STAGES) revert InvalidStageCount(count);
        _requireSignature(partyB, Department.BUSINESS, signer, _digitalCodeDigest(contractNo, partyB, terms.docHash), signature);

        uint256 total;
        for (uint256 i; i < count; ++i) {
            StageTerms calldata stage = terms.stages[i];
            if (stage.specHash == 0 || stage.amount == 0) revert InvalidStage(i);
            total += stage.amount;
            _stages[contractNo][i] = Stage(stageDigest(stage), StageStatus.OPEN);
        }
        agreement.asset = terms.asset;
        agreement.partyA = terms.partyA;
        agreement.partyB = partyB;
        agreement.status = ContractStatus.PROPOSED;
        agreement.stageCount = uint8(count);
        agreement.docHash = terms.docHash;
        agreement.total = SafeCast.toUint128(total);
        emit ContractProposed(
            contractNo, terms.partyA, partyB, terms.docHash, terms.asset, total, terms.stages, signer, signature
        );
    }

    /**
     * @notice Party A countersigns: its recomputed document hash must equal Party B's (S2.3); the contract becomes
     * SIGNED at the block's time (S2.4). Caller: A's BUSINESS.
     * @param docHash Party A's hash of the document it received.
     * @param signer Account of A's BUSINESS department that signed (an EOA or ERC-1271 wallet).
     * @param signature EIP-712 signature of DigitalCode(contractNo, A's org id, docHash).
     */
    function signContract(bytes32 contractNo, bytes32 docHash, address signer, bytes calldata signature) external {
        Agreement storage agreement = _agreement(contractNo);
        uint32 partyA = agreement.partyA;
        requireMember(msg.sender, partyA, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.PROPOSED);
        if (docHash != agreement.docHash) revert DocumentHashMismatch(contractNo);
        _requireSignature(partyA, Department.BUSINESS, signer, _digitalCodeDigest(contractNo, partyA, docHash), signature);
        agreement.status = ContractStatus.SIGNED;
        emit ContractSigned(contractNo, partyA, signer, signature, block.timestamp);
    }

    /// @notice Returns the on-chain record of contract `contractNo` (status NONE if unknown).
    function agreementOf(bytes32 contractNo) external view returns (Agreement memory) {
        return _agreements[contractNo];
    }

    /// @notice Returns the record of stage `stageIndex` of contract `contractNo` (status NONE if unknown).
    function stageOf(bytes32 contractNo, uint256 stageIndex) external view returns (Stage memory) {
        return _stages[contractNo][stageIndex];
    }

    /// @notice The asset, payer (Party A) and payee (Party B) of a registered contract.
    function partiesOf(bytes32 contractNo) external view returns (address asset, uint32 payer, uint32 payee) {
        Agreement storage agreement = _agreement(contractNo);
        return (agreement.asset, agreement.partyA, agreement.partyB);
    }

    /// @notice The EIP-712 digest a party signs for its digital code; lets clients check what they sign.
    function digitalCodeDigest(bytes32 contractNo, uint32 orgId, bytes32 docHash) external view returns (bytes32) {
        return _digitalCodeDigest(contractNo, orgId, docHash);
    }

    /// @notice Digest stored for an open stage with these terms.
    function stageDigest(StageTerms calldata stage) public pure returns (bytes31) {
        return bytes31(keccak256(abi.encode(stage.specHash, stage.amount)));
    }

    /// @dev Returns the agreement, reverting with {UnknownContract} if there is none.
    function _agreement(bytes32 contractNo) internal view returns (Agreement storage agreement) {
        agreement = _agreements[contractNo];
        if (agreement.status == ContractStatus.NONE) revert UnknownContract(contractNo);
    }

    /// @dev Reverts unless the agreement is in `expected` status.
    function _requireStatus(Agreement storage agreement, bytes32 contractNo, ContractStatus expected) internal view {
        ContractStatus actual = agreement.status;
        if (actual != expected) revert UnexpectedContractStatus(contractNo, expected, actual);
    }

    function _digitalCodeDigest(bytes32 contractNo, uint32 orgId, bytes32 docHash) private view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(_DIGITAL_CODE_TYPEHASH, contractNo, orgId, docHash)));
    }
}
