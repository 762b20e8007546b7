// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Department, OrgKind} from "./CollabTypes.sol";
import {IConsortium} from "./interfaces/IConsortium.sol";

/**
 * @title Consortium
 * @notice S1: the member organisations of the consortium chain, the accounts bound to their departments, and the
 * assets new contracts may be paid in.
 * @dev Governance is the owner (two-step transfer, so the deployer can hand it to a multisig). It registers and
 * suspends orgs, binds accounts and accepts assets. Every business step of the derived modules authorises its caller
 * with {requireMember} or {requireDepartment}, and every signer with {_requireSignature}. Invariant: an account acts
 * for at most one org and one department, and only while that org is active.
 */
abstract contract Consortium is Ownable2Step, IConsortium {
    /// @notice An org: where its digital assets are held, its kind, and whether it may act.
    struct Org {
        address treasury;
        OrgKind kind;
        bool active;
    }

    /// @notice The org and department an account acts for.
    struct Member {
        uint32 orgId;
        Department department;
    }

    mapping(uint32 orgId => Org) private _orgs;
    mapping(uint32 orgId => string) private _orgNames;
    /// @dev Department.NONE holds the org-wide key; a department key, when set, takes precedence.
    mapping(uint32 orgId => mapping(Department => bytes)) private _encryptionKeys;
    /// @notice An asset's id (1, 2, ... in order of first acceptance) and whether new contracts may use it.
    struct AssetListing {
        uint16 id;
        bool accepted;
    }

    /// @notice Most assets governance may list.
    uint256 public constant MAX_ASSETS = type(uint16).max;

    mapping(address account => Member) private _members;
    mapping(address asset => AssetListing) private _assetListings;
    /// @dev Asset id -> ERC-20; agreements store the 16-bit id to keep their record in one slot.
    mapping(uint16 assetId => address) internal _assets;
    uint16 private _assetCount;

    constructor(address governance) Ownable(governance) {}

    /**
     * @notice Registers a member org (S1.1).
     * @param orgId Non-zero id, unique in the consortium.
     * @param name Display name, non-empty.
     * @param kind ENTERPRISE or PAYMENT_INSTITUTION.
     * @param treasury Address holding the org's digital assets (payer funds are pulled from it, payments land in it).
     * @param encryptionKey secp256k1 public key others use to encrypt to the org.
     */
    function registerOrg(uint32 orgId, string calldata name, OrgKind kind, address treasury, bytes calldata encryptionKey)
        external
        onlyOwner
    {
        if (orgId == 0) revert InvalidOrgId();
        if (_orgs[orgId].kind != OrgKind.NONE) revert OrgAlreadyRegistered(orgId);
        if (bytes(name).length == 0) revert InvalidOrgName();
        if (kind == OrgKind.NONE) revert InvalidOrgKind();
        _checkTreasury(treasury);
        _checkEncryptionKey(encryptionKey);
        _orgs[orgId] = Org({treasury: treasury, kind: kind, active: true});
        _orgNames[orgId] = name;
        _encryptionKeys[orgId][Department.NONE] = encryptionKey;
        emit OrgRegistered(orgId, kind, name, treasury, encryptionKey);
    }

    /// @notice Suspends (`active` false) or reinstates an org. A suspended org can take no step (S1.1).
    function setOrgActive(uint32 orgId, bool active) external onlyOwner {
        _knownOrg(orgId).active = active;
        emit OrgStatusChanged(orgId, active);
    }

    /**
     * @notice Moves an org's treasury. Payments already requested still go to the treasury pinned when they were
     * requested; frozen funds a payer reclaims go to its treasury of the time.
     */
    function setTreasury(uint32 orgId, address treasury) external onlyOwner {
        _checkTreasury(treasury);
        _knownOrg(orgId).treasury = treasury;
        emit TreasuryChanged(orgId, treasury);
    }

    /// @notice Sets the encryption key of an org (`department` NONE) or of one of its departments.
    function setEncryptionKey(uint32 orgId, Department department, bytes calldata encryptionKey) external onlyOwner {
        Org storage org = _knownOrg(orgId);
        if (department != Department.NONE) _checkDepartment(org.kind, department);
        _checkEncryptionKey(encryptionKey);
        _encryptionKeys[orgId][department] = encryptionKey;
        emit EncryptionKeyChanged(orgId, department, encryptionKey);
    }

    /// @notice Binds `account` to `department` of `orgId` (S1.2). An account acts for one org and department.
    function bindAccount(address account, uint32 orgId, Department department) external onlyOwner {
        _checkDepartment(_knownOrg(orgId).kind, department);
        uint32 current = _members[account].orgId;
        if (current != 0) revert AccountAlreadyBound(account, current);
        _members[account] = Member({orgId: orgId, department: department});
        emit AccountBound(account, orgId, department);
    }

    /// @notice Unbinds `account` from its org, e.g. when a key is retired or compromised.
    function unbindAccount(address account) external onlyOwner {
        uint32 orgId = _members[account].orgId;
        if (orgId == 0) revert NotAMember(account);
        delete _members[account];
        emit AccountUnbound(account, orgId);
    }

    /**
     * @notice Accepts `asset` as the asset of new contracts (or withdraws it; contracts already proposed keep theirs).
     * @dev Governance vets each asset: a standard ERC-20 whose transfers move exactly the amount asked. The escrow
     * still refuses a token whose balance moves by another amount.
     */
    function setAssetAccepted(address asset, bool accepted) external onlyOwner {
        AssetListing storage listing = _assetListings[asset];
        if (accepted && listing.id == 0) {
            if (asset.code.length == 0 || _assetCount == MAX_ASSETS) revert InvalidAsset(asset);
            uint16 id = ++_assetCount;
            listing.id = id;
            _assets[id] = asset;
        }
        listing.accepted = accepted;
        emit AssetAcceptanceChanged(asset, accepted);
    }

    /// @notice Returns org `orgId` and its name. An unregistered id returns kind NONE.
    function orgOf(uint32 orgId) public view returns (Org memory org, string memory name) {
        return (_orgs[orgId], _orgNames[orgId]);
    }

    /// @notice Returns the org and department `account` acts for (org 0 when unbound).
    function memberOf(address account) external view returns (Member memory) {
        return _members[account];
    }

    /// @notice The key to encrypt to `department` of `orgId`: the department's own key if set, else the org's key.
    function encryptionKeyOf(uint32 orgId, Department department) external view returns (bytes memory key) {
        key = _encryptionKeys[orgId][department];
        if (key.length == 0) key = _encryptionKeys[orgId][Department.NONE];
    }

    /// @inheritdoc IConsortium
    function treasuryOf(uint32 orgId) public view returns (address) {
        return _orgs[orgId].treasury;
    }

    /// @inheritdoc IConsortium
    function activeTreasuryOf(uint32 orgId) external view returns (address) {
        return _requireActiveOrg(orgId, OrgKind.ENTERPRISE).treasury;
    }

    /// @inheritdoc IConsortium
    function isActiveOrg(uint32 orgId) external view returns (bool) {
        return _orgs[orgId].active;
    }

    /// @inheritdoc IConsortium
    function isAssetAccepted(address asset) external view returns (bool) {
        return _assetListings[asset].accepted;
    }

    /// @inheritdoc IConsortium
    function accountOrg(address account, Department department) external view returns (uint32 orgId, address treasury) {
        orgId = requireDepartment(account, department);
        treasury = _orgs[orgId].treasury;
    }

    /// @inheritdoc IConsortium
    function requireMember(address account, uint32 orgId, Department department) public view {
        if (requireDepartment(account, department) != orgId) revert WrongParty(account, orgId);
    }

    /// @inheritdoc IConsortium
    function requireDepartment(address account, Department department) public view returns (uint32 orgId) {
        Member memory member = _members[account];
        orgId = member.orgId;
        if (orgId == 0) revert NotAMember(account);
        if (member.department != department) revert WrongDepartment(account, department, member.department);
        if (!_orgs[orgId].active) revert OrgSuspended(orgId);
    }

    /// @dev The id of `asset` for a new contract; reverts unless governance accepts it.
    function _acceptedAssetId(address asset) internal view returns (uint16) {
        AssetListing memory listing = _assetListings[asset];
        if (!listing.accepted) revert AssetNotAccepted(asset);
        return listing.id;
    }

    /// @dev Returns org `orgId`, reverting unless it is an active org of kind `kind`.
    function _requireActiveOrg(uint32 orgId, OrgKind kind) internal view returns (Org storage org) {
        org = _orgs[orgId];
        if (org.kind != kind) revert UnknownOrg(orgId);
        if (!org.active) revert OrgSuspended(orgId);
    }

    /**
     * @dev Reverts unless `signature` is a valid signature of `digest` by `signer`, and `signer` acts for `department`
     * of org `orgId` (whose being active the caller checks). Contract signers (multisig treasuries) are checked
     * through ERC-1271.
     */
    function _requireSignature(
        uint32 orgId,
        Department department,
        address signer,
        bytes32 digest,
        bytes calldata signature
    ) internal view {
        Member memory member = _members[signer];
        if (member.orgId != orgId || member.department != department) revert UnauthorizedSigner(signer, orgId);
        if (!SignatureChecker.isValidSignatureNow(signer, digest, signature)) revert InvalidSignature(signer);
    }

    /// @dev A treasury is a non-zero address that is not one of the consortium's own contracts.
    function _checkTreasury(address treasury) internal view virtual {
        if (treasury == address(0) || treasury == address(this)) revert InvalidTreasury();
    }

    function _knownOrg(uint32 orgId) private view returns (Org storage org) {
        org = _orgs[orgId];
        if (org.kind == OrgKind.NONE) revert UnknownOrg(orgId);
    }

    function _checkDepartment(OrgKind kind, Department department) private pure {
        bool valid = kind == OrgKind.PAYMENT_INSTITUTION
            ? department == Department.OPERATOR
            : department == Department.BUSINESS || department == Department.FINANCE;
        if (!valid) revert InvalidDepartment(kind, department);
    }

    function _checkEncryptionKey(bytes calldata key) private pure {
        bool compressed = key.length == 33 && (key[0] == 0x02 || key[0] == 0x03);
        bool uncompressed = key.length == 65 && key[0] == 0x04;
        if (!compressed && !uncompressed) revert InvalidEncryptionKey();
    }
}
