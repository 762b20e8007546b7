// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IConsortium} from "./IConsortium.sol";
import {IContractRegistry} from "./IContractRegistry.sol";
import {ISettlement} from "./ISettlement.sol";
import {IStageVoucher} from "./IStageVoucher.sol";

/// @notice The registry of members, e-contracts, stage vouchers, settlements and payment vouchers (S1–S5).
interface ICollabRegistry is IConsortium, IContractRegistry, IStageVoucher, ISettlement {}
