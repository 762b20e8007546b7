// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {Vm} from "forge-std/Vm.sol";
import {ContractRegistry} from "../../contracts/ContractRegistry.sol";
import {
    ContractStatus,
    ContractTerms,
    Department,
    SignedHashes,
    StageStatus,
    StageTerms
} from "../../contracts/CollabTypes.sol";
import {ICollabErrors} from "../../contracts/interfaces/ICollabErrors.sol";
import {IContractRegistry} from "../../contracts/interfaces/IContractRegistry.sol";
import {IStageVoucher} from "../../contracts/interfaces/IStageVoucher.sol";
import {ERC1271Wallet} from "../../contracts/mocks/ERC1271Wallet.sol";
import {CollabFixture} from "./CollabFixture.sol";

/**
 * @title StageVoucherTest
 * @notice S3: Party B submits a signed stage result, Party A confirms it (a first voucher) or rejects it, after which
 * B may submit again. Every refusal of `submitStageResult`, `confirmStageResult` and `rejectStageResult` with its
 * arguments, and feedback signatures replayed on another stage, contract or registry.
 */
contract StageVoucherTest is CollabFixture {
    bytes32 internal constant NO = "HT-1";
    bytes32 internal constant RESULT = keccak256("delivery note");

    function setUp() public override {
        super.setUp();
        signedContract(NO, stages3());
    }

    function contractTerms() internal view returns (ContractTerms memory) {
        return terms(NO, stages3());
    }

    /// @dev B's business submits `result` for stage `index` of `NO`, with terms, hashes and signature as registered.
    function submitCall(uint8 index, bytes32 result) internal view returns (bytes memory) {
        ContractTerms memory t = contractTerms();
        return abi.encodeCall(
            registry.submitStageResult,
            (
                NO,
                index,
                t.stages[index],
                signedHashesOf(t, B),
                result,
                bBusiness.addr,
                feedbackSignature(bBusiness, t, B, index, result)
            )
        );
    }

    /// @dev `submitCall` with `stage` and `signed` in place of the registered ones, signed over what is sent.
    function submitCallWith(uint8 index, StageTerms memory stage, SignedHashes memory signed)
        internal
        view
        returns (bytes memory)
    {
        bytes memory signature = sign(bBusiness, feedbackDigest(NO, B, signed.docHash, index, stage, RESULT));
        return abi.encodeCall(registry.submitStageResult, (NO, index, stage, signed, RESULT, bBusiness.addr, signature));
    }

    function confirmCall(uint8 index, bytes32 result) internal view returns (bytes memory) {
        ContractTerms memory t = contractTerms();
        return abi.encodeCall(registry.confirmStageResult, (NO, index, t.stages[index], signedHashesOf(t, B), result));
    }

    function rejectCall(uint8 index, bytes32 result) internal view returns (bytes memory) {
        ContractTerms memory t = contractTerms();
        return abi.encodeCall(
            registry.rejectStageResult, (NO, index, t.stages[index], signedHashesOf(t, B), result, keccak256("reason"))
        );
    }

    /// @dev Party A's two decisions on a pending result, each refused alike by the same state.
    function decisionCalls(uint8 index, bytes32 result) internal view returns (bytes[2] memory) {
        return [confirmCall(index, result), rejectCall(index, result)];
    }

    function stageStatus(uint8 index) internal view returns (StageStatus) {
        return registry.stageOf(NO, index).status;
    }

    function expectSubmissionRefused(bytes memory data, bytes memory error_) internal {
        expectRefused(bBusiness.addr, address(registry), data, error_);
    }

    function expectDecisionsRefused(uint8 index, bytes32 result, bytes memory error_) internal {
        expectBothRefused([aBusiness.addr, aBusiness.addr], address(registry), decisionCalls(index, result), error_);
    }

    // ------------------------------------------------------------------ submitStageResult

    function test_submit_makes_the_stage_PENDING_and_emits() public {
        ContractTerms memory t = contractTerms();
        bytes memory signature = feedbackSignature(bBusiness, t, B, 1, RESULT);
        vm.expectEmit(address(registry));
        emit IStageVoucher.StageResultSubmitted(NO, 1, RESULT, bBusiness.addr, signature);
        submitStage(NO, stages3(), 1, RESULT);
        assertEq(uint8(stageStatus(1)), uint8(StageStatus.PENDING));
        assertEq(uint8(stageStatus(0)), uint8(StageStatus.OPEN));
    }

    function test_submit_checks_the_caller() public {
        expectCallerChecks(address(registry), submitCall(0, RESULT), B, Department.BUSINESS, C);
    }

    function test_submit_refuses_an_unknown_contract() public {
        ContractTerms memory t = terms("HT-unknown", stages3());
        expectSubmissionRefused(
            abi.encodeCall(
                registry.submitStageResult,
                (t.contractNo, 0, t.stages[0], signedHashesOf(t, B), RESULT, bBusiness.addr, "")
            ),
            abi.encodeWithSelector(IContractRegistry.UnknownContract.selector, t.contractNo)
        );
    }

    function test_submit_refuses_a_contract_not_SIGNED() public {
        propose("HT-2", stages3());
        ContractTerms memory t = terms("HT-2", stages3());
        expectSubmissionRefused(
            abi.encodeCall(
                registry.submitStageResult, ("HT-2", 0, t.stages[0], signedHashesOf(t, B), RESULT, bBusiness.addr, "")
            ),
            abi.encodeWithSelector(
                IContractRegistry.UnexpectedContractStatus.selector,
                bytes32("HT-2"),
                ContractStatus.SIGNED,
                ContractStatus.PROPOSED
            )
        );
    }

    function test_submit_refuses_a_stage_out_of_range() public {
        ContractTerms memory t = contractTerms();
        expectSubmissionRefused(
            submitCallWith(3, t.stages[2], signedHashesOf(t, B)),
            abi.encodeWithSelector(IStageVoucher.StageOutOfRange.selector, NO, 3)
        );
    }

    function test_submit_refuses_a_pending_or_vouched_stage() public {
        submitStage(NO, stages3(), 0, RESULT);
        expectSubmissionRefused(
            submitCall(0, RESULT), abi.encodeWithSelector(IStageVoucher.StageAlreadySubmitted.selector, NO, 0)
        );
        confirmStage(NO, stages3(), 0, RESULT);
        expectSubmissionRefused(
            submitCall(0, RESULT), abi.encodeWithSelector(IStageVoucher.StageAlreadyVouched.selector, NO, 0)
        );
    }

    /// @dev The stage named must be the registered one under the contract's signed hashes: another specification,
    /// amount, another stage's terms, another document or terms hash are each refused.
    function test_submit_refuses_terms_that_are_not_the_stage() public {
        ContractTerms memory t = contractTerms();
        SignedHashes memory signed = signedHashesOf(t, B);
        StageTerms memory stage = t.stages[1];
        StageTerms[3] memory otherStages = [
            StageTerms(keccak256("another deliverable"), stage.amount),
            StageTerms(stage.specHash, stage.amount * 100),
            t.stages[2]
        ];
        for (uint256 i; i < otherStages.length; ++i) {
            expectSubmissionRefused(
                submitCallWith(1, otherStages[i], signed),
                abi.encodeWithSelector(IStageVoucher.StageSpecMismatch.selector, NO, 1)
            );
        }
        SignedHashes[2] memory otherHashes = [
            SignedHashes(keccak256("other document"), signed.termsHash),
            SignedHashes(signed.docHash, keccak256("other terms"))
        ];
        for (uint256 i; i < otherHashes.length; ++i) {
            expectSubmissionRefused(
                submitCallWith(1, stage, otherHashes[i]),
                abi.encodeWithSelector(IStageVoucher.StageSpecMismatch.selector, NO, 1)
            );
        }
    }

    function test_submit_refuses_result_hash_zero() public {
        expectSubmissionRefused(submitCall(0, 0), abi.encodeWithSelector(IStageVoucher.InvalidResultHash.selector));
    }

    function test_submit_refuses_a_signer_of_another_org_or_department() public {
        ContractTerms memory t = contractTerms();
        address[2] memory signers = [aBusiness.addr, bFinance.addr];
        for (uint256 i; i < signers.length; ++i) {
            expectSubmissionRefused(
                abi.encodeCall(
                    registry.submitStageResult,
                    (
                        NO,
                        0,
                        t.stages[0],
                        signedHashesOf(t, B),
                        RESULT,
                        signers[i],
                        feedbackSignature(bBusiness, t, B, 0, RESULT)
                    )
                ),
                abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, signers[i], B)
            );
        }
    }

    /// @dev Feedback signed for stage 0, for another result, or for another contract with the same terms, or with
    /// A's key, does not pass for this stage.
    function test_submit_refuses_a_feedback_signature_replayed_from_another_stage_result_or_contract() public {
        ContractTerms memory t = contractTerms();
        ContractTerms memory twin = terms("HT-twin", stages3());
        bytes[4] memory signatures = [
            feedbackSignature(bBusiness, t, B, 0, RESULT),
            feedbackSignature(bBusiness, t, B, 1, keccak256("another result")),
            feedbackSignature(bBusiness, twin, B, 1, RESULT),
            feedbackSignature(aBusiness, t, B, 1, RESULT)
        ];
        for (uint256 i; i < signatures.length; ++i) {
            expectSubmissionRefused(
                abi.encodeCall(
                    registry.submitStageResult,
                    (NO, 1, t.stages[1], signedHashesOf(t, B), RESULT, bBusiness.addr, signatures[i])
                ),
                abi.encodeWithSelector(ICollabErrors.InvalidSignature.selector, bBusiness.addr)
            );
        }
    }

    function test_submit_refuses_a_feedback_signature_made_for_another_registry() public {
        bytes memory data = submitCall(0, RESULT);
        switchToSecondDeployment();
        signedContract(NO, stages3());
        expectInvalidSignature(bBusiness.addr, address(registry), data, bBusiness.addr);
    }

    function test_submit_accepts_an_ERC1271_signer() public {
        Vm.Wallet memory owner = vm.createWallet("B multisig owner");
        ERC1271Wallet wallet = new ERC1271Wallet(owner.addr);
        registry.bindAccount(address(wallet), B, Department.BUSINESS);
        ContractTerms memory t = contractTerms();
        vm.prank(bBusiness.addr);
        registry.submitStageResult(
            NO, 2, t.stages[2], signedHashesOf(t, B), RESULT, address(wallet), feedbackSignature(owner, t, B, 2, RESULT)
        );
        assertEq(uint8(stageStatus(2)), uint8(StageStatus.PENDING));
    }

    // ------------------------------------------------------------------ confirmStageResult / rejectStageResult

    function test_confirm_issues_the_first_voucher() public {
        submitStage(NO, stages3(), 2, RESULT);
        vm.expectEmit(address(registry));
        emit IStageVoucher.FirstVoucherIssued(NO, 2, RESULT, 300_00, aBusiness.addr);
        confirmStage(NO, stages3(), 2, RESULT);
        assertEq(uint8(stageStatus(2)), uint8(StageStatus.CONFIRMED));
        (ContractRegistry.Agreement memory agreement,) = registry.agreementOf(NO);
        assertEq(agreement.vouchedCount, 1);
    }

    function test_reject_lets_B_submit_again_and_A_confirm() public {
        submitStage(NO, stages3(), 0, RESULT);
        vm.expectEmit(address(registry));
        emit IStageVoucher.StageResultRejected(NO, 0, RESULT, keccak256("reason"), aBusiness.addr);
        vm.prank(aBusiness.addr);
        (bool ok,) = address(registry).call(rejectCall(0, RESULT));
        assertTrue(ok);
        assertEq(uint8(stageStatus(0)), uint8(StageStatus.REJECTED));
        expectDecisionsRefused(0, RESULT, abi.encodeWithSelector(IStageVoucher.StageNotPending.selector, NO, 0));

        bytes32 corrected = keccak256("corrected delivery note");
        submitStage(NO, stages3(), 0, corrected);
        expectDecisionsRefused(0, RESULT, abi.encodeWithSelector(IStageVoucher.StageResultMismatch.selector, NO, 0));
        confirmStage(NO, stages3(), 0, corrected);
        assertEq(uint8(stageStatus(0)), uint8(StageStatus.CONFIRMED));
    }

    function test_confirm_and_reject_check_the_caller() public {
        submitStage(NO, stages3(), 0, RESULT);
        bytes[2] memory calls = decisionCalls(0, RESULT);
        for (uint256 i; i < calls.length; ++i) {
            uint256 snapshot = vm.snapshotState();
            expectCallerChecks(address(registry), calls[i], A, Department.BUSINESS, C);
            vm.revertToState(snapshot);
        }
    }

    function test_confirm_and_reject_refuse_an_unknown_contract() public {
        bytes[2] memory calls = [
            abi.encodeCall(
                registry.confirmStageResult, ("HT-unknown", 0, stages3()[0], signedHashes(NO, stages3()), RESULT)
            ),
            abi.encodeCall(
                registry.rejectStageResult, ("HT-unknown", 0, stages3()[0], signedHashes(NO, stages3()), RESULT, 0)
            )
        ];
        expectBothRefused(
            [aBusiness.addr, aBusiness.addr],
            address(registry),
            calls,
            abi.encodeWithSelector(IContractRegistry.UnknownContract.selector, bytes32("HT-unknown"))
        );
    }

    function test_confirm_and_reject_refuse_a_contract_not_SIGNED() public {
        propose("HT-2", stages3());
        SignedHashes memory signed = signedHashes("HT-2", stages3());
        bytes[2] memory calls = [
            abi.encodeCall(registry.confirmStageResult, ("HT-2", 0, stages3()[0], signed, RESULT)),
            abi.encodeCall(registry.rejectStageResult, ("HT-2", 0, stages3()[0], signed, RESULT, 0))
        ];
        expectBothRefused(
            [aBusiness.addr, aBusiness.addr],
            address(registry),
            calls,
            abi.encodeWithSelector(
                IContractRegistry.UnexpectedContractStatus.selector,
                bytes32("HT-2"),
                ContractStatus.SIGNED,
                ContractStatus.PROPOSED
            )
        );
    }

    function test_confirm_and_reject_refuse_a_stage_out_of_range() public {
        ContractTerms memory t = contractTerms();
        bytes[2] memory calls = [
            abi.encodeCall(registry.confirmStageResult, (NO, 3, t.stages[2], signedHashesOf(t, B), RESULT)),
            abi.encodeCall(registry.rejectStageResult, (NO, 3, t.stages[2], signedHashesOf(t, B), RESULT, 0))
        ];
        expectBothRefused(
            [aBusiness.addr, aBusiness.addr],
            address(registry),
            calls,
            abi.encodeWithSelector(IStageVoucher.StageOutOfRange.selector, NO, 3)
        );
    }

    function test_confirm_and_reject_refuse_an_open_or_confirmed_stage() public {
        expectDecisionsRefused(1, RESULT, abi.encodeWithSelector(IStageVoucher.StageNotPending.selector, NO, 1));
        submitStage(NO, stages3(), 1, RESULT);
        confirmStage(NO, stages3(), 1, RESULT);
        expectDecisionsRefused(1, RESULT, abi.encodeWithSelector(IStageVoucher.StageNotPending.selector, NO, 1));
    }

    /// @dev A decides on the submission it names: another result, or another stage's terms, are refused.
    function test_confirm_and_reject_refuse_another_result_or_stage_terms() public {
        submitStage(NO, stages3(), 1, RESULT);
        expectDecisionsRefused(
            1, keccak256("another result"), abi.encodeWithSelector(IStageVoucher.StageResultMismatch.selector, NO, 1)
        );
        ContractTerms memory t = contractTerms();
        expectRefused(
            aBusiness.addr,
            address(registry),
            abi.encodeCall(registry.confirmStageResult, (NO, 1, t.stages[0], signedHashesOf(t, B), RESULT)),
            abi.encodeWithSelector(IStageVoucher.StageResultMismatch.selector, NO, 1)
        );
    }
}
