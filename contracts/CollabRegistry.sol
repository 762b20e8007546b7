// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Consortium} from "./Consortium.sol";
import {Settlement} from "./Settlement.sol";
import {ICollabRegistry} from "./interfaces/ICollabRegistry.sol";

/**
 * @title CollabRegistry
 * @notice The consortium's registry of members, e-contracts, stage vouchers, business settlements and payment
 * vouchers (S1–S5), composed of the {Consortium}, {ContractRegistry}, {StageVoucher} and {Settlement} modules.
 * Funds are held by the {PaymentEscrow} connected through {setEscrow}.
 * @dev One deployment keeps the modules' records in shared, packed storage and spares cross-contract calls on
 * every step; the EIP-712 domain of the contract signatures ("collab CollabRegistry", version 2) is this contract's.
 */
contract CollabRegistry is Settlement, ICollabRegistry {
    /// @param governance Owner of the consortium: registers orgs and binds accounts (can be handed to a multisig).
    constructor(address governance) Consortium(governance) {}
}
