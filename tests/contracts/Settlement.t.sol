// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC20Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {CollabRegistry} from "../../contracts/CollabRegistry.sol";
import {
    ContractStatus,
    Department,
    OrgKind,
    PaymentVoucherTerms,
    StageTerms,
    VoucherStatus
} from "../../contracts/CollabTypes.sol";
import {PaymentEscrow} from "../../contracts/PaymentEscrow.sol";
import {ICollabErrors} from "../../contracts/interfaces/ICollabErrors.sol";
import {IContractRegistry} from "../../contracts/interfaces/IContractRegistry.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {ISettlement} from "../../contracts/interfaces/ISettlement.sol";
import {FeeOnTransferToken} from "../../contracts/mocks/FeeOnTransferToken.sol";
import {SwitchableToken} from "../../contracts/mocks/SwitchableToken.sol";
import {CollabFixture} from "./CollabFixture.sol";

/**
 * @title SettlementTest
 * @notice S4–S5: business settlement, payment applications (refused or withdrawn by name, over-total ones refused at
 * application time), payment vouchers and the freeze of their funds, and `setEscrow`. Every refusal with its
 * arguments, including the payer swapping the account or the amount at issue, fee-on-transfer and broken tokens,
 * and fuzzed application amounts and key expiries.
 */
contract SettlementTest is CollabFixture {
    bytes32 internal constant NO = "HT-1";

    function applyCall(bytes32 contractNo, uint128 amount) internal view returns (bytes memory) {
        return abi.encodeCall(registry.applyForPayment, (contractNo, amount, accountHash(0), hex"a11ce0", hex"ba4c"));
    }

    function issueCall(uint8 seq, PaymentVoucherTerms memory t) internal view returns (bytes memory) {
        return abi.encodeCall(registry.issuePaymentVoucher, (NO, seq, t));
    }

    function withdrawCall(uint8 seq) internal view returns (bytes memory) {
        return abi.encodeCall(registry.withdrawPaymentApplication, (NO, seq));
    }

    function refuseCall(uint8 seq) internal view returns (bytes memory) {
        return abi.encodeCall(registry.refusePaymentApplication, (NO, seq, keccak256("disputed")));
    }

    function expectIssueRefused(uint8 seq, PaymentVoucherTerms memory t, bytes memory error_) internal {
        expectRefused(aFinance.addr, address(registry), issueCall(seq, t), error_);
    }

    function expectApplicationRefused(uint128 amount, bytes memory error_) internal {
        expectRefused(bFinance.addr, address(registry), applyCall(NO, amount), error_);
    }

    /// @dev Both ways an application ends without a voucher, by their right callers: the payee withdraws it, the
    /// payer refuses it.
    function closeCalls(uint8 seq) internal view returns (address[2] memory callers, bytes[2] memory calls) {
        callers = [bFinance.addr, aFinance.addr];
        calls = [withdrawCall(seq), refuseCall(seq)];
    }

    function contractStatus() internal view returns (ContractStatus) {
        (CollabRegistry.Agreement memory agreement,) = registry.agreementOf(NO);
        return agreement.status;
    }

    // ------------------------------------------------------------------ setEscrow

    /// @dev A second registry governed by this contract, with the bank registered, and an escrow of it: not connected.
    function freshRegistryAndEscrow() internal returns (CollabRegistry fresh, PaymentEscrow ownEscrow) {
        fresh = new CollabRegistry(address(this));
        fresh.registerOrg(BANK, "Bank", OrgKind.PAYMENT_INSTITUTION, bankTreasury, ENCRYPTION_KEY);
        ownEscrow = new PaymentEscrow(fresh, BANK, RELEASE_WINDOW, MIN_KEY_LIFETIME);
    }

    function test_setEscrow_connects_an_escrow_of_this_registry_once() public {
        (CollabRegistry fresh, PaymentEscrow ownEscrow) = freshRegistryAndEscrow();
        vm.expectEmit(address(fresh));
        emit ISettlement.EscrowSet(address(ownEscrow));
        fresh.setEscrow(ownEscrow);
        assertEq(address(fresh.escrow()), address(ownEscrow));
        vm.expectRevert(ISettlement.EscrowAlreadySet.selector);
        fresh.setEscrow(ownEscrow);
        vm.expectRevert(ISettlement.EscrowAlreadySet.selector);
        registry.setEscrow(escrow);
    }

    function test_setEscrow_refuses_a_non_contract_an_escrow_of_another_registry_or_a_non_escrow() public {
        CollabRegistry fresh = new CollabRegistry(address(this));
        address[3] memory candidates = [outsider, address(escrow), address(token)];
        for (uint256 i; i < candidates.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(ISettlement.InvalidEscrow.selector, candidates[i]));
            fresh.setEscrow(IPaymentEscrow(candidates[i]));
        }
        assertEq(address(fresh.escrow()), address(0));
    }

    /// @dev The escrow's institution must be a registered PAYMENT_INSTITUTION of the registry: unregistered, or
    /// registered as an enterprise, the escrow is refused.
    function test_setEscrow_refuses_an_escrow_whose_institution_is_not_a_registered_payment_institution() public {
        CollabRegistry fresh = new CollabRegistry(address(this));
        PaymentEscrow unregistered = new PaymentEscrow(fresh, BANK, RELEASE_WINDOW, MIN_KEY_LIFETIME);
        PaymentEscrow ofAnEnterprise = new PaymentEscrow(fresh, A, RELEASE_WINDOW, MIN_KEY_LIFETIME);
        fresh.registerOrg(A, "Party A", OrgKind.ENTERPRISE, aTreasury, ENCRYPTION_KEY);
        PaymentEscrow[2] memory candidates = [unregistered, ofAnEnterprise];
        for (uint256 i; i < candidates.length; ++i) {
            vm.expectRevert(abi.encodeWithSelector(ISettlement.InvalidEscrow.selector, address(candidates[i])));
            fresh.setEscrow(candidates[i]);
        }
        assertEq(address(fresh.escrow()), address(0));
    }

    function test_setEscrow_is_for_governance_only() public {
        (CollabRegistry fresh, PaymentEscrow ownEscrow) = freshRegistryAndEscrow();
        expectRefused(
            operator.addr,
            address(fresh),
            abi.encodeCall(fresh.setEscrow, (ownEscrow)),
            abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, operator.addr)
        );
    }

    function test_escrow_entry_points_of_the_registry_refuse_any_other_caller() public {
        bytes32 voucherId = voucherIdOf(NO, 1);
        bytes[3] memory calls = [
            abi.encodeCall(escrow.recordApplication, (voucherId, 1, accountHash(0))),
            abi.encodeCall(escrow.closeApplication, (voucherId, VoucherStatus.REFUSED)),
            abi.encodeCall(escrow.freeze, (voucherId, address(token), aTreasury, B, 1, accountHash(0), bytes32("k"), 1))
        ];
        for (uint256 i; i < calls.length; ++i) {
            expectRefused(
                aFinance.addr,
                address(escrow),
                calls[i],
                abi.encodeWithSelector(ICollabErrors.UnauthorizedCaller.selector, aFinance.addr)
            );
        }
        expectRefused(
            aFinance.addr,
            address(registry),
            abi.encodeCall(registry.releaseCommitment, (NO, 1)),
            abi.encodeWithSelector(ICollabErrors.UnauthorizedCaller.selector, aFinance.addr)
        );
    }

    // ------------------------------------------------------------------ business settlement

    function test_business_settlement_issues_the_voucher_for_the_total() public {
        vouchedContract(NO, stages3());
        vm.expectEmit(address(registry));
        emit ISettlement.BusinessSettlementRequested(NO, B, bBusiness.addr);
        vm.prank(bBusiness.addr);
        registry.applyBusinessSettlement(NO);
        assertEq(uint8(contractStatus()), uint8(ContractStatus.SETTLEMENT_REQUESTED));
        vm.expectEmit(address(registry));
        emit ISettlement.BusinessSettlementVoucherIssued(NO, A, B, 600_00, aBusiness.addr);
        vm.prank(aBusiness.addr);
        registry.approveBusinessSettlement(NO);
        assertEq(uint8(contractStatus()), uint8(ContractStatus.SETTLED));
        assertEq(unpaidOf(NO), 600_00);
    }

    function test_business_settlement_checks_the_callers() public {
        vouchedContract(NO, stages1());
        expectCallerChecks(
            address(registry), abi.encodeCall(registry.applyBusinessSettlement, (NO)), B, Department.BUSINESS, C
        );
        expectCallerChecks(
            address(registry), abi.encodeCall(registry.approveBusinessSettlement, (NO)), A, Department.BUSINESS, C
        );
    }

    function test_business_settlement_refuses_unknown_contracts() public {
        address[2] memory callers = [bBusiness.addr, aBusiness.addr];
        bytes[2] memory calls = [
            abi.encodeCall(registry.applyBusinessSettlement, (NO)),
            abi.encodeCall(registry.approveBusinessSettlement, (NO))
        ];
        expectBothRefused(
            callers, address(registry), calls, abi.encodeWithSelector(IContractRegistry.UnknownContract.selector, NO)
        );
    }

    function test_applyBusinessSettlement_refuses_before_every_stage_is_vouched() public {
        propose(NO, stages3());
        bytes memory data = abi.encodeCall(registry.applyBusinessSettlement, (NO));
        expectRefused(
            bBusiness.addr,
            address(registry),
            data,
            abi.encodeWithSelector(
                IContractRegistry.UnexpectedContractStatus.selector, NO, ContractStatus.SIGNED, ContractStatus.PROPOSED
            )
        );
        countersign(NO, stages3());
        submitStage(NO, stages3(), 1, resultOf(1));
        confirmStage(NO, stages3(), 1, resultOf(1));
        expectRefused(
            bBusiness.addr,
            address(registry),
            data,
            abi.encodeWithSelector(ISettlement.StagesNotVouched.selector, NO, 1, 3)
        );
    }

    function test_business_settlement_steps_refuse_the_wrong_contract_status() public {
        vouchedContract(NO, stages1());
        expectRefused(
            aBusiness.addr,
            address(registry),
            abi.encodeCall(registry.approveBusinessSettlement, (NO)),
            abi.encodeWithSelector(
                IContractRegistry.UnexpectedContractStatus.selector,
                NO,
                ContractStatus.SETTLEMENT_REQUESTED,
                ContractStatus.SIGNED
            )
        );
        settle(NO);
        expectRefused(
            bBusiness.addr,
            address(registry),
            abi.encodeCall(registry.applyBusinessSettlement, (NO)),
            abi.encodeWithSelector(
                IContractRegistry.UnexpectedContractStatus.selector, NO, ContractStatus.SIGNED, ContractStatus.SETTLED
            )
        );
    }

    // ------------------------------------------------------------------ applyForPayment

    function test_apply_reserves_the_amount_and_records_the_account() public {
        settledContract(NO, stages3());
        bytes32 voucherId = voucherIdOf(NO, 1);
        vm.expectEmit(address(registry));
        emit ISettlement.PaymentApplied(voucherId, NO, 1, 250_00, accountHash(0), hex"a11ce0", hex"ba4c", bFinance.addr);
        vm.prank(bFinance.addr);
        assertEq(registry.applyForPayment(NO, 250_00, accountHash(0), hex"a11ce0", hex"ba4c"), voucherId);
        assertEq(unpaidOf(NO), 350_00);
        PaymentEscrow.Voucher memory voucher = escrow.voucherOf(voucherId);
        assertEq(uint8(voucher.status), uint8(VoucherStatus.APPLIED));
        assertEq(voucher.amount, 250_00);
        assertEq(escrow.commitmentOf(voucherId), accountHash(0));
        assertEq(registry.paymentVoucherId(NO, 1), voucherId);
    }

    function test_apply_checks_the_caller() public {
        settledContract(NO, stages1());
        expectCallerChecks(address(registry), applyCall(NO, 1), B, Department.FINANCE, C);
    }

    function test_apply_refuses_an_unknown_or_unsettled_contract() public {
        expectApplicationRefused(1, abi.encodeWithSelector(IContractRegistry.UnknownContract.selector, NO));
        vouchedContract(NO, stages1());
        vm.prank(bBusiness.addr);
        registry.applyBusinessSettlement(NO);
        expectApplicationRefused(
            1,
            abi.encodeWithSelector(
                IContractRegistry.UnexpectedContractStatus.selector,
                NO,
                ContractStatus.SETTLED,
                ContractStatus.SETTLEMENT_REQUESTED
            )
        );
    }

    function test_apply_refuses_amount_zero_and_account_hash_zero() public {
        settledContract(NO, stages1());
        expectApplicationRefused(0, abi.encodeWithSelector(ISettlement.InvalidAmount.selector));
        expectRefused(
            bFinance.addr,
            address(registry),
            abi.encodeCall(registry.applyForPayment, (NO, 1, bytes32(0), "", "")),
            abi.encodeWithSelector(ISettlement.InvalidAccountHash.selector)
        );
    }

    /// @dev The outsider's case: a second application over the total is refused when it is made, not left APPLIED.
    function test_apply_refuses_more_than_is_unpaid_at_application_time() public {
        settledContract(NO, stages1());
        expectApplicationRefused(
            AMOUNT + 1, abi.encodeWithSelector(ISettlement.PaymentExceedsUnpaid.selector, NO, AMOUNT + 1, AMOUNT)
        );
        apply_(NO, 600_00);
        expectApplicationRefused(
            600_00, abi.encodeWithSelector(ISettlement.PaymentExceedsUnpaid.selector, NO, 600_00, 400_00)
        );
        apply_(NO, 400_00);
        expectApplicationRefused(1, abi.encodeWithSelector(ISettlement.PaymentExceedsUnpaid.selector, NO, 1, 0));
    }

    function test_apply_refuses_a_256th_application() public {
        settledContract(NO, stages1());
        for (uint256 i; i < type(uint8).max; ++i) {
            apply_(NO, 1);
        }
        expectApplicationRefused(1, abi.encodeWithSelector(ISettlement.PaymentLimitReached.selector, NO));
    }

    // ------------------------------------------------------------------ withdraw / refuse

    /// @dev The outsider's case: an application the payer refuses, or the payee withdraws, returns its amount to
    /// `unpaid` and can never get a voucher.
    function test_refused_or_withdrawn_application_returns_its_amount_and_cannot_be_issued() public {
        settledContract(NO, stages1());
        (address[2] memory callers, bytes[2] memory calls) = closeCalls(1);
        VoucherStatus[2] memory outcomes = [VoucherStatus.WITHDRAWN, VoucherStatus.REFUSED];
        bytes32[2] memory reasons = [bytes32(0), keccak256("disputed")];
        for (uint256 i; i < calls.length; ++i) {
            uint256 snapshot = vm.snapshotState();
            apply_(NO, AMOUNT);
            assertEq(unpaidOf(NO), 0);
            vm.expectEmit(address(registry));
            emit ISettlement.PaymentApplicationClosed(voucherIdOf(NO, 1), NO, 1, outcomes[i], reasons[i], callers[i]);
            vm.prank(callers[i]);
            (bool ok,) = address(registry).call(calls[i]);
            assertTrue(ok);
            assertEq(unpaidOf(NO), AMOUNT);
            assertEq(uint8(statusOf(NO, 1)), uint8(outcomes[i]));
            assertEq(escrow.commitmentOf(voucherIdOf(NO, 1)), 0);
            expectIssueRefused(
                1,
                voucherTerms(NO, 1, AMOUNT),
                abi.encodeWithSelector(IPaymentEscrow.UnexpectedVoucherStatus.selector, voucherIdOf(NO, 1), outcomes[i])
            );
            for (uint256 j; j < calls.length; ++j) {
                expectRefused(
                    callers[j],
                    address(registry),
                    calls[j],
                    abi.encodeWithSelector(
                        IPaymentEscrow.UnexpectedVoucherStatus.selector, voucherIdOf(NO, 1), outcomes[i]
                    )
                );
            }
            assertEq(apply_(NO, AMOUNT), 2, "the amount can be applied for again");
            vm.revertToState(snapshot);
        }
    }

    function test_withdraw_and_refuse_check_the_caller() public {
        settledContract(NO, stages1());
        apply_(NO, AMOUNT);
        uint256 snapshot = vm.snapshotState();
        expectCallerChecks(address(registry), withdrawCall(1), B, Department.FINANCE, C);
        vm.revertToState(snapshot);
        expectCallerChecks(address(registry), refuseCall(1), A, Department.FINANCE, C);
    }

    function test_withdraw_and_refuse_refuse_unknown_contracts_and_applications() public {
        (address[2] memory callers, bytes[2] memory calls) = closeCalls(1);
        expectBothRefused(
            callers, address(registry), calls, abi.encodeWithSelector(IContractRegistry.UnknownContract.selector, NO)
        );
        settledContract(NO, stages1());
        expectBothRefused(
            callers,
            address(registry),
            calls,
            abi.encodeWithSelector(IPaymentEscrow.UnknownVoucher.selector, voucherIdOf(NO, 1))
        );
    }

    function test_withdraw_and_refuse_refuse_an_issued_voucher() public {
        uint8 seq = frozenPayment(NO);
        (address[2] memory callers, bytes[2] memory calls) = closeCalls(seq);
        expectBothRefused(
            callers,
            address(registry),
            calls,
            abi.encodeWithSelector(
                IPaymentEscrow.UnexpectedVoucherStatus.selector, voucherIdOf(NO, seq), VoucherStatus.FROZEN
            )
        );
    }

    function test_withdraw_and_refuse_are_allowed_while_paused() public {
        settledContract(NO, stages1());
        apply_(NO, 1);
        apply_(NO, 1);
        vm.prank(operator.addr);
        escrow.pause();
        (address[2] memory callers, bytes[2] memory calls) = closeCalls(1);
        calls[1] = refuseCall(2);
        for (uint256 i; i < calls.length; ++i) {
            vm.prank(callers[i]);
            (bool ok,) = address(registry).call(calls[i]);
            assertTrue(ok);
        }
        assertEq(unpaidOf(NO), AMOUNT);
    }

    // ------------------------------------------------------------------ issuePaymentVoucher

    function test_issue_freezes_exactly_the_amount() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, 700_00);
        PaymentVoucherTerms memory t = voucherTerms(NO, seq, 700_00);
        bytes32 voucherId = voucherIdOf(NO, seq);
        vm.expectEmit(address(registry));
        emit ISettlement.PaymentVoucherIssued(
            voucherId, NO, seq, 700_00, t.bankAccountHash, t.keyCommitment, t.expiry, t.keyCiphertext
        );
        vm.prank(aFinance.addr);
        registry.issuePaymentVoucher(NO, seq, t);

        assertEq(token.balanceOf(address(escrow)), 700_00);
        assertEq(token.balanceOf(aTreasury), A_FUNDS - 700_00);
        PaymentEscrow.Voucher memory voucher = escrow.voucherOf(voucherId);
        assertEq(uint8(voucher.status), uint8(VoucherStatus.FROZEN));
        assertEq(voucher.time, t.expiry);
        assertEq(voucher.payee, B);
        assertEq(escrow.commitmentOf(voucherId), t.keyCommitment);
        assertEq(unpaidOf(NO), 300_00);
    }

    function test_issue_checks_the_caller() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        expectCallerChecks(address(registry), issueCall(seq, voucherTerms(NO, seq, AMOUNT)), A, Department.FINANCE, C);
    }

    function test_issue_refuses_an_unknown_contract_or_application() public {
        expectIssueRefused(
            1, voucherTerms(NO, 1, AMOUNT), abi.encodeWithSelector(IContractRegistry.UnknownContract.selector, NO)
        );
        settledContract(NO, stages1());
        expectIssueRefused(
            1,
            voucherTerms(NO, 1, AMOUNT),
            abi.encodeWithSelector(IPaymentEscrow.UnknownVoucher.selector, voucherIdOf(NO, 1))
        );
    }

    function test_issue_refuses_key_commitment_zero() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        PaymentVoucherTerms memory t = voucherTerms(NO, seq, AMOUNT);
        t.keyCommitment = 0;
        expectIssueRefused(seq, t, abi.encodeWithSelector(ISettlement.InvalidPaymentKey.selector));
    }

    /// @dev A key lives at least the escrow's minKeyLifetime and at most MAX_KEY_LIFETIME; any other expiry is refused.
    function testFuzz_issue_expiry_in_and_out_of_range(uint40 expiry, uint40 now_) public {
        now_ = uint40(bound(now_, 1, type(uint40).max - 2 * 366 days));
        vm.warp(now_);
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        PaymentVoucherTerms memory t = voucherTerms(NO, seq, AMOUNT);
        t.expiry = uint40(bound(expiry, 0, uint256(now_) + 2 * escrow.MAX_KEY_LIFETIME()));
        if (t.expiry < now_ + MIN_KEY_LIFETIME || t.expiry > now_ + escrow.MAX_KEY_LIFETIME()) {
            expectIssueRefused(seq, t, abi.encodeWithSelector(IPaymentEscrow.InvalidExpiry.selector, t.expiry));
        } else {
            vm.prank(aFinance.addr);
            registry.issuePaymentVoucher(NO, seq, t);
            assertEq(escrow.voucherOf(voucherIdOf(NO, seq)).time, t.expiry);
        }
    }

    function test_issue_refuses_the_boundaries_of_the_expiry_range() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        PaymentVoucherTerms memory t = voucherTerms(NO, seq, AMOUNT);
        uint40[2] memory invalid =
            [uint40(block.timestamp + MIN_KEY_LIFETIME - 1), uint40(block.timestamp + escrow.MAX_KEY_LIFETIME() + 1)];
        for (uint256 i; i < invalid.length; ++i) {
            t.expiry = invalid[i];
            expectIssueRefused(seq, t, abi.encodeWithSelector(IPaymentEscrow.InvalidExpiry.selector, invalid[i]));
        }
        uint40[2] memory valid =
            [uint40(block.timestamp + MIN_KEY_LIFETIME), uint40(block.timestamp + escrow.MAX_KEY_LIFETIME())];
        for (uint256 i; i < valid.length; ++i) {
            uint256 snapshot = vm.snapshotState();
            t.expiry = valid[i];
            vm.prank(aFinance.addr);
            registry.issuePaymentVoucher(NO, seq, t);
            assertEq(escrow.voucherOf(voucherIdOf(NO, seq)).time, valid[i]);
            vm.revertToState(snapshot);
        }
    }

    /// @dev The voucher must carry the application's amount: any other is refused naming both.
    function testFuzz_issue_refuses_another_amount(uint128 issued) public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, 400_00);
        vm.assume(issued != 400_00);
        expectIssueRefused(
            seq,
            voucherTerms(NO, seq, issued),
            abi.encodeWithSelector(IPaymentEscrow.PaymentAmountMismatch.selector, voucherIdOf(NO, seq), 400_00, issued)
        );
    }

    /// @dev The outsider's case: the payer swaps the account the payee applied with.
    function test_issue_refuses_an_account_swapped_by_the_payer() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        PaymentVoucherTerms memory t = voucherTerms(NO, seq, AMOUNT);
        t.bankAccountHash = keccak256("the payer's choice of account");
        expectIssueRefused(
            seq,
            t,
            abi.encodeWithSelector(
                IPaymentEscrow.PaymentAccountMismatch.selector, voucherIdOf(NO, seq), accountHash(0), t.bankAccountHash
            )
        );
    }

    function test_issue_is_once_per_application() public {
        uint8 seq = frozenPayment(NO);
        expectIssueRefused(
            seq,
            voucherTerms(NO, seq, AMOUNT),
            abi.encodeWithSelector(
                IPaymentEscrow.UnexpectedVoucherStatus.selector, voucherIdOf(NO, seq), VoucherStatus.FROZEN
            )
        );
        assertEq(token.balanceOf(address(escrow)), AMOUNT);
    }

    function test_issue_is_refused_while_the_escrow_is_paused() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        vm.prank(operator.addr);
        escrow.pause();
        expectIssueRefused(seq, voucherTerms(NO, seq, AMOUNT), abi.encodeWithSelector(Pausable.EnforcedPause.selector));
    }

    /// @dev Without allowance or balance nothing is half done: the application stays APPLIED, no funds move.
    function test_issue_without_allowance_or_balance_leaves_the_application_open() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        vm.prank(aTreasury);
        token.approve(address(escrow), AMOUNT - 1);
        expectIssueRefused(
            seq,
            voucherTerms(NO, seq, AMOUNT),
            abi.encodeWithSelector(
                IERC20Errors.ERC20InsufficientAllowance.selector, address(escrow), AMOUNT - 1, AMOUNT
            )
        );
        vm.prank(aTreasury);
        token.approve(address(escrow), type(uint256).max);
        vm.prank(aTreasury);
        token.transfer(outsider, A_FUNDS - 1);
        expectIssueRefused(
            seq,
            voucherTerms(NO, seq, AMOUNT),
            abi.encodeWithSelector(IERC20Errors.ERC20InsufficientBalance.selector, aTreasury, 1, AMOUNT)
        );
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.APPLIED));
        assertEq(token.balanceOf(address(escrow)), 0);
    }

    function test_issue_refuses_a_fee_on_transfer_token() public {
        FeeOnTransferToken feeToken = new FeeOnTransferToken();
        useMockAsset(address(feeToken));
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        expectIssueRefused(
            seq,
            voucherTerms(NO, seq, AMOUNT),
            abi.encodeWithSelector(
                IPaymentEscrow.UnsupportedToken.selector, address(feeToken), AMOUNT, AMOUNT - AMOUNT / 100
            )
        );
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.APPLIED));
    }

    function test_issue_with_a_broken_token_reverts_and_changes_nothing() public {
        SwitchableToken switchable = new SwitchableToken();
        useMockAsset(address(switchable));
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        switchable.setBroken(true);
        expectIssueRefused(
            seq, voucherTerms(NO, seq, AMOUNT), abi.encodeWithSelector(SwitchableToken.TokenBroken.selector)
        );
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.APPLIED));
        assertEq(escrow.commitmentOf(voucherIdOf(NO, seq)), accountHash(0));
        assertEq(switchable.balanceOf(aTreasury), A_FUNDS);
        switchable.setBroken(false);
        issue(NO, seq, AMOUNT);
        assertEq(switchable.balanceOf(address(escrow)), AMOUNT);
    }

    // ------------------------------------------------------------------ fuzzed applications

    /// @dev Random applications against a random total: each is accepted iff non-zero and within what is unpaid;
    /// refused and withdrawn ones give their amount back; `unpaid` always equals the model's.
    function testFuzz_applications_of_random_amounts_against_unpaid(
        uint128 contractTotal,
        uint128[6] memory amounts,
        uint8 closeMask
    ) public {
        contractTotal = uint128(bound(contractTotal, 1, type(uint128).max));
        StageTerms[] memory stages = new StageTerms[](1);
        stages[0] = StageTerms(keccak256("everything"), contractTotal);
        settledContract(NO, stages);
        uint128 unpaid = contractTotal;
        for (uint256 i; i < amounts.length; ++i) {
            uint128 amount = amounts[i] % 3 == 0 ? amounts[i] : uint128(bound(amounts[i], 0, contractTotal));
            if (amount == 0) {
                expectApplicationRefused(amount, abi.encodeWithSelector(ISettlement.InvalidAmount.selector));
            } else if (amount > unpaid) {
                expectApplicationRefused(
                    amount, abi.encodeWithSelector(ISettlement.PaymentExceedsUnpaid.selector, NO, amount, unpaid)
                );
            } else {
                uint8 seq = apply_(NO, amount);
                unpaid -= amount;
                if ((closeMask >> i) & 1 == 1) {
                    (address[2] memory callers, bytes[2] memory calls) = closeCalls(seq);
                    vm.prank(callers[i % 2]);
                    (bool ok,) = address(registry).call(calls[i % 2]);
                    assertTrue(ok);
                    unpaid += amount;
                }
            }
            assertEq(unpaidOf(NO), unpaid);
        }
    }
}
