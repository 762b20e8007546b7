// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Department, OrgKind} from "./CollabTypes.sol";

/**
 * @title Consortium
 * @notice S1: the member organisations of the consortium chain and the accounts bound to their departments.
 * @dev Governance is the owner (two-step transfer, so the deployer can hand it to a multisig). It registers and
 * suspends orgs and binds accounts. Every business step of the derived modules authorises its caller with
 * {_requireMember} or {_requireDepartment}, and every signer with {_requireSignature}.
 */
abstract contract Consortium is Ownable2Step {
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
    mapping(address account => Member) private _members;

    /// @notice Emitted when governance registers org `orgId`.
    event OrgRegistered(uint32 indexed orgId, OrgKind kind, string name, address treasury, bytes encryptionKey);
    /// @notice Emitted when governance suspends (`active` false) or reinstates an org.
    event OrgStatusChanged(uint32 indexed orgId, bool active);
    /// @notice Emitted when governance moves an org's treasury.
    event TreasuryChanged(uint32 indexed orgId, address treasury);
    /// @notice Emitted when governance sets the encryption public key of an org (NONE) or of one of its departments.
    event EncryptionKeyChanged(uint32 indexed orgId, Department indexed department, bytes encryptionKey);
    /// @notice Emitted when governance binds `account` to a department of `orgId`.
    event AccountBound(address indexed account, uint32 indexed orgId, Department department);
    /// @notice Emitted when governance unbinds `account` from its org.
    event AccountUnbound(address indexed account, uint32 indexed orgId);

    /// @notice Org id 0 is reserved for "no org".
    error InvalidOrgId();
    /// @notice An org with this id is already registered.
    error OrgAlreadyRegistered(uint32 orgId);
    /// @notice No org with this id is registered.
    error UnknownOrg(uint32 orgId);
    /// @notice The org is suspended and may not act or be dealt with.
    error OrgSuspended(uint32 orgId);
    /// @notice Org names must not be empty.
    error InvalidOrgName();
    /// @notice Kind NONE is not a kind.
    error InvalidOrgKind();
    /// @notice A treasury must be a non-zero address.
    error InvalidTreasury();
    /// @notice An encryption key must be a secp256k1 public key: 33 bytes compressed or 65 bytes uncompressed.
    error InvalidEncryptionKey();
    /// @notice The department does not exist in orgs of this kind.
    error InvalidDepartment(OrgKind kind, Department department);
    /// @notice The account is already bound to an org; unbind it first.
    error AccountAlreadyBound(address account, uint32 orgId);
    /// @notice The account is not bound to any org.
    error NotAMember(address account);
    /// @notice The account acts for another org than the one this step belongs to.
    error WrongParty(address account, uint32 expectedOrgId);
    /// @notice The account acts for another department than the one this step belongs to.
    error WrongDepartment(address account, Department expected, Department actual);
    /// @notice The signer does not act for the department of the org that must sign.
    error UnauthorizedSigner(address signer, uint32 orgId);
    /// @notice The signature is not `signer`'s over the expected typed data (EIP-712 or ERC-1271).
    error InvalidSignature(address signer);

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
        if (treasury == address(0)) revert InvalidTreasury();
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

    /// @notice Moves an org's treasury. Funds already frozen are returned to or paid into the treasury of the time.
    function setTreasury(uint32 orgId, address treasury) external onlyOwner {
        if (treasury == address(0)) revert InvalidTreasury();
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

    /// @notice Returns org `orgId` and its name. An unregistered id returns kind NONE.
    function orgOf(uint32 orgId) external view returns (Org memory org, string memory name) {
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

    /// @notice The address that holds `orgId`'s digital assets.
    function treasuryOf(uint32 orgId) public view returns (address) {
        return _orgs[orgId].treasury;
    }

    /// @notice Reverts with a named error unless `account` acts for `orgId`'s `department` and the org is active.
    function requireMember(address account, uint32 orgId, Department department) public view {
        if (requireDepartment(account, department) != orgId) revert WrongParty(account, orgId);
    }

    /// @notice Returns the org `account` acts for, reverting unless it is in `department` of an active org.
    function requireDepartment(address account, Department department) public view returns (uint32 orgId) {
        Member memory member = _members[account];
        orgId = member.orgId;
        if (orgId == 0) revert NotAMember(account);
        if (member.department != department) revert WrongDepartment(account, department, member.department);
        if (!_orgs[orgId].active) revert OrgSuspended(orgId);
    }

    /// @dev Reverts unless `orgId` is an active org of kind `kind`.
    function _requireActiveOrg(uint32 orgId, OrgKind kind) internal view {
        Org storage org = _orgs[orgId];
        if (org.kind != kind) revert UnknownOrg(orgId);
        if (!org.active) revert OrgSuspended(orgId);
    }

    /**
     * @dev Reverts unless `signature` is a valid signature of `digest` by `signer`, and `signer` acts for `department`
     * of active org `orgId`. Contract signers (multisig treasuries) are checked through ERC-1271.
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
