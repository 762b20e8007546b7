// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {Vm} from "forge-std/Vm.sol";
import {Department, OrgKind, PaymentVoucherTerms, VoucherStatus} from "../../contracts/CollabTypes.sol";
import {PaymentEscrow} from "../../contracts/PaymentEscrow.sol";
import {ICollabErrors} from "../../contracts/interfaces/ICollabErrors.sol";
import {IConsortium} from "../../contracts/interfaces/IConsortium.sol";
import {IPaymentEscrow} from "../../contracts/interfaces/IPaymentEscrow.sol";
import {ERC1271Wallet} from "../../contracts/mocks/ERC1271Wallet.sol";
import {SwitchableToken} from "../../contracts/mocks/SwitchableToken.sol";
import {CollabFixture} from "./CollabFixture.sol";

/**
 * @title PaymentEscrowTest
 * @notice S6–S8.3: redeeming the payment key, assigning it to a third member, release by the institution, reclaim
 * after expiry, joint settlement after the release deadline, the e-invoice, and pause. Every refusal with its
 * arguments; the outsider's cases: suspended beneficiary (at pinning and at release), treasury moved in flight
 * (release pays the pinned one), an operator that never releases (payer and beneficiary settle jointly, both ways),
 * broken tokens (nothing changes); fuzzed expiries, deadlines and release windows.
 */
contract PaymentEscrowTest is CollabFixture {
    bytes32 internal constant NO = "HT-1";
    bytes32 internal constant OTHER_NO = "HT-2";
    bytes32 internal constant INVOICE = keccak256("invoice HT-1/1");

    // ------------------------------------------------------------------ calldata of each step

    function requestCall(uint8 seq) internal view returns (bytes memory) {
        return abi.encodeCall(escrow.requestPayment, (NO, seq, secretOf(NO, seq)));
    }

    function presentCall(uint8 seq) internal view returns (bytes memory) {
        return abi.encodeCall(escrow.presentPaymentKey, (NO, seq, secretOf(NO, seq)));
    }

    /// @dev Confirmation that payment `seq` pays `assignee`, signed by `signer` over (`signedAssignee`, `account`).
    function confirmCall(uint8 seq, uint32 assignee, Vm.Wallet memory signer, uint32 signedAssignee, bytes32 account)
        internal
        view
        returns (bytes memory)
    {
        bytes memory signature = sign(signer, assignmentDigest(voucherIdOf(NO, seq), signedAssignee, account));
        return abi.encodeCall(
            escrow.confirmAssignment, (NO, seq, assignee, accountHash(9), hex"c0ffee", signer.addr, signature)
        );
    }

    /// @dev B's confirmation that payment `seq` pays C, as {confirmAssignmentBy} sends it.
    function confirmCToCall(uint8 seq) internal view returns (bytes memory) {
        return confirmCall(seq, C, bFinance, C, accountHash(9));
    }

    function pinCall(uint8 seq) internal view returns (bytes memory) {
        return abi.encodeCall(escrow.pinBeneficiaryTreasury, (NO, seq));
    }

    function releaseCall(uint8 seq) internal view returns (bytes memory) {
        return abi.encodeCall(escrow.release, (NO, seq));
    }

    function reclaimCall(uint8 seq) internal view returns (bytes memory) {
        return abi.encodeCall(escrow.reclaim, (NO, seq));
    }

    /// @dev Joint settlement of payment `seq` with `cosigner`'s signature of `signedVoucherId` and `signedDirection`.
    function jointCall(
        uint8 seq,
        bool toBeneficiary,
        Vm.Wallet memory cosigner,
        bytes32 signedVoucherId,
        bool signedDirection
    ) internal view returns (bytes memory) {
        bytes memory signature = sign(cosigner, jointSettlementDigest(signedVoucherId, signedDirection));
        return abi.encodeCall(escrow.settleWithoutInstitution, (NO, seq, toBeneficiary, cosigner.addr, signature));
    }

    /// @dev A joint settlement as the payer sends it, with B's signature of what it sends.
    function payerJointCall(uint8 seq, bool toBeneficiary) internal view returns (bytes memory) {
        return jointCall(seq, toBeneficiary, bFinance, voucherIdOf(NO, seq), toBeneficiary);
    }

    function invoiceCall(uint8 seq, bytes32 invoiceHash, Vm.Wallet memory signer, bytes32 signedHash)
        internal
        view
        returns (bytes memory)
    {
        bytes memory signature = sign(signer, invoiceDigest(voucherIdOf(NO, seq), signedHash));
        return abi.encodeCall(escrow.anchorInvoice, (NO, seq, invoiceHash, hex"1badd0c5", signer.addr, signature));
    }

    function pauseEscrow() internal {
        vm.prank(operator.addr);
        escrow.pause();
    }

    function expectEscrowRefusal(address caller, bytes memory data, bytes memory error_) internal {
        expectRefused(caller, address(escrow), data, error_);
    }

    function unknownVoucher(uint8 seq) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IPaymentEscrow.UnknownVoucher.selector, voucherIdOf(NO, seq));
    }

    function unexpectedStatus(uint8 seq, VoucherStatus status) internal pure returns (bytes memory) {
        return abi.encodeWithSelector(IPaymentEscrow.UnexpectedVoucherStatus.selector, voucherIdOf(NO, seq), status);
    }

    /// @dev Moves time to the expiry of payment `seq`'s key and asserts that `caller` sending `data` is refused.
    function expectKeyExpired(address caller, bytes memory data, uint8 seq) internal {
        uint40 expiry = escrow.voucherOf(voucherIdOf(NO, seq)).time;
        vm.warp(expiry);
        expectEscrowRefusal(
            caller,
            data,
            abi.encodeWithSelector(IPaymentEscrow.PaymentKeyExpired.selector, voucherIdOf(NO, seq), expiry)
        );
    }

    /// @dev Asserts that `caller` sending `step` (requestPayment or presentPaymentKey) of payment `seq` with a secret
    /// other than the key's is refused.
    function expectWrongSecret(address caller, bytes4 step, uint8 seq) internal {
        expectEscrowRefusal(
            caller,
            abi.encodeWithSelector(step, NO, seq, bytes32("guess")),
            abi.encodeWithSelector(IPaymentEscrow.WrongSecret.selector, voucherIdOf(NO, seq))
        );
    }

    function send(address caller, bytes memory data) internal {
        vm.prank(caller);
        (bool ok, bytes memory returned) = address(escrow).call(data);
        assertTrue(ok, vm.toString(returned));
    }

    function pinnedTreasury(uint8 seq) internal view returns (address) {
        return address(uint160(uint256(escrow.commitmentOf(voucherIdOf(NO, seq)))));
    }

    function expectSecondVoucher(uint8 seq, uint32 beneficiaryOrg, address beneficiary, address by) internal {
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.SecondVoucher(
            voucherIdOf(NO, seq),
            A,
            B,
            NO,
            seq,
            beneficiaryOrg,
            beneficiary,
            address(token),
            AMOUNT,
            block.timestamp,
            by
        );
    }

    /// @dev The operator releases payment `seq`: the second voucher names `beneficiaryOrg`, `beneficiary` receives
    /// the amount and `notPaid` nothing.
    function releaseAndExpectPaid(uint8 seq, uint32 beneficiaryOrg, address beneficiary, address notPaid) internal {
        expectSecondVoucher(seq, beneficiaryOrg, beneficiary, operator.addr);
        release(NO, seq);
        assertEq(token.balanceOf(beneficiary), AMOUNT);
        assertEq(token.balanceOf(notPaid), 0);
    }

    function expectReclaimed(uint8 seq, address payerTreasury) internal {
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentReclaimed(voucherIdOf(NO, seq), NO, A, seq, payerTreasury, AMOUNT);
    }

    // ------------------------------------------------------------------ constructor

    /// @dev A release window of one hour to 90 days is accepted, any other refused.
    function testFuzz_release_window_range(uint40 window) public {
        bool valid = window >= escrow.MIN_RELEASE_WINDOW() && window <= escrow.MAX_RELEASE_WINDOW();
        if (!valid) vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.InvalidWindow.selector, window));
        PaymentEscrow created = new PaymentEscrow(registry, BANK, window, MIN_KEY_LIFETIME);
        if (valid) assertEq(created.releaseWindow(), window);
    }

    /// @dev A shortest key lifetime of one second to 24 hours is accepted, zero or longer refused.
    function testFuzz_min_key_lifetime_range(uint40 lifetime) public {
        bool valid = lifetime != 0 && lifetime <= 24 * escrow.MIN_RELEASE_WINDOW();
        if (!valid) vm.expectRevert(abi.encodeWithSelector(IPaymentEscrow.InvalidWindow.selector, lifetime));
        PaymentEscrow created = new PaymentEscrow(registry, BANK, RELEASE_WINDOW, lifetime);
        if (valid) assertEq(created.minKeyLifetime(), lifetime);
    }

    function test_the_escrows_digests_are_the_independently_computed_ones() public view {
        bytes32 voucherId = voucherIdOf(NO, 1);
        assertEq(escrow.assignmentDigest(voucherId, C, accountHash(9)), assignmentDigest(voucherId, C, accountHash(9)));
        assertEq(escrow.settlementDigest(voucherId, true), jointSettlementDigest(voucherId, true));
        assertEq(escrow.invoiceDigest(voucherId, INVOICE), invoiceDigest(voucherId, INVOICE));
        assertEq(
            escrow.keyCommitmentFor(voucherId, bytes32("s")),
            keccak256(abi.encode(block.chainid, address(escrow), voucherId, bytes32("s")))
        );
    }

    // ------------------------------------------------------------------ requestPayment

    function test_request_pins_the_payees_treasury() public {
        uint8 seq = frozenPayment(NO);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentRequested(voucherIdOf(NO, seq), NO, B, seq, bTreasury, bFinance.addr);
        redeem(NO, seq);
        PaymentEscrow.Voucher memory voucher = escrow.voucherOf(voucherIdOf(NO, seq));
        assertEq(uint8(voucher.status), uint8(VoucherStatus.REQUESTED));
        assertEq(voucher.beneficiaryOrg, B);
        assertEq(pinnedTreasury(seq), bTreasury);
    }

    function test_request_checks_the_caller() public {
        uint8 seq = frozenPayment(NO);
        expectCallerChecks(address(escrow), requestCall(seq), B, Department.FINANCE, C);
    }

    function test_request_refuses_an_unknown_voucher() public {
        expectEscrowRefusal(bFinance.addr, requestCall(1), unknownVoucher(1));
    }

    /// @dev An application has no payee recorded in the escrow yet: the refusal names org 0 as the party.
    function test_request_of_an_application_is_refused_as_no_payee_is_recorded_yet() public {
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        expectEscrowRefusal(
            bFinance.addr, requestCall(seq), abi.encodeWithSelector(ICollabErrors.WrongParty.selector, bFinance.addr, 0)
        );
    }

    function test_key_is_redeemable_once() public {
        uint8 seq = requestedPayment(NO);
        expectEscrowRefusal(bFinance.addr, requestCall(seq), unexpectedStatus(seq, VoucherStatus.REQUESTED));
        release(NO, seq);
        expectEscrowRefusal(bFinance.addr, requestCall(seq), unexpectedStatus(seq, VoucherStatus.RELEASED));
    }

    function test_request_refuses_a_wrong_secret() public {
        uint8 seq = frozenPayment(NO);
        expectWrongSecret(bFinance.addr, escrow.requestPayment.selector, seq);
    }

    function testFuzz_request_refuses_any_other_secret(bytes32 secret) public {
        uint8 seq = frozenPayment(NO);
        vm.assume(secret != secretOf(NO, seq));
        expectEscrowRefusal(
            bFinance.addr,
            abi.encodeCall(escrow.requestPayment, (NO, seq, secret)),
            abi.encodeWithSelector(IPaymentEscrow.WrongSecret.selector, voucherIdOf(NO, seq))
        );
    }

    function test_payee_overrides_a_presentation() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        redeem(NO, seq);
        assertEq(escrow.voucherOf(voucherIdOf(NO, seq)).beneficiaryOrg, B);
        assertEq(pinnedTreasury(seq), bTreasury);
        expectEscrowRefusal(cFinance.addr, confirmCToCall(seq), unexpectedStatus(seq, VoucherStatus.REQUESTED));
    }

    /// @dev Around the key's expiry: before it the payee redeems and the payer cannot reclaim; from it on the
    /// payee cannot redeem and the payer reclaims.
    function testFuzz_redeem_and_reclaim_around_expiry(uint40 lifetime, uint40 elapsed) public {
        lifetime = uint40(bound(lifetime, MIN_KEY_LIFETIME, escrow.MAX_KEY_LIFETIME()));
        elapsed = uint40(bound(elapsed, 0, uint256(lifetime) * 2));
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        PaymentVoucherTerms memory t = voucherTerms(NO, seq, AMOUNT);
        t.expiry = uint40(block.timestamp) + lifetime;
        vm.prank(aFinance.addr);
        registry.issuePaymentVoucher(NO, seq, t);
        bytes32 voucherId = voucherIdOf(NO, seq);
        vm.warp(block.timestamp + elapsed);
        if (block.timestamp < t.expiry) {
            expectEscrowRefusal(
                aFinance.addr,
                reclaimCall(seq),
                abi.encodeWithSelector(IPaymentEscrow.PaymentKeyNotExpired.selector, voucherId, t.expiry)
            );
            redeem(NO, seq);
        } else {
            expectEscrowRefusal(
                bFinance.addr,
                requestCall(seq),
                abi.encodeWithSelector(IPaymentEscrow.PaymentKeyExpired.selector, voucherId, t.expiry)
            );
            reclaim(NO, seq);
            assertEq(unpaidOf(NO), AMOUNT);
        }
    }

    function test_request_is_refused_from_the_expiry_on() public {
        uint8 seq = frozenPayment(NO);
        expectKeyExpired(bFinance.addr, requestCall(seq), seq);
    }

    // ------------------------------------------------------------------ presentPaymentKey

    function test_present_records_the_presenter() public {
        uint8 seq = frozenPayment(NO);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.PaymentKeyPresented(voucherIdOf(NO, seq), NO, C, seq, cFinance.addr);
        present(NO, seq);
        PaymentEscrow.Voucher memory voucher = escrow.voucherOf(voucherIdOf(NO, seq));
        assertEq(uint8(voucher.status), uint8(VoucherStatus.PRESENTED));
        assertEq(voucher.beneficiaryOrg, C);
    }

    function test_present_refuses_non_members_other_departments_and_suspended_orgs() public {
        uint8 seq = frozenPayment(NO);
        bytes memory data = presentCall(seq);
        expectEscrowRefusal(outsider, data, abi.encodeWithSelector(IConsortium.NotAMember.selector, outsider));
        expectEscrowRefusal(
            cBusiness.addr,
            data,
            abi.encodeWithSelector(
                IConsortium.WrongDepartment.selector, cBusiness.addr, Department.FINANCE, Department.BUSINESS
            )
        );
        suspend(C);
        expectEscrowRefusal(cFinance.addr, data, abi.encodeWithSelector(IConsortium.OrgSuspended.selector, C));
    }

    function test_present_by_the_payer_or_the_payee_is_refused() public {
        uint8 seq = frozenPayment(NO);
        expectEscrowRefusal(
            aFinance.addr, presentCall(seq), abi.encodeWithSelector(IPaymentEscrow.InvalidAssignee.selector, A)
        );
        expectEscrowRefusal(
            bFinance.addr, presentCall(seq), abi.encodeWithSelector(IPaymentEscrow.InvalidAssignee.selector, B)
        );
    }

    function test_present_refuses_an_unknown_voucher_and_statuses_other_than_FROZEN() public {
        expectEscrowRefusal(cFinance.addr, presentCall(1), unknownVoucher(1));
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        expectEscrowRefusal(cFinance.addr, presentCall(seq), unexpectedStatus(seq, VoucherStatus.APPLIED));
        issue(NO, seq, AMOUNT);
        present(NO, seq);
        expectEscrowRefusal(cFinance.addr, presentCall(seq), unexpectedStatus(seq, VoucherStatus.PRESENTED));
        redeem(NO, seq);
        expectEscrowRefusal(cFinance.addr, presentCall(seq), unexpectedStatus(seq, VoucherStatus.REQUESTED));
    }

    function test_present_refuses_an_expired_key_or_a_wrong_secret() public {
        uint8 seq = frozenPayment(NO);
        expectWrongSecret(cFinance.addr, escrow.presentPaymentKey.selector, seq);
        expectKeyExpired(cFinance.addr, presentCall(seq), seq);
    }

    // ------------------------------------------------------------------ confirmAssignment

    function test_confirmed_assignment_pays_the_assignee() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        bytes32 voucherId = voucherIdOf(NO, seq);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.AssignmentConfirmed(
            voucherId, NO, C, seq, cTreasury, accountHash(9), hex"c0ffee", bFinance.addr
        );
        confirmAssignmentBy(bFinance.addr, NO, seq);
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.REQUESTED));
        assertEq(pinnedTreasury(seq), cTreasury);

        releaseAndExpectPaid(seq, C, cTreasury, bTreasury);
    }

    function test_the_assignee_may_send_the_payees_confirmation() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        confirmAssignmentBy(cFinance.addr, NO, seq);
        assertEq(pinnedTreasury(seq), cTreasury);
    }

    /// @dev The stranger is A: C, the presenter, may send the confirmation too.
    function test_confirmAssignment_checks_the_caller() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        expectCallerChecks(address(escrow), confirmCToCall(seq), B, Department.FINANCE, A);
    }

    /// @dev The payee may assign a key nobody presented: FROZEN moves to REQUESTED for the assignee.
    function test_confirmAssignment_of_a_key_not_presented() public {
        uint8 seq = frozenPayment(NO);
        confirmAssignmentBy(bFinance.addr, NO, seq);
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.REQUESTED));
        assertEq(escrow.voucherOf(voucherIdOf(NO, seq)).beneficiaryOrg, C);
        assertEq(pinnedTreasury(seq), cTreasury);
    }

    /// @dev The payee's signature overrides a presentation by another org: D presented, C is paid.
    function test_confirmAssignment_overrides_a_presentation_by_another_org() public {
        uint32 d = 4;
        address dTreasury = makeAddr("treasury D");
        Vm.Wallet memory dFinance = vm.createWallet("D finance");
        registry.registerOrg(d, "Party D", OrgKind.ENTERPRISE, dTreasury, ENCRYPTION_KEY);
        registry.bindAccount(dFinance.addr, d, Department.FINANCE);
        uint8 seq = frozenPayment(NO);
        vm.prank(dFinance.addr);
        escrow.presentPaymentKey(NO, seq, secretOf(NO, seq));
        assertEq(escrow.voucherOf(voucherIdOf(NO, seq)).beneficiaryOrg, d);
        confirmAssignmentBy(bFinance.addr, NO, seq);
        assertEq(escrow.voucherOf(voucherIdOf(NO, seq)).beneficiaryOrg, C);
        assertEq(pinnedTreasury(seq), cTreasury);
    }

    function test_confirmAssignment_refuses_an_unknown_voucher_and_statuses_other_than_FROZEN_or_PRESENTED() public {
        expectEscrowRefusal(bFinance.addr, confirmCToCall(1), unknownVoucher(1));
        settledContract(NO, stages1());
        uint8 seq = apply_(NO, AMOUNT);
        expectEscrowRefusal(
            bFinance.addr,
            confirmCToCall(seq),
            abi.encodeWithSelector(ICollabErrors.WrongParty.selector, bFinance.addr, 0)
        );
        issue(NO, seq, AMOUNT);
        redeem(NO, seq);
        expectEscrowRefusal(bFinance.addr, confirmCToCall(seq), unexpectedStatus(seq, VoucherStatus.REQUESTED));
    }

    function test_confirmAssignment_refuses_after_expiry() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        expectKeyExpired(bFinance.addr, confirmCToCall(seq), seq);
    }

    /// @dev The payer and the payee are no assignees; an unregistered org or a payment institution has no
    /// enterprise treasury to pin.
    function test_confirmAssignment_refuses_the_payer_the_payee_or_a_non_enterprise() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        uint32[4] memory others = [A, B, 77, OTHER_BANK];
        bytes[4] memory errors = [
            abi.encodeWithSelector(IPaymentEscrow.InvalidAssignee.selector, A),
            abi.encodeWithSelector(IPaymentEscrow.InvalidAssignee.selector, B),
            abi.encodeWithSelector(IConsortium.UnknownOrg.selector, 77),
            abi.encodeWithSelector(IConsortium.UnknownOrg.selector, OTHER_BANK)
        ];
        for (uint256 i; i < others.length; ++i) {
            expectEscrowRefusal(
                bFinance.addr, confirmCall(seq, others[i], bFinance, others[i], accountHash(9)), errors[i]
            );
        }
    }

    function test_confirmAssignment_refuses_a_signer_not_of_the_payees_finance() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        Vm.Wallet[3] memory signers = [cFinance, bBusiness, aFinance];
        for (uint256 i; i < signers.length; ++i) {
            expectEscrowRefusal(
                bFinance.addr,
                confirmCall(seq, C, signers[i], C, accountHash(9)),
                abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, signers[i].addr, B)
            );
        }
    }

    /// @dev B's signature names another assignee or account, or is for another voucher: it does not confirm this.
    function test_confirmAssignment_refuses_a_signature_over_something_else() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        bytes memory otherVoucher = sign(bFinance, assignmentDigest(voucherIdOf(OTHER_NO, seq), C, accountHash(9)));
        bytes[3] memory data = [
            confirmCall(seq, C, bFinance, A, accountHash(9)),
            confirmCall(seq, C, bFinance, C, accountHash(8)),
            abi.encodeCall(escrow.confirmAssignment, (NO, seq, C, accountHash(9), "", bFinance.addr, otherVoucher))
        ];
        for (uint256 i; i < data.length; ++i) {
            expectInvalidSignature(bFinance.addr, address(escrow), data[i], bFinance.addr);
        }
    }

    function test_confirmAssignment_refuses_a_signature_made_for_another_escrow() public {
        bytes memory data = confirmCToCall(1);
        switchToSecondDeployment();
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        expectInvalidSignature(bFinance.addr, address(escrow), data, bFinance.addr);
    }

    /// @dev The outsider's case: the treasury of a suspended assignee is not pinned.
    function test_confirmAssignment_refuses_a_suspended_assignee() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        suspend(C);
        expectEscrowRefusal(
            bFinance.addr, confirmCToCall(seq), abi.encodeWithSelector(IConsortium.OrgSuspended.selector, C)
        );
    }

    function test_confirmAssignment_accepts_an_ERC1271_signer() public {
        Vm.Wallet memory owner = vm.createWallet("B finance multisig owner");
        ERC1271Wallet wallet = new ERC1271Wallet(owner.addr);
        registry.bindAccount(address(wallet), B, Department.FINANCE);
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        bytes memory signature = sign(owner, assignmentDigest(voucherIdOf(NO, seq), C, accountHash(9)));
        send(
            cFinance.addr,
            abi.encodeCall(escrow.confirmAssignment, (NO, seq, C, accountHash(9), "", address(wallet), signature))
        );
        assertEq(pinnedTreasury(seq), cTreasury);
    }

    // ------------------------------------------------------------------ release

    function test_release_pays_the_pinned_treasury_and_emits_the_second_voucher() public {
        uint8 seq = requestedPayment(NO);
        expectSecondVoucher(seq, B, bTreasury, operator.addr);
        release(NO, seq);
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.RELEASED));
        assertEq(token.balanceOf(bTreasury), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 0);
        assertEq(escrow.commitmentOf(voucherIdOf(NO, seq)), 0);
        assertEq(unpaidOf(NO), 0, "a paid amount stays out of unpaid");
    }

    function test_release_is_for_the_institutions_operators() public {
        uint8 seq = requestedPayment(NO);
        expectCallerChecks(address(escrow), releaseCall(seq), BANK, Department.OPERATOR, OTHER_BANK);
    }

    function test_release_refuses_unknown_unrequested_and_released_vouchers() public {
        expectEscrowRefusal(operator.addr, releaseCall(1), unknownVoucher(1));
        uint8 seq = frozenPayment(NO);
        expectEscrowRefusal(operator.addr, releaseCall(seq), unexpectedStatus(seq, VoucherStatus.FROZEN));
        present(NO, seq);
        expectEscrowRefusal(operator.addr, releaseCall(seq), unexpectedStatus(seq, VoucherStatus.PRESENTED));
        redeem(NO, seq);
        release(NO, seq);
        expectEscrowRefusal(operator.addr, releaseCall(seq), unexpectedStatus(seq, VoucherStatus.RELEASED));
    }

    /// @dev The outsider's case: the institution cannot pay a beneficiary suspended after it was pinned, whether the
    /// payee or an assignee; reinstated, it can.
    function test_release_refuses_a_suspended_beneficiary() public {
        uint8 seq = requestedPayment(NO);
        suspend(B);
        expectEscrowRefusal(
            operator.addr, releaseCall(seq), abi.encodeWithSelector(IConsortium.OrgSuspended.selector, B)
        );
        reinstate(B);
        release(NO, seq);

        uint8 assigned = frozenPayment(OTHER_NO);
        vm.prank(cFinance.addr);
        escrow.presentPaymentKey(OTHER_NO, assigned, secretOf(OTHER_NO, assigned));
        bytes memory signature = sign(bFinance, assignmentDigest(voucherIdOf(OTHER_NO, assigned), C, accountHash(9)));
        send(
            bFinance.addr,
            abi.encodeCall(
                escrow.confirmAssignment, (OTHER_NO, assigned, C, accountHash(9), "", bFinance.addr, signature)
            )
        );
        suspend(C);
        expectEscrowRefusal(
            operator.addr,
            abi.encodeCall(escrow.release, (OTHER_NO, assigned)),
            abi.encodeWithSelector(IConsortium.OrgSuspended.selector, C)
        );
    }

    /// @dev The outsider's case: governance moves B's treasury after the request; the release pays the treasury
    /// pinned at request time.
    function test_release_pays_the_treasury_pinned_at_request_even_after_governance_moves_it() public {
        uint8 seq = requestedPayment(NO);
        address moved = makeAddr("B's new treasury");
        registry.setTreasury(B, moved);
        releaseAndExpectPaid(seq, B, bTreasury, moved);
    }

    function test_release_with_a_broken_token_reverts_and_changes_nothing() public {
        SwitchableToken switchable = new SwitchableToken();
        useMockAsset(address(switchable));
        uint8 seq = requestedPayment(NO);
        switchable.setBroken(true);
        expectEscrowRefusal(
            operator.addr, releaseCall(seq), abi.encodeWithSelector(SwitchableToken.TokenBroken.selector)
        );
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.REQUESTED));
        assertEq(pinnedTreasury(seq), bTreasury);
        assertEq(switchable.balanceOf(address(escrow)), AMOUNT);
        switchable.setBroken(false);
        release(NO, seq);
        assertEq(switchable.balanceOf(bTreasury), AMOUNT);
    }

    // ------------------------------------------------------------------ reclaim

    function test_reclaim_after_expiry_returns_the_funds_and_the_unpaid_amount() public {
        uint8 seq = frozenPayment(NO);
        vm.warp(escrow.voucherOf(voucherIdOf(NO, seq)).time);
        expectReclaimed(seq, aTreasury);
        reclaim(NO, seq);
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.RECLAIMED));
        assertEq(token.balanceOf(aTreasury), A_FUNDS);
        assertEq(unpaidOf(NO), AMOUNT);
        assertEq(escrow.commitmentOf(voucherIdOf(NO, seq)), 0);
        expectEscrowRefusal(aFinance.addr, reclaimCall(seq), unexpectedStatus(seq, VoucherStatus.RECLAIMED));
    }

    function test_reclaim_of_a_presented_key_after_expiry() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        vm.warp(escrow.voucherOf(voucherIdOf(NO, seq)).time);
        reclaim(NO, seq);
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.RECLAIMED));
    }

    function test_reclaim_checks_the_caller() public {
        uint8 seq = frozenPayment(NO);
        vm.warp(escrow.voucherOf(voucherIdOf(NO, seq)).time);
        expectCallerChecks(address(escrow), reclaimCall(seq), A, Department.FINANCE, B);
    }

    function test_reclaim_is_refused_before_expiry() public {
        uint8 seq = frozenPayment(NO);
        uint40 expiry = escrow.voucherOf(voucherIdOf(NO, seq)).time;
        vm.warp(expiry - 1);
        expectEscrowRefusal(
            aFinance.addr,
            reclaimCall(seq),
            abi.encodeWithSelector(IPaymentEscrow.PaymentKeyNotExpired.selector, voucherIdOf(NO, seq), expiry)
        );
    }

    function test_reclaim_is_refused_after_a_request_or_for_an_application() public {
        uint8 seq = requestedPayment(NO);
        vm.warp(escrow.releaseDeadlineOf(voucherIdOf(NO, seq)));
        expectEscrowRefusal(aFinance.addr, reclaimCall(seq), unexpectedStatus(seq, VoucherStatus.REQUESTED));
        settledContract(OTHER_NO, stages1());
        uint8 applied = apply_(OTHER_NO, AMOUNT);
        expectEscrowRefusal(
            aFinance.addr,
            abi.encodeCall(escrow.reclaim, (OTHER_NO, applied)),
            abi.encodeWithSelector(
                IPaymentEscrow.UnexpectedVoucherStatus.selector, voucherIdOf(OTHER_NO, applied), VoucherStatus.APPLIED
            )
        );
    }

    function test_reclaim_goes_to_the_payers_treasury_of_the_time() public {
        uint8 seq = frozenPayment(NO);
        address moved = makeAddr("A's new treasury");
        registry.setTreasury(A, moved);
        vm.warp(escrow.voucherOf(voucherIdOf(NO, seq)).time);
        expectReclaimed(seq, moved);
        reclaim(NO, seq);
        assertEq(token.balanceOf(moved), AMOUNT);
    }

    function test_reclaim_with_a_broken_token_reverts_and_changes_nothing() public {
        SwitchableToken switchable = new SwitchableToken();
        useMockAsset(address(switchable));
        uint8 seq = frozenPayment(NO);
        vm.warp(escrow.voucherOf(voucherIdOf(NO, seq)).time);
        switchable.setBroken(true);
        expectEscrowRefusal(
            aFinance.addr, reclaimCall(seq), abi.encodeWithSelector(SwitchableToken.TokenBroken.selector)
        );
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.FROZEN));
        assertEq(unpaidOf(NO), 0);
        assertEq(switchable.balanceOf(address(escrow)), AMOUNT);
    }

    // ------------------------------------------------------------------ settleWithoutInstitution: no release

    /// @dev The outsider's case, both ways and from both sides: after the release deadline the payer (with B's
    /// signature) or B (with the payer's) pays B's pinned treasury or returns the funds to the payer.
    function test_joint_settlement_after_the_deadline_in_both_directions() public {
        uint8 seq = requestedPayment(NO);
        warpToReleaseDeadline(NO, seq);
        bytes32 voucherId = voucherIdOf(NO, seq);
        Vm.Wallet[2] memory callers = [aFinance, bFinance];
        Vm.Wallet[2] memory cosigners = [bFinance, aFinance];
        for (uint256 i; i < 2; ++i) {
            for (uint256 direction; direction < 2; ++direction) {
                bool toBeneficiary = direction == 0;
                uint256 snapshot = vm.snapshotState();
                vm.expectEmit(address(escrow));
                emit IPaymentEscrow.SettledWithoutInstitution(
                    voucherId, NO, seq, toBeneficiary, callers[i].addr, cosigners[i].addr
                );
                if (toBeneficiary) expectSecondVoucher(seq, B, bTreasury, callers[i].addr);
                else expectReclaimed(seq, aTreasury);
                settleJointly(callers[i].addr, cosigners[i], NO, seq, toBeneficiary);

                assertEq(
                    uint8(statusOf(NO, seq)), uint8(toBeneficiary ? VoucherStatus.RELEASED : VoucherStatus.RECLAIMED)
                );
                assertEq(token.balanceOf(bTreasury), toBeneficiary ? AMOUNT : 0);
                assertEq(token.balanceOf(aTreasury), toBeneficiary ? A_FUNDS - AMOUNT : A_FUNDS);
                assertEq(unpaidOf(NO), toBeneficiary ? 0 : AMOUNT);
                vm.revertToState(snapshot);
            }
        }
    }

    function test_joint_settlement_is_refused_before_the_deadline() public {
        uint8 seq = requestedPayment(NO);
        uint256 deadline = escrow.releaseDeadlineOf(voucherIdOf(NO, seq));
        assertEq(deadline, escrow.voucherOf(voucherIdOf(NO, seq)).time + RELEASE_WINDOW);
        vm.warp(deadline - 1);
        expectEscrowRefusal(
            aFinance.addr,
            payerJointCall(seq, true),
            abi.encodeWithSelector(IPaymentEscrow.ReleaseDeadlineNotReached.selector, voucherIdOf(NO, seq), deadline)
        );
    }

    /// @dev Around the deadline: refused before it, either way settles from it on.
    function testFuzz_joint_settlement_around_the_deadline(uint256 elapsed, bool toBeneficiary, bool payerCalls)
        public
    {
        uint8 seq = requestedPayment(NO);
        bytes32 voucherId = voucherIdOf(NO, seq);
        uint256 deadline = escrow.releaseDeadlineOf(voucherId);
        vm.warp(bound(elapsed, block.timestamp, deadline + 30 days));
        (Vm.Wallet memory caller, Vm.Wallet memory cosigner) = payerCalls ? (aFinance, bFinance) : (bFinance, aFinance);
        bytes memory data = jointCall(seq, toBeneficiary, cosigner, voucherId, toBeneficiary);
        if (block.timestamp < deadline) {
            expectEscrowRefusal(
                caller.addr,
                data,
                abi.encodeWithSelector(IPaymentEscrow.ReleaseDeadlineNotReached.selector, voucherId, deadline)
            );
        } else {
            send(caller.addr, data);
            assertEq(token.balanceOf(bTreasury), toBeneficiary ? AMOUNT : 0);
        }
    }

    function test_joint_settlement_checks_the_caller() public {
        uint8 seq = requestedPayment(NO);
        warpToReleaseDeadline(NO, seq);
        expectCallerChecks(address(escrow), payerJointCall(seq, true), A, Department.FINANCE, C);
    }

    function test_joint_settlement_refuses_a_payment_not_requested_or_already_settled() public {
        uint8 seq = frozenPayment(NO);
        assertEq(escrow.releaseDeadlineOf(voucherIdOf(NO, seq)), 0, "no deadline before a request");
        expectEscrowRefusal(aFinance.addr, payerJointCall(seq, true), unexpectedStatus(seq, VoucherStatus.FROZEN));
        expectEscrowRefusal(
            aFinance.addr,
            abi.encodeCall(escrow.settleWithoutInstitution, (NO, 2, true, bFinance.addr, "")),
            unknownVoucher(2)
        );
        uint8 requested = requestedPayment(OTHER_NO);
        warpToReleaseDeadline(OTHER_NO, requested);
        vm.prank(operator.addr);
        escrow.release(OTHER_NO, requested);
        bytes memory signature = sign(bFinance, jointSettlementDigest(voucherIdOf(OTHER_NO, requested), false));
        expectEscrowRefusal(
            aFinance.addr,
            abi.encodeCall(escrow.settleWithoutInstitution, (OTHER_NO, requested, false, bFinance.addr, signature)),
            abi.encodeWithSelector(
                IPaymentEscrow.UnexpectedVoucherStatus.selector,
                voucherIdOf(OTHER_NO, requested),
                VoucherStatus.RELEASED
            )
        );
    }

    /// @dev The cosigner must be the other party's finance: the caller's own org, a third org or another department.
    function test_joint_settlement_refuses_a_signature_by_the_wrong_party() public {
        uint8 seq = requestedPayment(NO);
        warpToReleaseDeadline(NO, seq);
        bytes32 voucherId = voucherIdOf(NO, seq);
        Vm.Wallet[3] memory wrongForPayer = [aFinance, cFinance, bBusiness];
        for (uint256 i; i < wrongForPayer.length; ++i) {
            expectEscrowRefusal(
                aFinance.addr,
                jointCall(seq, true, wrongForPayer[i], voucherId, true),
                abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, wrongForPayer[i].addr, B)
            );
        }
        expectEscrowRefusal(
            bFinance.addr,
            jointCall(seq, false, bFinance, voucherId, false),
            abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, bFinance.addr, A)
        );
    }

    /// @dev The other party's signature of the other direction or of another voucher is not consent to this one.
    function test_joint_settlement_refuses_a_signature_over_something_else() public {
        uint8 seq = requestedPayment(NO);
        warpToReleaseDeadline(NO, seq);
        bytes[2] memory data = [
            jointCall(seq, true, bFinance, voucherIdOf(NO, seq), false),
            jointCall(seq, true, bFinance, voucherIdOf(OTHER_NO, seq), true)
        ];
        for (uint256 i; i < data.length; ++i) {
            expectInvalidSignature(aFinance.addr, address(escrow), data[i], bFinance.addr);
        }
    }

    function test_joint_settlement_refuses_a_signature_made_for_another_escrow() public {
        bytes memory data = payerJointCall(1, true);
        switchToSecondDeployment();
        uint8 seq = requestedPayment(NO);
        warpToReleaseDeadline(NO, seq);
        expectInvalidSignature(aFinance.addr, address(escrow), data, bFinance.addr);
    }

    function test_joint_settlement_with_an_assignee_needs_the_assignees_signature() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        confirmAssignmentBy(bFinance.addr, NO, seq);
        warpToReleaseDeadline(NO, seq);
        expectEscrowRefusal(
            aFinance.addr,
            payerJointCall(seq, true),
            abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, bFinance.addr, C)
        );
        expectEscrowRefusal(
            bFinance.addr,
            jointCall(seq, true, aFinance, voucherIdOf(NO, seq), true),
            abi.encodeWithSelector(ICollabErrors.WrongParty.selector, bFinance.addr, A)
        );
        settleJointly(cFinance.addr, aFinance, NO, seq, true);
        assertEq(token.balanceOf(cTreasury), AMOUNT);
    }

    function test_joint_settlement_is_allowed_while_paused() public {
        uint8 seq = requestedPayment(NO);
        pauseEscrow();
        warpToReleaseDeadline(NO, seq);
        settleJointly(aFinance.addr, bFinance, NO, seq, false);
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.RECLAIMED));
    }

    /// @dev A requested payment past its deadline with `suspendedOrg` suspended: `caller`, of the other party, is
    /// refused settling alone against its own favour (`ownFavour` is the direction it may take).
    function requestedWithOrgSuspended(uint32 suspendedOrg, address caller, bool ownFavour)
        internal
        returns (uint8 seq, bytes32 voucherId)
    {
        seq = requestedPayment(NO);
        voucherId = voucherIdOf(NO, seq);
        warpToReleaseDeadline(NO, seq);
        suspend(suspendedOrg);
        expectEscrowRefusal(
            caller,
            abi.encodeCall(escrow.settleWithoutInstitution, (NO, seq, !ownFavour, address(0), "")),
            abi.encodeWithSelector(IPaymentEscrow.SettlementDirectionRefused.selector, voucherId, !ownFavour)
        );
    }

    /// @dev The outsider's case: with the beneficiary suspended the institution cannot release, but after the
    /// deadline the payer settles alone, in its own favour only (no cosigner: the suspended org cannot sign).
    function test_with_the_beneficiary_suspended_the_payer_alone_takes_the_funds_back() public {
        (uint8 seq, bytes32 voucherId) = requestedWithOrgSuspended(B, aFinance.addr, false);
        expectEscrowRefusal(
            operator.addr, releaseCall(seq), abi.encodeWithSelector(IConsortium.OrgSuspended.selector, B)
        );
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.SettledWithoutInstitution(voucherId, NO, seq, false, aFinance.addr, address(0));
        expectReclaimed(seq, aTreasury);
        send(aFinance.addr, abi.encodeCall(escrow.settleWithoutInstitution, (NO, seq, false, bFinance.addr, hex"00")));
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.RECLAIMED));
        assertEq(token.balanceOf(aTreasury), A_FUNDS);
        assertEq(unpaidOf(NO), AMOUNT);
    }

    /// @dev The outsider's case: with the payer suspended the beneficiary settles alone, to its pinned treasury only.
    function test_with_the_payer_suspended_the_beneficiary_alone_is_paid() public {
        (uint8 seq, bytes32 voucherId) = requestedWithOrgSuspended(A, bFinance.addr, true);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.SettledWithoutInstitution(voucherId, NO, seq, true, bFinance.addr, address(0));
        expectSecondVoucher(seq, B, bTreasury, bFinance.addr);
        send(bFinance.addr, abi.encodeCall(escrow.settleWithoutInstitution, (NO, seq, true, address(0), "")));
        assertEq(token.balanceOf(bTreasury), AMOUNT);
    }

    /// @dev Before the deadline a suspension opens nothing: the party alone is refused as anyone else.
    function test_settling_alone_is_refused_before_the_deadline() public {
        uint8 seq = requestedPayment(NO);
        bytes32 voucherId = voucherIdOf(NO, seq);
        uint256 deadline = escrow.releaseDeadlineOf(voucherId);
        suspend(B);
        vm.warp(deadline - 1);
        expectEscrowRefusal(
            aFinance.addr,
            abi.encodeCall(escrow.settleWithoutInstitution, (NO, seq, false, address(0), "")),
            abi.encodeWithSelector(IPaymentEscrow.ReleaseDeadlineNotReached.selector, voucherId, deadline)
        );
    }

    function test_joint_settlement_with_a_broken_token_reverts_and_changes_nothing() public {
        SwitchableToken switchable = new SwitchableToken();
        useMockAsset(address(switchable));
        uint8 seq = requestedPayment(NO);
        warpToReleaseDeadline(NO, seq);
        switchable.setBroken(true);
        for (uint256 direction; direction < 2; ++direction) {
            expectEscrowRefusal(
                aFinance.addr,
                payerJointCall(seq, direction == 0),
                abi.encodeWithSelector(SwitchableToken.TokenBroken.selector)
            );
        }
        assertEq(uint8(statusOf(NO, seq)), uint8(VoucherStatus.REQUESTED));
        assertEq(switchable.balanceOf(address(escrow)), AMOUNT);
    }

    // ------------------------------------------------------------------ anchorInvoice

    function test_anchorInvoice_records_the_invoice_of_a_paid_payment() public {
        uint8 seq = requestedPayment(NO);
        release(NO, seq);
        bytes memory signature = sign(bFinance, invoiceDigest(voucherIdOf(NO, seq), INVOICE));
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.InvoiceAnchored(
            voucherIdOf(NO, seq), NO, B, seq, INVOICE, hex"1badd0c5", bFinance.addr, signature
        );
        send(bFinance.addr, invoiceCall(seq, INVOICE, bFinance, INVOICE));
        assertEq(escrow.invoiceOf(voucherIdOf(NO, seq)), INVOICE);
        expectEscrowRefusal(
            bFinance.addr,
            invoiceCall(seq, keccak256("second invoice"), bFinance, keccak256("second invoice")),
            abi.encodeWithSelector(IPaymentEscrow.InvoiceAlreadyAnchored.selector, voucherIdOf(NO, seq), INVOICE)
        );
    }

    /// @dev The payee is B even when C was paid (S8.3: the invoice is for what B delivered).
    function test_anchorInvoice_checks_the_caller_even_for_an_assigned_payment() public {
        uint8 seq = frozenPayment(NO);
        present(NO, seq);
        confirmAssignmentBy(bFinance.addr, NO, seq);
        release(NO, seq);
        expectCallerChecks(address(escrow), invoiceCall(seq, INVOICE, bFinance, INVOICE), B, Department.FINANCE, C);
    }

    function test_anchorInvoice_refuses_a_payment_not_released() public {
        uint8 seq = requestedPayment(NO);
        bytes memory data = invoiceCall(seq, INVOICE, bFinance, INVOICE);
        expectEscrowRefusal(bFinance.addr, data, unexpectedStatus(seq, VoucherStatus.REQUESTED));
        warpToReleaseDeadline(NO, seq);
        settleJointly(aFinance.addr, bFinance, NO, seq, false);
        expectEscrowRefusal(bFinance.addr, data, unexpectedStatus(seq, VoucherStatus.RECLAIMED));
        expectEscrowRefusal(
            bFinance.addr,
            abi.encodeCall(escrow.anchorInvoice, (NO, 9, INVOICE, "", bFinance.addr, "")),
            unknownVoucher(9)
        );
    }

    function test_anchorInvoice_refuses_hash_zero_and_foreign_or_mismatched_signatures() public {
        uint8 seq = requestedPayment(NO);
        release(NO, seq);
        expectEscrowRefusal(
            bFinance.addr,
            invoiceCall(seq, 0, bFinance, 0),
            abi.encodeWithSelector(IPaymentEscrow.InvalidInvoiceHash.selector)
        );
        expectEscrowRefusal(
            bFinance.addr,
            invoiceCall(seq, INVOICE, aFinance, INVOICE),
            abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, aFinance.addr, B)
        );
        expectInvalidSignature(
            bFinance.addr,
            address(escrow),
            invoiceCall(seq, INVOICE, bFinance, keccak256("another invoice")),
            bFinance.addr
        );
    }

    function test_anchorInvoice_is_allowed_while_paused() public {
        uint8 seq = requestedPayment(NO);
        release(NO, seq);
        pauseEscrow();
        send(bFinance.addr, invoiceCall(seq, INVOICE, bFinance, INVOICE));
        assertEq(escrow.invoiceOf(voucherIdOf(NO, seq)), INVOICE);
    }

    // ------------------------------------------------------------------ pause

    function test_pause_and_unpause_by_an_operator() public {
        vm.expectEmit(address(escrow));
        emit Pausable.Paused(operator.addr);
        pauseEscrow();
        assertTrue(escrow.paused());
        expectEscrowRefusal(
            operator.addr, abi.encodeCall(escrow.pause, ()), abi.encodeWithSelector(Pausable.EnforcedPause.selector)
        );
        vm.expectEmit(address(escrow));
        emit Pausable.Unpaused(operator.addr);
        vm.prank(operator.addr);
        escrow.unpause();
        assertFalse(escrow.paused());
        expectEscrowRefusal(
            operator.addr, abi.encodeCall(escrow.unpause, ()), abi.encodeWithSelector(Pausable.ExpectedPause.selector)
        );
    }

    function test_pause_and_unpause_are_for_the_institutions_operators() public {
        expectCallerChecks(address(escrow), abi.encodeCall(escrow.pause, ()), BANK, Department.OPERATOR, OTHER_BANK);
        expectCallerChecks(address(escrow), abi.encodeCall(escrow.unpause, ()), BANK, Department.OPERATOR, OTHER_BANK);
    }

    /// @dev Pause stops what the institution does with funds (release here; freeze in SettlementTest) and nothing
    /// else: the payee redeems, C presents, the assignment is confirmed, the payer reclaims an expired key and the
    /// parties settle after the deadline, all while paused.
    function test_pause_blocks_release_only() public {
        uint8 frozen = frozenPayment(NO);
        uint8 requested = requestedPayment(OTHER_NO);
        bytes32 third = "HT-3";
        uint8 assigned = frozenPayment(third);
        bytes32 fourth = "HT-4";
        uint8 expiring = frozenPayment(fourth);
        pauseEscrow();

        expectEscrowRefusal(
            operator.addr,
            abi.encodeCall(escrow.release, (OTHER_NO, requested)),
            abi.encodeWithSelector(Pausable.EnforcedPause.selector)
        );
        send(cFinance.addr, presentCall(frozen));
        send(bFinance.addr, requestCall(frozen));
        assertEq(uint8(statusOf(NO, frozen)), uint8(VoucherStatus.REQUESTED));
        confirmAssignmentBy(bFinance.addr, third, assigned);
        assertEq(escrow.voucherOf(voucherIdOf(third, assigned)).beneficiaryOrg, C);

        warpToReleaseDeadline(OTHER_NO, requested);
        vm.warp(escrow.voucherOf(voucherIdOf(fourth, expiring)).time);
        vm.prank(aFinance.addr);
        escrow.reclaim(fourth, expiring);
        bytes memory consent = sign(bFinance, jointSettlementDigest(voucherIdOf(OTHER_NO, requested), true));
        send(
            aFinance.addr,
            abi.encodeCall(escrow.settleWithoutInstitution, (OTHER_NO, requested, true, bFinance.addr, consent))
        );
        assertEq(token.balanceOf(bTreasury), AMOUNT);
        assertEq(token.balanceOf(address(escrow)), 2 * AMOUNT, "the two requested payments wait for the release");
    }

    // ------------------------------------------------------------------ pinBeneficiaryTreasury

    /// @dev The outsider's case: governance moved B's treasury after the request; B pins the new one, and the
    /// release pays it.
    function test_the_beneficiary_pins_its_new_treasury() public {
        uint8 seq = requestedPayment(NO);
        address moved = makeAddr("B's new treasury");
        registry.setTreasury(B, moved);
        vm.expectEmit(address(escrow));
        emit IPaymentEscrow.BeneficiaryTreasuryPinned(voucherIdOf(NO, seq), NO, B, seq, moved);
        send(bFinance.addr, pinCall(seq));
        assertEq(pinnedTreasury(seq), moved);
        releaseAndExpectPaid(seq, B, moved, bTreasury);
    }

    /// @dev The stranger is A, the payer: only the beneficiary pins.
    function test_pin_checks_the_caller() public {
        uint8 seq = requestedPayment(NO);
        expectCallerChecks(address(escrow), pinCall(seq), B, Department.FINANCE, A);
    }

    /// @dev After an assignment the beneficiary is C, not the payee B.
    function test_pin_after_an_assignment_is_for_the_assignee() public {
        uint8 seq = frozenPayment(NO);
        confirmAssignmentBy(bFinance.addr, NO, seq);
        expectEscrowRefusal(
            bFinance.addr, pinCall(seq), abi.encodeWithSelector(ICollabErrors.WrongParty.selector, bFinance.addr, C)
        );
        send(cFinance.addr, pinCall(seq));
        assertEq(pinnedTreasury(seq), cTreasury);
    }

    function test_pin_refuses_an_unknown_voucher_and_statuses_other_than_REQUESTED() public {
        expectEscrowRefusal(bFinance.addr, pinCall(1), unknownVoucher(1));
        uint8 seq = frozenPayment(NO);
        expectEscrowRefusal(bFinance.addr, pinCall(seq), unexpectedStatus(seq, VoucherStatus.FROZEN));
        redeem(NO, seq);
        release(NO, seq);
        expectEscrowRefusal(bFinance.addr, pinCall(seq), unexpectedStatus(seq, VoucherStatus.RELEASED));
    }
}
