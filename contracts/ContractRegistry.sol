// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {Consortium} from "./Consortium.sol";
import {
    ContractStatus, ContractTerms, Department, OrgKind, SignedHashes, StageStatus, StageTerms
} from "./CollabTypes.sol";
import {IContractRegistry} from "./interfaces/IContractRegistry.sol";

/**
 * @title ContractRegistry
 * @notice S2: e-contracts signed by both parties. Only the document's hash, the parties, the stages, the amounts and
 * the asset are on chain; the document stays off chain.
 * @dev Each party signs its digital code, EIP-712 typed data under this contract's domain (bound to chain id and
 * address): the seed's (contract number, its org id, document hash) and the terms it is bound by, `Terms(partyA,
 * partyB, asset, total, stages)`. Party B's signature is checked against the terms it registers, from which the chain
 * computes the terms hash; Party A's against the same terms hash (S2.5), so neither party is bound by figures it did
 * not sign, and a signature is valid for one contract number, one org, one set of terms, one chain and one registry.
 *
 * Storage is packed for gas: an agreement takes one slot, a stage one. A stage slot holds, beside its status, a
 * 31-byte digest of the stage's EIP-712 struct hash and the hashes both parties sign, the document's and the terms'
 * ({SignedHashes}), and once a result is submitted a digest of that and the result. Callers pass the terms and hashes,
 * which are in the {ContractProposed} event, and the contract checks them against the digest: so every stage step is
 * bound to the signed document and terms, and Party A's countersignature is checked against one stage whatever the
 * number of stages. Invariants: `unpaid` is the sum of the stage amounts less the open applications and vouchers that
 * were not reclaimed; a contract number is registered once.
 */
abstract contract ContractRegistry is Consortium, EIP712, IContractRegistry {
    /**
     * @notice On-chain record of an e-contract. `unpaid` is what payment applications may still ask for: the total
     * (the sum of the stage amounts) until the first application, less every application that was not refused,
     * withdrawn or reclaimed (S5).
     */
    struct Agreement {
        uint16 assetId;
        uint32 partyA;
        uint32 partyB;
        ContractStatus status;
        uint8 stageCount;
        uint8 vouchedCount;
        uint8 paymentCount;
        uint128 unpaid;
    }

    /// @notice On-chain record of a stage: digest of its terms (and pending or confirmed result) and status.
    struct Stage {
        bytes31 digest;
        StageStatus status;
    }

    /// @notice Most stages one contract may have.
    uint256 public constant MAX_STAGES = 64;

    /// @dev EIP-712 types of the digital code each party signs (S2.1, S2.3, S2.5).
    bytes32 private constant _STAGE_TYPEHASH = keccak256("Stage(bytes32 specHash,uint128 amount)");
    bytes32 private constant _TERMS_TYPEHASH = keccak256(
        "Terms(uint32 partyA,uint32 partyB,address asset,uint128 total,Stage[] stages)Stage(bytes32 specHash,uint128 amount)"
    );
    bytes32 private constant _DIGITAL_CODE_TYPEHASH = keccak256(
        "DigitalCode(bytes32 contractNo,uint32 orgId,bytes32 docHash,Terms terms)"
        "Stage(bytes32 specHash,uint128 amount)"
        "Terms(uint32 partyA,uint32 partyB,address asset,uint128 total,Stage[] stages)"
    );

    mapping(bytes32 contractNo => Agreement) internal _agreements;
    mapping(bytes32 contractNo => mapping(uint256 stageIndex => Stage)) internal _stages;

    constructor() EIP712("collab CollabRegistry", "2") {}

    /**
     * @notice Party B registers an e-contract and its signed digital code (S2.1, S2.2). Caller: B's BUSINESS.
     * @param terms Contract number, Party A, document hash, asset and stages; the total is the sum of the stages.
     * @param signer Account of B's BUSINESS department that signed the digital code (an EOA or ERC-1271 wallet).
     * @param signature EIP-712 signature of DigitalCode(contractNo, B's org id, docHash, Terms(A, B, asset, total,
     * stages)), see {digitalCodeDigest}.
     */
    function proposeContract(ContractTerms calldata terms, address signer, bytes calldata signature) external {
        uint32 partyB = requireDepartment(msg.sender, Department.BUSINESS);
        bytes32 contractNo = terms.contractNo;
        if (contractNo == 0) revert InvalidContractNumber();
        Agreement storage agreement = _agreements[contractNo];
        if (agreement.status != ContractStatus.NONE) revert DuplicateContractNumber(contractNo);
        if (terms.docHash == 0) revert InvalidDocumentHash();
        uint16 assetId = _acceptedAssetId(terms.asset);
        if (terms.partyA == partyB) revert InvalidCounterparty(terms.partyA);
        _requireActiveOrg(terms.partyA, OrgKind.ENTERPRISE);
        uint256 count = terms.stages.length;
        if (count == 0 || count > MAX_STAGES) revert InvalidStageCount(count);

        bytes32[] memory stageHashes = new bytes32[](count);
        uint256 total;
        for (uint256 i; i < count; ++i) {
            StageTerms calldata stage = terms.stages[i];
            if (stage.specHash == 0 || stage.amount == 0) revert InvalidStage(i);
            total += stage.amount;
            stageHashes[i] = _stageHash(stage);
        }
        uint128 total128 = SafeCast.toUint128(total);
        bytes32 termsHash = keccak256(
            abi.encode(_TERMS_TYPEHASH, terms.partyA, partyB, terms.asset, total128, keccak256(abi.encodePacked(stageHashes)))
        );
        _requireSignature(
            partyB, Department.BUSINESS, signer, _digitalCodeDigest(contractNo, partyB, terms.docHash, termsHash), signature
        );

        mapping(uint256 => Stage) storage stages = _stages[contractNo];
        bytes32 codeHash = _codeHash(SignedHashes(terms.docHash, termsHash));
        for (uint256 i; i < count; ++i) {
            stages[i] = Stage(_openDigest(stageHashes[i], codeHash), StageStatus.OPEN);
        }
        agreement.assetId = assetId;
        agreement.partyA = terms.partyA;
        agreement.partyB = partyB;
        agreement.status = ContractStatus.PROPOSED;
        agreement.stageCount = uint8(count);
        agreement.unpaid = total128;
        emit ContractProposed(
            contractNo, terms.partyA, partyB, terms.docHash, termsHash, terms.asset, total, terms.stages, signer, signature
        );
    }

    /**
     * @notice Party A countersigns the same document and terms (S2.3, S2.5); the contract becomes SIGNED at the
     * block's time (S2.4). Caller: A's BUSINESS.
     * @param signed Party A's hash of the document it received and the EIP-712 hash of the terms it signed; both must
     * be those Party B registered.
     * @param firstStage The contract's first stage, against whose digest `signed` is checked.
     * @param signer Account of A's BUSINESS department that signed (an EOA or ERC-1271 wallet).
     * @param signature EIP-712 signature of DigitalCode(contractNo, A's org id, docHash, terms).
     */
    function signContract(
        bytes32 contractNo,
        SignedHashes calldata signed,
        StageTerms calldata firstStage,
        address signer,
        bytes calldata signature
    ) external {
        Agreement storage agreement = _agreement(contractNo);
        uint32 partyA = agreement.partyA;
        requireMember(msg.sender, partyA, Department.BUSINESS);
        _requireStatus(agreement, contractNo, ContractStatus.PROPOSED);
        // while PROPOSED every stage is open; its 248-bit digest pins the document and terms hashes Party B signed
        if (_stages[contractNo][0].digest != _openDigest(_stageHash(firstStage), _codeHash(signed))) {
            revert DigitalCodeMismatch(contractNo, signed.docHash, signed.termsHash);
        }
        _requireSignature(
            partyA,
            Department.BUSINESS,
            signer,
            _digitalCodeDigest(contractNo, partyA, signed.docHash, signed.termsHash),
            signature
        );
        agreement.status = ContractStatus.SIGNED;
        emit ContractSigned(contractNo, partyA, signer, signature, block.timestamp);
    }

    /**
     * @notice Party B withdraws, or Party A declines, a contract that is not signed yet; it becomes CANCELLED and its
     * number stays used. Caller: A's or B's BUSINESS.
     * @param reasonHash Hash of the reason document.
     */
    function cancelProposal(bytes32 contractNo, bytes32 reasonHash) external {
        Agreement storage agreement = _agreement(contractNo);
        uint32 caller = requireDepartment(msg.sender, Department.BUSINESS);
        if (caller != agreement.partyA && caller != agreement.partyB) revert WrongParty(msg.sender, agreement.partyB);
        _requireStatus(agreement, contractNo, ContractStatus.PROPOSED);
        agreement.status = ContractStatus.CANCELLED;
        emit ContractCancelled(contractNo, caller, reasonHash, msg.sender);
    }

    /// @notice Returns the on-chain record of contract `contractNo` (status NONE if unknown) and its asset.
    function agreementOf(bytes32 contractNo) external view returns (Agreement memory agreement, address asset) {
        agreement = _agreements[contractNo];
        asset = _assets[agreement.assetId];
    }

    /// @notice Returns the record of stage `stageIndex` of contract `contractNo` (status NONE if unknown).
    function stageOf(bytes32 contractNo, uint256 stageIndex) external view returns (Stage memory) {
        return _stages[contractNo][stageIndex];
    }

    /// @inheritdoc IContractRegistry
    function partiesOf(bytes32 contractNo) external view returns (address asset, uint32 payer, uint32 payee) {
        Agreement storage agreement = _agreement(contractNo);
        return (_assets[agreement.assetId], agreement.partyA, agreement.partyB);
    }

    /// @inheritdoc IContractRegistry
    function releaseContext(bytes32 contractNo, uint32 beneficiaryOrg) external view returns (address asset, uint32 payer) {
        _requireActiveOrg(beneficiaryOrg, OrgKind.ENTERPRISE);
        Agreement storage agreement = _agreement(contractNo);
        return (_assets[agreement.assetId], agreement.partyA);
    }

    /// @notice The EIP-712 digest a party signs for its digital code; lets clients check what they sign.
    function digitalCodeDigest(bytes32 contractNo, uint32 orgId, bytes32 docHash, bytes32 termsHash)
        external
        view
        returns (bytes32)
    {
        return _digitalCodeDigest(contractNo, orgId, docHash, termsHash);
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

    /// @dev The EIP-712 struct hash of a stage's terms.
    function _stageHash(StageTerms calldata stage) internal pure returns (bytes32) {
        return keccak256(abi.encode(_STAGE_TYPEHASH, stage.specHash, stage.amount));
    }

    /// @dev One hash of the document and terms hashes both parties sign.
    function _codeHash(SignedHashes memory signed) internal pure returns (bytes32) {
        return keccak256(abi.encode(signed.docHash, signed.termsHash));
    }

    /// @dev Digest stored for an open stage: its struct hash bound to the contract's signed hashes.
    function _openDigest(bytes32 stageHash, bytes32 codeHash) internal pure returns (bytes31) {
        return bytes31(keccak256(abi.encode(stageHash, codeHash)));
    }

    function _digitalCodeDigest(bytes32 contractNo, uint32 orgId, bytes32 docHash, bytes32 termsHash)
        private
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(keccak256(abi.encode(_DIGITAL_CODE_TYPEHASH, contractNo, orgId, docHash, termsHash)));
    }
}
