// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice The id of a payment, shared by its application, payment voucher, escrow record and second voucher.
library PaymentIds {
    /// @notice Id of payment `seq` (1, 2, ...) of contract `contractNo`: `keccak256(abi.encode(contractNo, seq))`.
    function voucherId(bytes32 contractNo, uint8 seq) internal pure returns (bytes32 id) {
        assembly ("memory-safe") {
            mstore(0x00, contractNo)
            mstore(0x20, and(seq, 0xff))
            id := keccak256(0x00, 0x40)
        }
    }
}
