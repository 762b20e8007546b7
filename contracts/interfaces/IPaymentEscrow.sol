// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice What the registry needs from the escrow, the ledger of payments: recording applications and freezing the
/// payer's funds when a payment voucher is issued.
interface IPaymentEscrow {
    /**
     * @notice Records payment application `voucherId` for `amount` (S5.1).
     * @dev Callable by the registry only.
     */
    function recordApplication(bytes32 voucherId, uint128 amount) external;

    /**
     * @notice Pulls `amount` of `asset` from `payerTreasury` and freezes it for payment voucher `voucherId` (S5.4).
     * @dev Callable by the registry only, in the transaction that issues the voucher. `amount` must be the
     * application's, and an application gets one voucher.
     */
    function freeze(
        bytes32 voucherId,
        address asset,
        address payerTreasury,
        uint128 amount,
        bytes32 keyCommitment,
        uint40 expiry
    ) external;
}
