// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

/// @notice Errors shared by the registry and the escrow, declared once (as OpenZeppelin's IERC6093 does).
interface ICollabErrors {
    /// @notice The account acts for another org than the one this step belongs to.
    error WrongParty(address account, uint32 expectedOrgId);
    /// @notice The signature is not `signer`'s over the expected typed data (EIP-712 or ERC-1271).
    error InvalidSignature(address signer);
    /// @notice The signer does not act for the department of the (active) org that must sign.
    error UnauthorizedSigner(address signer, uint32 orgId);
    /// @notice Only the registry's escrow, or the escrow's registry, may call this function.
    error UnauthorizedCaller(address caller);
}
