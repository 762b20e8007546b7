// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Department} from "../CollabTypes.sol";

/// @notice What the escrow needs from the registry: who may act, who is paid, and the unpaid amount of a contract.
interface IContractRegistry {
    /// @notice Reverts with a named error unless `account` acts for `orgId`'s `department` and the org is active.
    function requireMember(address account, uint32 orgId, Department department) external view;

    /// @notice Returns the org `account` acts for, reverting unless it is in `department` of an active org.
    function requireDepartment(address account, Department department) external view returns (uint32 orgId);

    /// @notice The asset, payer (Party A) and payee (Party B) of a registered contract.
    function partiesOf(bytes32 contractNo) external view returns (address asset, uint32 payer, uint32 payee);

    /// @notice The address that holds `orgId`'s digital assets.
    function treasuryOf(uint32 orgId) external view returns (address);

    /// @notice Returns `amount` of a reclaimed payment voucher to the contract's unpaid amount. Escrow only.
    function releaseCommitment(bytes32 contractNo, uint128 amount) external;
}
