// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Department, OrgKind} from "../CollabTypes.sol";
import {ICollabErrors} from "./ICollabErrors.sol";

/// @notice S1: member organisations, the accounts bound to their departments, and the assets contracts may use.
interface IConsortium is ICollabErrors {
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
    /// @notice Emitted when governance accepts an ERC-20 as the asset of new contracts, or withdraws it.
    event AssetAcceptanceChanged(address indexed asset, bool accepted);

    /// @notice Org id 0 is reserved for "no org".
    error InvalidOrgId();
    /// @notice An org with this id is already registered.
    error OrgAlreadyRegistered(uint32 orgId);
    /// @notice No org of the required kind is registered with this id.
    error UnknownOrg(uint32 orgId);
    /// @notice The org is suspended: it may not act, sign, start a contract or be paid.
    error OrgSuspended(uint32 orgId);
    /// @notice Org names must not be empty.
    error InvalidOrgName();
    /// @notice Kind NONE is not a kind.
    error InvalidOrgKind();
    /// @notice A treasury must be a non-zero address other than the registry's and the escrow's.
    error InvalidTreasury();
    /// @notice An encryption key must be a secp256k1 public key: 33 bytes compressed or 65 bytes uncompressed.
    error InvalidEncryptionKey();
    /// @notice The department does not exist in orgs of this kind.
    error InvalidDepartment(OrgKind kind, Department department);
    /// @notice The account is already bound to an org; unbind it first.
    error AccountAlreadyBound(address account, uint32 orgId);
    /// @notice The account is not bound to any org.
    error NotAMember(address account);
    /// @notice The account acts for another department than the one this step belongs to.
    error WrongDepartment(address account, Department expected, Department actual);
    /// @notice An accepted asset must be a deployed contract (and at most {MAX_ASSETS} are listed).
    error InvalidAsset(address asset);
    /// @notice Governance has not accepted this asset for new contracts.
    error AssetNotAccepted(address asset);

    /// @notice Reverts with a named error unless `account` acts for `orgId`'s `department` and the org is active.
    function requireMember(address account, uint32 orgId, Department department) external view;

    /// @notice Returns the org `account` acts for, reverting unless it is in `department` of an active org.
    function requireDepartment(address account, Department department) external view returns (uint32 orgId);

    /// @notice The org `account` acts for in `department`, and its treasury; reverts unless that org is active.
    function accountOrg(address account, Department department) external view returns (uint32 orgId, address treasury);

    /// @notice The treasury of active enterprise `orgId`, where payments to it go; reverts for any other org.
    function activeTreasuryOf(uint32 orgId) external view returns (address);

    /// @notice The address that holds `orgId`'s digital assets.
    function treasuryOf(uint32 orgId) external view returns (address);

    /// @notice Whether org `orgId` is registered and not suspended.
    function isActiveOrg(uint32 orgId) external view returns (bool);

    /// @notice Whether new contracts may be paid in `asset`.
    function isAssetAccepted(address asset) external view returns (bool);
}
