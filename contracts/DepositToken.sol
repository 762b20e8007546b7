// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title DepositToken
 * @notice A tokenised deposit for local deployments: one token is one currency unit with 2 decimals, minted when the
 * payment institution credits a deposit and burned when it pays one out. The escrow works with any standard ERC-20.
 */
contract DepositToken is ERC20, AccessControl {
    /// @notice Role allowed to mint deposits.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");
    /// @notice Role allowed to burn deposits it holds.
    bytes32 public constant BURNER_ROLE = keccak256("BURNER_ROLE");

    /// @param institution The payment institution: admin, minter and burner.
    constructor(string memory name, string memory symbol, address institution) ERC20(name, symbol) {
        _grantRole(DEFAULT_ADMIN_ROLE, institution);
        _grantRole(MINTER_ROLE, institution);
        _grantRole(BURNER_ROLE, institution);
    }

    /// @notice Credits a deposit of `amount` to `to`. Caller: MINTER_ROLE.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @notice Burns `amount` of the caller's own deposits when they are paid out. Caller: BURNER_ROLE.
    function burn(uint256 amount) external onlyRole(BURNER_ROLE) {
        _burn(msg.sender, amount);
    }

    /// @notice Deposits are counted in cents.
    function decimals() public pure override returns (uint8) {
        return 2;
    }
}
