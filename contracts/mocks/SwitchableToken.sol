// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice Test token whose transfers can be made to fail (as a paused or blacklisting token does): test only.
contract SwitchableToken is ERC20 {
    /// @notice Transfers revert while this is set.
    bool public broken;

    /// @notice Every transfer reverts with this while the token is broken.
    error TokenBroken();

    constructor() ERC20("Switchable Token", "SWT") {}

    /// @notice Mints freely: test only.
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Breaks (or repairs) every transfer: test only.
    function setBroken(bool broken_) external {
        broken = broken_;
    }

    function _update(address from, address to, uint256 value) internal override {
        if (broken) revert TokenBroken();
        super._update(from, to, value);
    }
}
