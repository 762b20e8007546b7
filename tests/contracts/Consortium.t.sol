// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Consortium} from "../../contracts/Consortium.sol";
import {Department, OrgKind} from "../../contracts/CollabTypes.sol";
import {ICollabErrors} from "../../contracts/interfaces/ICollabErrors.sol";
import {IConsortium} from "../../contracts/interfaces/IConsortium.sol";
import {CollabFixture} from "./CollabFixture.sol";

/**
 * @title ConsortiumTest
 * @notice S1: governance registers, suspends and reinstates orgs, moves treasuries, sets encryption keys, binds and
 * unbinds accounts and lists assets; every refusal is asserted with its named error and arguments, every change with
 * its event. The membership checks the other modules call (`requireMember`, `requireDepartment`, `accountOrg`,
 * `activeTreasuryOf`) are tested here once.
 */
contract ConsortiumTest is CollabFixture {
    uint32 internal constant D = 4;
    /// @dev Storage slot of `Consortium._assetCount` (`forge inspect CollabRegistry storage-layout`).
    uint256 internal constant ASSET_COUNT_SLOT = 8;
    bytes internal constant UNCOMPRESSED_KEY =
        hex"04bce5a6b8e8c1a0e3c1b4f3e7b0a9d8c7b6a5f4e3d2c1b0a99887766554433221bce5a6b8e8c1a0e3c1b4f3e7b0a9d8c7b6a5f4e3d2c1b0a99887766554433221";

    /// @dev Every governance step, with valid arguments.
    function governanceCalls() internal view returns (bytes[] memory calls) {
        calls = new bytes[](9);
        calls[0] =
            abi.encodeCall(registry.registerOrg, (D, "Party D", OrgKind.ENTERPRISE, address(0xd), ENCRYPTION_KEY));
        calls[1] = abi.encodeCall(registry.setOrgActive, (A, false));
        calls[2] = abi.encodeCall(registry.setTreasury, (A, address(0xa2)));
        calls[3] = abi.encodeCall(registry.setEncryptionKey, (A, Department.FINANCE, ENCRYPTION_KEY));
        calls[4] = abi.encodeCall(registry.bindAccount, (outsider, A, Department.FINANCE));
        calls[5] = abi.encodeCall(registry.unbindAccount, (aFinance.addr));
        calls[6] = abi.encodeCall(registry.setAssetAccepted, (address(escrow), true));
        calls[7] = abi.encodeCall(registry.transferOwnership, (outsider));
        calls[8] = abi.encodeCall(registry.renounceOwnership, ());
    }

    function test_every_governance_step_refuses_any_other_account() public {
        bytes[] memory calls = governanceCalls();
        address[3] memory others = [outsider, aBusiness.addr, operator.addr];
        for (uint256 i; i < calls.length; ++i) {
            for (uint256 j; j < others.length; ++j) {
                expectRefused(
                    others[j],
                    address(registry),
                    calls[i],
                    abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, others[j])
                );
            }
            (bool ok,) = address(registry).call(calls[i]);
            assertTrue(ok, "governance itself may take the step");
        }
    }

    function test_governance_is_handed_over_in_two_steps() public {
        registry.transferOwnership(outsider);
        assertEq(registry.owner(), address(this));
        assertEq(registry.pendingOwner(), outsider);
        expectRefused(
            aBusiness.addr,
            address(registry),
            abi.encodeCall(registry.acceptOwnership, ()),
            abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, aBusiness.addr)
        );
        vm.prank(outsider);
        registry.acceptOwnership();
        assertEq(registry.owner(), outsider);
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, address(this)));
        registry.setOrgActive(A, false);
    }

    // ------------------------------------------------------------------ registerOrg

    function test_registerOrg_records_the_org_and_emits() public {
        vm.expectEmit(address(registry));
        emit IConsortium.OrgRegistered(D, OrgKind.ENTERPRISE, "Party D", address(0xd), UNCOMPRESSED_KEY);
        registry.registerOrg(D, "Party D", OrgKind.ENTERPRISE, address(0xd), UNCOMPRESSED_KEY);
        (Consortium.Org memory org, string memory name) = registry.orgOf(D);
        assertEq(org.treasury, address(0xd));
        assertEq(uint8(org.kind), uint8(OrgKind.ENTERPRISE));
        assertTrue(org.active);
        assertEq(name, "Party D");
        assertEq(registry.encryptionKeyOf(D, Department.FINANCE), UNCOMPRESSED_KEY, "falls back to the org's key");
    }

    function test_registerOrg_refuses_id_zero() public {
        vm.expectRevert(IConsortium.InvalidOrgId.selector);
        registry.registerOrg(0, "Zero", OrgKind.ENTERPRISE, address(0xd), ENCRYPTION_KEY);
    }

    function test_registerOrg_refuses_a_registered_id() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.OrgAlreadyRegistered.selector, A));
        registry.registerOrg(A, "Party A again", OrgKind.ENTERPRISE, address(0xd), ENCRYPTION_KEY);
    }

    function test_registerOrg_refuses_an_empty_name() public {
        vm.expectRevert(IConsortium.InvalidOrgName.selector);
        registry.registerOrg(D, "", OrgKind.ENTERPRISE, address(0xd), ENCRYPTION_KEY);
    }

    function test_registerOrg_refuses_kind_none() public {
        vm.expectRevert(IConsortium.InvalidOrgKind.selector);
        registry.registerOrg(D, "Party D", OrgKind.NONE, address(0xd), ENCRYPTION_KEY);
    }

    function test_registerOrg_refuses_treasury_zero() public {
        vm.expectRevert(IConsortium.InvalidTreasury.selector);
        registry.registerOrg(D, "Party D", OrgKind.ENTERPRISE, address(0), ENCRYPTION_KEY);
    }

    /// @dev A key is accepted iff it is 33 bytes starting 02 or 03, or 65 bytes starting 04.
    function testFuzz_registerOrg_checks_the_encryption_key(uint8 length, bytes1 prefix) public {
        length = uint8(bound(length, 0, 70));
        bytes memory key = new bytes(length);
        if (length > 0) key[0] = prefix;
        bool valid = (length == 33 && (prefix == 0x02 || prefix == 0x03)) || (length == 65 && prefix == 0x04);
        if (!valid) vm.expectRevert(IConsortium.InvalidEncryptionKey.selector);
        registry.registerOrg(D, "Party D", OrgKind.ENTERPRISE, address(0xd), key);
    }

    // ------------------------------------------------------------------ setOrgActive

    function test_suspension_blocks_every_member_and_reinstatement_restores() public {
        vm.expectEmit(address(registry));
        emit IConsortium.OrgStatusChanged(A, false);
        suspend(A);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.OrgSuspended.selector, A));
        registry.requireDepartment(aFinance.addr, Department.FINANCE);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.OrgSuspended.selector, A));
        registry.activeTreasuryOf(A);
        assertEq(registry.treasuryOf(A), aTreasury, "the treasury stays readable");

        vm.expectEmit(address(registry));
        emit IConsortium.OrgStatusChanged(A, true);
        reinstate(A);
        assertEq(registry.requireDepartment(aFinance.addr, Department.FINANCE), A);
    }

    function test_setOrgActive_refuses_an_unknown_org() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.UnknownOrg.selector, D));
        registry.setOrgActive(D, false);
    }

    // ------------------------------------------------------------------ setTreasury

    function test_setTreasury_moves_the_treasury_and_emits() public {
        vm.expectEmit(address(registry));
        emit IConsortium.TreasuryChanged(A, address(0xa2));
        registry.setTreasury(A, address(0xa2));
        assertEq(registry.treasuryOf(A), address(0xa2));
        (, address treasury) = registry.accountOrg(aFinance.addr, Department.FINANCE);
        assertEq(treasury, address(0xa2));
    }

    function test_setTreasury_refuses_zero_and_unknown_orgs() public {
        vm.expectRevert(IConsortium.InvalidTreasury.selector);
        registry.setTreasury(A, address(0));
        vm.expectRevert(abi.encodeWithSelector(IConsortium.UnknownOrg.selector, D));
        registry.setTreasury(D, address(0xd));
    }

    // ------------------------------------------------------------------ setEncryptionKey

    function test_setEncryptionKey_department_key_takes_precedence() public {
        vm.expectEmit(address(registry));
        emit IConsortium.EncryptionKeyChanged(A, Department.FINANCE, UNCOMPRESSED_KEY);
        registry.setEncryptionKey(A, Department.FINANCE, UNCOMPRESSED_KEY);
        assertEq(registry.encryptionKeyOf(A, Department.FINANCE), UNCOMPRESSED_KEY);
        assertEq(registry.encryptionKeyOf(A, Department.BUSINESS), ENCRYPTION_KEY);
        registry.setEncryptionKey(A, Department.NONE, UNCOMPRESSED_KEY);
        assertEq(registry.encryptionKeyOf(A, Department.BUSINESS), UNCOMPRESSED_KEY);
    }

    function test_setEncryptionKey_refusals() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.UnknownOrg.selector, D));
        registry.setEncryptionKey(D, Department.NONE, ENCRYPTION_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(IConsortium.InvalidDepartment.selector, OrgKind.ENTERPRISE, Department.OPERATOR)
        );
        registry.setEncryptionKey(A, Department.OPERATOR, ENCRYPTION_KEY);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsortium.InvalidDepartment.selector, OrgKind.PAYMENT_INSTITUTION, Department.FINANCE
            )
        );
        registry.setEncryptionKey(BANK, Department.FINANCE, ENCRYPTION_KEY);
        vm.expectRevert(IConsortium.InvalidEncryptionKey.selector);
        registry.setEncryptionKey(A, Department.NONE, hex"04");
    }

    // ------------------------------------------------------------------ bindAccount / unbindAccount

    function test_bindAccount_binds_one_org_and_department() public {
        vm.expectEmit(address(registry));
        emit IConsortium.AccountBound(outsider, C, Department.BUSINESS);
        registry.bindAccount(outsider, C, Department.BUSINESS);
        assertEq(registry.memberOf(outsider).orgId, C);
        assertEq(uint8(registry.memberOf(outsider).department), uint8(Department.BUSINESS));
        registry.requireMember(outsider, C, Department.BUSINESS);
    }

    function test_bindAccount_refuses_unknown_orgs_and_foreign_departments() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.UnknownOrg.selector, D));
        registry.bindAccount(outsider, D, Department.FINANCE);
        Department[2] memory notEnterprise = [Department.NONE, Department.OPERATOR];
        for (uint256 i; i < notEnterprise.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(IConsortium.InvalidDepartment.selector, OrgKind.ENTERPRISE, notEnterprise[i])
            );
            registry.bindAccount(outsider, A, notEnterprise[i]);
        }
        Department[3] memory notInstitution = [Department.NONE, Department.BUSINESS, Department.FINANCE];
        for (uint256 i; i < notInstitution.length; ++i) {
            vm.expectRevert(
                abi.encodeWithSelector(
                    IConsortium.InvalidDepartment.selector, OrgKind.PAYMENT_INSTITUTION, notInstitution[i]
                )
            );
            registry.bindAccount(outsider, BANK, notInstitution[i]);
        }
    }

    function test_bindAccount_refuses_an_account_already_bound() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.AccountAlreadyBound.selector, aFinance.addr, A));
        registry.bindAccount(aFinance.addr, A, Department.BUSINESS);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.AccountAlreadyBound.selector, aFinance.addr, A));
        registry.bindAccount(aFinance.addr, B, Department.FINANCE);
    }

    function test_unbindAccount_retires_the_account() public {
        vm.expectEmit(address(registry));
        emit IConsortium.AccountUnbound(aFinance.addr, A);
        registry.unbindAccount(aFinance.addr);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.NotAMember.selector, aFinance.addr));
        registry.requireDepartment(aFinance.addr, Department.FINANCE);
        registry.bindAccount(aFinance.addr, B, Department.FINANCE);
        assertEq(registry.memberOf(aFinance.addr).orgId, B, "an unbound account may be bound again");
    }

    function test_unbindAccount_refuses_an_unbound_account() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.NotAMember.selector, outsider));
        registry.unbindAccount(outsider);
    }

    // ------------------------------------------------------------------ assets

    function test_setAssetAccepted_lists_and_withdraws() public {
        address asset = address(escrow); // any deployed contract may be listed
        assertFalse(registry.isAssetAccepted(asset));
        vm.expectEmit(address(registry));
        emit IConsortium.AssetAcceptanceChanged(asset, true);
        registry.setAssetAccepted(asset, true);
        assertTrue(registry.isAssetAccepted(asset));
        vm.expectEmit(address(registry));
        emit IConsortium.AssetAcceptanceChanged(asset, false);
        registry.setAssetAccepted(asset, false);
        assertFalse(registry.isAssetAccepted(asset));
        registry.setAssetAccepted(asset, true);
        assertEq(uint256(vm.load(address(registry), bytes32(ASSET_COUNT_SLOT))), 2, "a re-listed asset keeps its id");
    }

    function test_setAssetAccepted_refuses_an_account_without_code() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.InvalidAsset.selector, outsider));
        registry.setAssetAccepted(outsider, true);
        registry.setAssetAccepted(outsider, false); // withdrawing what was never listed lists nothing
        assertFalse(registry.isAssetAccepted(outsider));
    }

    function test_setAssetAccepted_refuses_a_new_asset_once_MAX_ASSETS_are_listed() public {
        vm.store(address(registry), bytes32(ASSET_COUNT_SLOT), bytes32(registry.MAX_ASSETS()));
        vm.expectRevert(abi.encodeWithSelector(IConsortium.InvalidAsset.selector, address(escrow)));
        registry.setAssetAccepted(address(escrow), true);
        registry.setAssetAccepted(address(token), true); // a listed asset is still re-accepted
    }

    // ------------------------------------------------------------------ the checks other modules call

    function test_requireMember_names_what_is_wrong() public {
        vm.expectRevert(abi.encodeWithSelector(IConsortium.NotAMember.selector, outsider));
        registry.requireMember(outsider, A, Department.FINANCE);
        vm.expectRevert(
            abi.encodeWithSelector(
                IConsortium.WrongDepartment.selector, aBusiness.addr, Department.FINANCE, Department.BUSINESS
            )
        );
        registry.requireMember(aBusiness.addr, A, Department.FINANCE);
        vm.expectRevert(abi.encodeWithSelector(ICollabErrors.WrongParty.selector, bFinance.addr, A));
        registry.requireMember(bFinance.addr, A, Department.FINANCE);
        suspend(A);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.OrgSuspended.selector, A));
        registry.requireMember(aFinance.addr, A, Department.FINANCE);
    }

    function test_accountOrg_returns_the_org_and_its_treasury() public view {
        (uint32 orgId, address treasury) = registry.accountOrg(operator.addr, Department.OPERATOR);
        assertEq(orgId, BANK);
        assertEq(treasury, bankTreasury);
    }

    function test_activeTreasuryOf_is_for_active_enterprises_only() public {
        assertEq(registry.activeTreasuryOf(C), cTreasury);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.UnknownOrg.selector, BANK));
        registry.activeTreasuryOf(BANK);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.UnknownOrg.selector, D));
        registry.activeTreasuryOf(D);
        suspend(C);
        vm.expectRevert(abi.encodeWithSelector(IConsortium.OrgSuspended.selector, C));
        registry.activeTreasuryOf(C);
    }
}
