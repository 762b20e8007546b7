// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
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
import {IConsortium} from "../../contracts/interfaces/IConsortium.sol";
import {IContractRegistry} from "../../contracts/interfaces/IContractRegistry.sol";
import {ERC1271Wallet} from "../../contracts/mocks/ERC1271Wallet.sol";
import {SwitchableToken} from "../../contracts/mocks/SwitchableToken.sol";
import {CollabFixture} from "./CollabFixture.sol";

/**
 * @title ContractRegistryTest
 * @notice S2: Party B proposes an e-contract with its signed digital code and Party A countersigns the same document
 * and terms. Covers every refusal of `proposeContract` and `signContract`, the outsider's mismatched terms (other
 * amount, asset, stage count, specification, stage order, document, parties: DigitalCodeMismatch; a signature over
 * other terms with the right hashes: InvalidSignature), signature replay across contract numbers, orgs and
 * registries, ERC-1271 signers, and fuzzed stage counts and amounts up to the uint128 total.
 */
contract ContractRegistryTest is CollabFixture {
    bytes32 internal constant NO = "HT-1";
    bytes32 internal constant OTHER_NO = "HT-2";

    /// @dev Calldata of B's business proposing `t`, signed by B's business.
    function proposeCall(ContractTerms memory t) internal view returns (bytes memory) {
        bytes memory signature = codeSignature(bBusiness, t.contractNo, B, signedHashesOf(t, B));
        return abi.encodeCall(registry.proposeContract, (t, bBusiness.addr, signature));
    }

    function expectProposalRefused(ContractTerms memory t, bytes memory error_) internal {
        expectRefused(bBusiness.addr, address(registry), proposeCall(t), error_);
    }

    /// @dev Calldata of A countersigning contract `NO` as it understood it: `seen`, proposed by `payee`.
    function signCall(ContractTerms memory seen, uint32 payee) internal view returns (bytes memory) {
        SignedHashes memory signed = signedHashesOf(seen, payee);
        bytes memory signature = codeSignature(aBusiness, seen.contractNo, A, signed);
        return
            abi.encodeCall(registry.signContract, (seen.contractNo, signed, seen.stages[0], aBusiness.addr, signature));
    }

    /// @dev B registered {stages3} as `NO`; A countersigns `seen` instead: refused, naming the hashes A gave.
    function expectMismatch(ContractTerms memory seen, uint32 payee) internal {
        SignedHashes memory signed = signedHashesOf(seen, payee);
        expectRefused(
            aBusiness.addr,
            address(registry),
            signCall(seen, payee),
            abi.encodeWithSelector(IContractRegistry.DigitalCodeMismatch.selector, NO, signed.docHash, signed.termsHash)
        );
        (ContractRegistry.Agreement memory agreement,) = registry.agreementOf(NO);
        assertEq(uint8(agreement.status), uint8(ContractStatus.PROPOSED));
    }

    function contractStatus(bytes32 contractNo) internal view returns (ContractStatus) {
        (ContractRegistry.Agreement memory agreement,) = registry.agreementOf(contractNo);
        return agreement.status;
    }

    // ------------------------------------------------------------------ proposeContract: happy path

    function test_propose_records_the_terms_and_emits() public {
        ContractTerms memory t = terms(NO, stages3());
        SignedHashes memory signed = signedHashesOf(t, B);
        bytes memory signature = codeSignature(bBusiness, NO, B, signed);
        vm.expectEmit(address(registry));
        emit IContractRegistry.ContractProposed(
            NO, A, B, t.docHash, signed.termsHash, address(token), 600_00, t.stages, bBusiness.addr, signature
        );
        vm.prank(bBusiness.addr);
        registry.proposeContract(t, bBusiness.addr, signature);

        (ContractRegistry.Agreement memory agreement, address asset) = registry.agreementOf(NO);
        assertEq(uint8(agreement.status), uint8(ContractStatus.PROPOSED));
        assertEq(agreement.partyA, A);
        assertEq(agreement.partyB, B);
        assertEq(agreement.stageCount, 3);
        assertEq(agreement.unpaid, 600_00);
        assertEq(asset, address(token));
        for (uint256 i; i < 3; ++i) {
            assertEq(uint8(registry.stageOf(NO, i).status), uint8(StageStatus.OPEN));
        }
        assertEq(uint8(registry.stageOf(NO, 3).status), uint8(StageStatus.NONE));
        (address asset_, uint32 payer, uint32 payee) = registry.partiesOf(NO);
        assertEq(abi.encode(asset_, payer, payee), abi.encode(address(token), A, B));
    }

    function test_digitalCodeDigest_is_the_independently_computed_one() public view {
        SignedHashes memory signed = signedHashes(NO, stages3());
        assertEq(
            registry.digitalCodeDigest(NO, A, signed.docHash, signed.termsHash),
            digitalCodeDigest(NO, A, signed.docHash, signed.termsHash)
        );
    }

    function test_propose_accepts_an_ERC1271_signer() public {
        Vm.Wallet memory owner = vm.createWallet("B multisig owner");
        ERC1271Wallet wallet = new ERC1271Wallet(owner.addr);
        registry.bindAccount(address(wallet), B, Department.BUSINESS);
        ContractTerms memory t = terms(NO, stages1());
        bytes memory signature = codeSignature(owner, NO, B, signedHashesOf(t, B));
        vm.prank(bBusiness.addr);
        registry.proposeContract(t, address(wallet), signature);
        assertEq(uint8(contractStatus(NO)), uint8(ContractStatus.PROPOSED));

        bytes memory byAnother = codeSignature(bBusiness, OTHER_NO, B, signedHashesOf(terms(OTHER_NO, stages1()), B));
        vm.expectRevert(abi.encodeWithSelector(ICollabErrors.InvalidSignature.selector, address(wallet)));
        vm.prank(bBusiness.addr);
        registry.proposeContract(terms(OTHER_NO, stages1()), address(wallet), byAnother);
    }

    // ------------------------------------------------------------------ proposeContract: refusals

    function test_propose_refuses_non_members_other_departments_and_suspended_orgs() public {
        bytes memory data = proposeCall(terms(NO, stages1()));
        expectRefused(
            outsider, address(registry), data, abi.encodeWithSelector(IConsortium.NotAMember.selector, outsider)
        );
        expectRefused(
            bFinance.addr,
            address(registry),
            data,
            abi.encodeWithSelector(
                IConsortium.WrongDepartment.selector, bFinance.addr, Department.BUSINESS, Department.FINANCE
            )
        );
        suspend(B);
        expectRefused(
            bBusiness.addr, address(registry), data, abi.encodeWithSelector(IConsortium.OrgSuspended.selector, B)
        );
    }

    function test_propose_by_another_org_is_refused_as_the_signer_is_not_its_own() public {
        // C's business sends B's signed proposal: the contract would be C's, whose business did not sign
        expectRefused(
            cBusiness.addr,
            address(registry),
            proposeCall(terms(NO, stages1())),
            abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, bBusiness.addr, C)
        );
    }

    function test_propose_refuses_contract_number_zero() public {
        expectProposalRefused(
            terms(0, stages1()), abi.encodeWithSelector(IContractRegistry.InvalidContractNumber.selector)
        );
    }

    function test_propose_refuses_a_registered_contract_number() public {
        propose(NO, stages1());
        expectProposalRefused(
            terms(NO, stages3()), abi.encodeWithSelector(IContractRegistry.DuplicateContractNumber.selector, NO)
        );
    }

    function test_propose_refuses_document_hash_zero() public {
        ContractTerms memory t = terms(NO, stages1());
        t.docHash = 0;
        expectProposalRefused(t, abi.encodeWithSelector(IContractRegistry.InvalidDocumentHash.selector));
    }

    /// @dev The outsider's case: a contract paid in a token governance never listed.
    function test_propose_refuses_an_unlisted_asset() public {
        SwitchableToken unlisted = new SwitchableToken();
        expectProposalRefused(
            termsFor(NO, A, address(unlisted), stages1()),
            abi.encodeWithSelector(IConsortium.AssetNotAccepted.selector, address(unlisted))
        );
    }

    function test_propose_refuses_a_withdrawn_asset_but_proposed_contracts_keep_it() public {
        propose(NO, stages1());
        registry.setAssetAccepted(address(token), false);
        expectProposalRefused(
            terms(OTHER_NO, stages1()), abi.encodeWithSelector(IConsortium.AssetNotAccepted.selector, address(token))
        );
        countersign(NO, stages1());
        (, address asset) = registry.agreementOf(NO);
        assertEq(asset, address(token));
    }

    function test_propose_refuses_itself_as_counterparty() public {
        expectProposalRefused(
            termsFor(NO, B, address(token), stages1()),
            abi.encodeWithSelector(IContractRegistry.InvalidCounterparty.selector, B)
        );
    }

    function test_propose_refuses_a_payer_that_is_not_an_active_enterprise() public {
        expectProposalRefused(
            termsFor(NO, 77, address(token), stages1()), abi.encodeWithSelector(IConsortium.UnknownOrg.selector, 77)
        );
        expectProposalRefused(
            termsFor(NO, BANK, address(token), stages1()), abi.encodeWithSelector(IConsortium.UnknownOrg.selector, BANK)
        );
        suspend(A);
        expectProposalRefused(terms(NO, stages1()), abi.encodeWithSelector(IConsortium.OrgSuspended.selector, A));
    }

    function test_propose_refuses_zero_or_more_than_MAX_STAGES_stages() public {
        expectProposalRefused(
            terms(NO, new StageTerms[](0)), abi.encodeWithSelector(IContractRegistry.InvalidStageCount.selector, 0)
        );
        expectProposalRefused(
            terms(NO, stagesN(65, 1)), abi.encodeWithSelector(IContractRegistry.InvalidStageCount.selector, 65)
        );
    }

    function test_propose_refuses_a_stage_without_specification_or_amount() public {
        StageTerms[] memory stages = stages3();
        stages[2].specHash = 0;
        expectProposalRefused(terms(NO, stages), abi.encodeWithSelector(IContractRegistry.InvalidStage.selector, 2));
        stages = stages3();
        stages[1].amount = 0;
        expectProposalRefused(terms(NO, stages), abi.encodeWithSelector(IContractRegistry.InvalidStage.selector, 1));
    }

    function test_propose_refuses_a_total_over_uint128() public {
        StageTerms[] memory stages = stagesN(2, type(uint128).max);
        expectProposalRefused(
            terms(NO, stages),
            abi.encodeWithSelector(
                SafeCast.SafeCastOverflowedUintDowncast.selector, 128, uint256(type(uint128).max) * 2
            )
        );
    }

    function test_propose_refuses_a_signer_of_another_org_or_department() public {
        ContractTerms memory t = terms(NO, stages1());
        address[2] memory signers = [aBusiness.addr, bFinance.addr];
        for (uint256 i; i < signers.length; ++i) {
            bytes memory signature = codeSignature(bBusiness, NO, B, signedHashesOf(t, B));
            expectRefused(
                bBusiness.addr,
                address(registry),
                abi.encodeCall(registry.proposeContract, (t, signers[i], signature)),
                abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, signers[i], B)
            );
        }
    }

    /// @dev B's signature is checked against the terms the chain computes from what B registers: 100x the amounts
    /// signed, another contract number, another org id, another document.
    function test_propose_refuses_a_signature_over_other_terms() public {
        ContractTerms memory registered = terms(NO, stagesN(2, 100_00));
        ContractTerms memory signedTerms = terms(NO, stagesN(2, 1_00));
        SignedHashes[4] memory variants = [
            signedHashesOf(signedTerms, B),
            signedHashesOf(registered, B),
            signedHashesOf(registered, B),
            SignedHashes(keccak256("other document"), signedHashesOf(registered, B).termsHash)
        ];
        bytes32[4] memory numbers = [NO, OTHER_NO, NO, NO];
        uint32[4] memory orgIds = [B, B, A, B];
        for (uint256 i; i < variants.length; ++i) {
            bytes memory signature = codeSignature(bBusiness, numbers[i], orgIds[i], variants[i]);
            expectInvalidSignature(
                bBusiness.addr,
                address(registry),
                abi.encodeCall(registry.proposeContract, (registered, bBusiness.addr, signature)),
                bBusiness.addr
            );
        }
    }

    function test_propose_refuses_a_signature_made_for_another_registry() public {
        bytes memory data = proposeCall(terms(NO, stages1()));
        switchToSecondDeployment();
        expectInvalidSignature(bBusiness.addr, address(registry), data, bBusiness.addr);
    }

    // ------------------------------------------------------------------ proposeContract: fuzzed

    /// @dev 1..64 stages are accepted and both parties can sign them; 0 and 65..70 are refused.
    function testFuzz_stage_counts(uint8 count) public {
        count = uint8(bound(count, 0, 70));
        StageTerms[] memory stages = stagesN(count, 10_00);
        if (count == 0 || count > registry.MAX_STAGES()) {
            expectProposalRefused(
                terms(NO, stages), abi.encodeWithSelector(IContractRegistry.InvalidStageCount.selector, count)
            );
            return;
        }
        signedContract(NO, stages);
        (ContractRegistry.Agreement memory agreement,) = registry.agreementOf(NO);
        assertEq(uint8(agreement.status), uint8(ContractStatus.SIGNED));
        assertEq(agreement.stageCount, count);
        assertEq(agreement.unpaid, uint128(count) * 10_00);
        assertEq(uint8(registry.stageOf(NO, count - 1).status), uint8(StageStatus.OPEN));
    }

    /// @dev Random stage amounts: the total is their sum, refused with SafeCast's error once it exceeds uint128.
    function testFuzz_stage_amounts_up_to_the_uint128_total(uint256 seed, uint8 count, uint8 magnitude) public {
        count = uint8(bound(count, 1, 64));
        uint256 maxAmount = type(uint128).max >> bound(magnitude, 0, 127);
        StageTerms[] memory stages = new StageTerms[](count);
        uint256 sum;
        for (uint256 i; i < count; ++i) {
            uint128 amount = uint128(bound(uint256(keccak256(abi.encode(seed, i))), 1, maxAmount));
            stages[i] = StageTerms(keccak256(abi.encode("spec", i)), amount);
            sum += amount;
        }
        if (sum > type(uint128).max) {
            expectProposalRefused(
                terms(NO, stages), abi.encodeWithSelector(SafeCast.SafeCastOverflowedUintDowncast.selector, 128, sum)
            );
            return;
        }
        signedContract(NO, stages);
        assertEq(unpaidOf(NO), sum);
    }

    // ------------------------------------------------------------------ signContract: happy path

    function test_sign_makes_the_contract_SIGNED_at_block_time() public {
        propose(NO, stages3());
        vm.warp(1_800_000_000);
        SignedHashes memory signed = signedHashes(NO, stages3());
        bytes memory signature = codeSignature(aBusiness, NO, A, signed);
        vm.expectEmit(address(registry));
        emit IContractRegistry.ContractSigned(NO, A, aBusiness.addr, signature, 1_800_000_000);
        vm.prank(aBusiness.addr);
        registry.signContract(NO, signed, stages3()[0], aBusiness.addr, signature);
        assertEq(uint8(contractStatus(NO)), uint8(ContractStatus.SIGNED));
    }

    function test_sign_accepts_an_ERC1271_signer() public {
        propose(NO, stages1());
        Vm.Wallet memory owner = vm.createWallet("A multisig owner");
        ERC1271Wallet wallet = new ERC1271Wallet(owner.addr);
        registry.bindAccount(address(wallet), A, Department.BUSINESS);
        SignedHashes memory signed = signedHashes(NO, stages1());
        bytes memory signature = codeSignature(owner, NO, A, signed);
        vm.prank(aBusiness.addr);
        registry.signContract(NO, signed, stages1()[0], address(wallet), signature);
        assertEq(uint8(contractStatus(NO)), uint8(ContractStatus.SIGNED));
    }

    // ------------------------------------------------------------------ signContract: refusals

    function test_sign_checks_the_caller() public {
        propose(NO, stages1());
        expectCallerChecks(address(registry), signCall(terms(NO, stages1()), B), A, Department.BUSINESS, C);
    }

    function test_sign_refuses_an_unknown_contract() public {
        expectRefused(
            aBusiness.addr,
            address(registry),
            signCall(terms(NO, stages1()), B),
            abi.encodeWithSelector(IContractRegistry.UnknownContract.selector, NO)
        );
    }

    function test_sign_refuses_a_signed_contract() public {
        signedContract(NO, stages1());
        expectRefused(
            aBusiness.addr,
            address(registry),
            signCall(terms(NO, stages1()), B),
            abi.encodeWithSelector(
                IContractRegistry.UnexpectedContractStatus.selector, NO, ContractStatus.PROPOSED, ContractStatus.SIGNED
            )
        );
    }

    /// @dev The outsider's case: B registered 100x the amounts of the document A signs.
    function test_sign_refuses_other_amounts() public {
        propose(NO, stages3());
        StageTerms[] memory seen = stages3();
        for (uint256 i; i < seen.length; ++i) {
            seen[i].amount /= 100;
        }
        expectMismatch(terms(NO, seen), B);
    }

    function test_sign_refuses_another_asset() public {
        propose(NO, stages3());
        SwitchableToken other = new SwitchableToken();
        registry.setAssetAccepted(address(other), true);
        expectMismatch(termsFor(NO, A, address(other), stages3()), B);
    }

    function test_sign_refuses_another_stage_count() public {
        propose(NO, stages3());
        StageTerms[] memory fewer = new StageTerms[](2);
        (fewer[0], fewer[1]) = (stages3()[0], stages3()[1]);
        expectMismatch(terms(NO, fewer), B);
        StageTerms[] memory more = stagesN(4, 100_00);
        expectMismatch(terms(NO, more), B);
    }

    function test_sign_refuses_another_specification() public {
        propose(NO, stages3());
        StageTerms[] memory seen = stages3();
        seen[1].specHash = keccak256("another deliverable");
        expectMismatch(terms(NO, seen), B);
    }

    function test_sign_refuses_another_stage_order() public {
        propose(NO, stages3());
        StageTerms[] memory registered = stages3();
        StageTerms[] memory reversed = new StageTerms[](3);
        StageTerms[] memory lastTwoSwapped = new StageTerms[](3);
        for (uint256 i; i < 3; ++i) {
            reversed[i] = registered[2 - i];
        }
        (lastTwoSwapped[0], lastTwoSwapped[1], lastTwoSwapped[2]) = (registered[0], registered[2], registered[1]);
        expectMismatch(terms(NO, reversed), B);
        expectMismatch(terms(NO, lastTwoSwapped), B); // same first stage: only the terms hash tells
    }

    function test_sign_refuses_another_document() public {
        propose(NO, stages3());
        ContractTerms memory seen = terms(NO, stages3());
        seen.docHash = keccak256("tampered document");
        expectMismatch(seen, B);
    }

    function test_sign_refuses_other_parties() public {
        propose(NO, stages3());
        expectMismatch(terms(NO, stages3()), C);
        expectMismatch(termsFor(NO, C, address(token), stages3()), B);
    }

    function test_sign_refuses_another_first_stage_with_the_right_hashes() public {
        propose(NO, stages3());
        SignedHashes memory signed = signedHashes(NO, stages3());
        bytes memory signature = codeSignature(aBusiness, NO, A, signed);
        vm.expectRevert(
            abi.encodeWithSelector(IContractRegistry.DigitalCodeMismatch.selector, NO, signed.docHash, signed.termsHash)
        );
        vm.prank(aBusiness.addr);
        registry.signContract(NO, signed, stages3()[1], aBusiness.addr, signature);
    }

    /// @dev The outsider's case: A gives the registered hashes but its signature covers other terms (the document's
    /// amounts), B's digital code, another contract number or another registry: InvalidSignature.
    function test_sign_refuses_a_signature_over_other_terms_with_the_right_hashes() public {
        propose(NO, stages3());
        SignedHashes memory registered = signedHashes(NO, stages3());
        StageTerms[] memory documentAmounts = stages3();
        documentAmounts[0].amount = 1;
        bytes[3] memory signatures = [
            codeSignature(aBusiness, NO, A, signedHashes(NO, documentAmounts)),
            codeSignature(aBusiness, NO, B, registered),
            codeSignature(aBusiness, OTHER_NO, A, registered)
        ];
        for (uint256 i; i < signatures.length; ++i) {
            expectInvalidSignature(
                aBusiness.addr,
                address(registry),
                abi.encodeCall(registry.signContract, (NO, registered, stages3()[0], aBusiness.addr, signatures[i])),
                aBusiness.addr
            );
        }
    }

    function test_sign_refuses_Bs_signature_and_a_signer_of_another_department() public {
        propose(NO, stages1());
        SignedHashes memory signed = signedHashes(NO, stages1());
        address[2] memory signers = [bBusiness.addr, aFinance.addr];
        for (uint256 i; i < signers.length; ++i) {
            bytes memory signature = codeSignature(bBusiness, NO, B, signed);
            expectRefused(
                aBusiness.addr,
                address(registry),
                abi.encodeCall(registry.signContract, (NO, signed, stages1()[0], signers[i], signature)),
                abi.encodeWithSelector(ICollabErrors.UnauthorizedSigner.selector, signers[i], A)
            );
        }
    }

    function test_sign_refuses_a_countersignature_made_for_another_registry() public {
        bytes memory data = signCall(terms(NO, stages1()), B);
        switchToSecondDeployment();
        propose(NO, stages1());
        expectInvalidSignature(aBusiness.addr, address(registry), data, aBusiness.addr);
    }
}
