// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test} from "forge-std/Test.sol";
import {Vm} from "forge-std/Vm.sol";
import {CollabRegistry} from "../../contracts/CollabRegistry.sol";
import {DepositToken} from "../../contracts/DepositToken.sol";
import {PaymentEscrow} from "../../contracts/PaymentEscrow.sol";
import {
    ContractTerms,
    Department,
    OrgKind,
    PaymentVoucherTerms,
    SignedHashes,
    StageTerms,
    VoucherStatus
} from "../../contracts/CollabTypes.sol";
import {ICollabErrors} from "../../contracts/interfaces/ICollabErrors.sol";
import {IConsortium} from "../../contracts/interfaces/IConsortium.sol";
import {PaymentIds} from "../../contracts/libraries/PaymentIds.sol";

/// @notice The free `mint` of the test tokens in contracts/mocks.
interface IMintable {
    function mint(address to, uint256 amount) external;
}

/**
 * @notice A deployed consortium for the Solidity tests: the registry, the escrow and a deposit token; Party A (payer),
 * Party B (payee), Party C (a third member), a bank and another institution; one account per department, and helpers
 * that take each step of the flow as the right actor, signing EIP-712 data computed here independently of the
 * contracts. {expectCallerChecks} asserts the four caller refusals every step shares.
 */
abstract contract CollabFixture is Test {
    uint32 internal constant A = 1;
    uint32 internal constant B = 2;
    uint32 internal constant C = 3;
    uint32 internal constant BANK = 900;
    /// @dev A second payment institution: its operator is a member, but not of the escrow's institution.
    uint32 internal constant OTHER_BANK = 901;
    uint40 internal constant RELEASE_WINDOW = 1 days;
    uint40 internal constant KEY_LIFETIME = 7 days;
    uint40 internal constant MIN_KEY_LIFETIME = 1 hours;
    uint256 internal constant A_FUNDS = 1e30;
    /// @dev The amount of {stages1}: a one-stage contract's total.
    uint128 internal constant AMOUNT = 1000_00;
    bytes internal constant ENCRYPTION_KEY = hex"02bce5a6b8e8c1a0e3c1b4f3e7b0a9d8c7b6a5f4e3d2c1b0a99887766554433221";

    CollabRegistry internal registry;
    PaymentEscrow internal escrow;
    DepositToken internal token;
    /// @dev The asset of the contracts the flow helpers propose: the deposit token unless a test lists another.
    address internal assetOfNewContracts;

    Vm.Wallet internal aBusiness;
    Vm.Wallet internal aFinance;
    Vm.Wallet internal bBusiness;
    Vm.Wallet internal bFinance;
    Vm.Wallet internal cBusiness;
    Vm.Wallet internal cFinance;
    Vm.Wallet internal operator;
    Vm.Wallet internal otherOperator;
    address internal aTreasury = makeAddr("treasury A");
    address internal bTreasury = makeAddr("treasury B");
    address internal cTreasury = makeAddr("treasury C");
    address internal bankTreasury = makeAddr("treasury bank");
    /// @dev An account bound to no org.
    address internal outsider = makeAddr("outsider");

    function setUp() public virtual {
        aBusiness = vm.createWallet("A business");
        aFinance = vm.createWallet("A finance");
        bBusiness = vm.createWallet("B business");
        bFinance = vm.createWallet("B finance");
        cBusiness = vm.createWallet("C business");
        cFinance = vm.createWallet("C finance");
        operator = vm.createWallet("bank operator");
        otherOperator = vm.createWallet("other institution's operator");

        deployWithBank();
        token = new DepositToken("Deposit", "DEP", bankTreasury);
        assetOfNewContracts = address(token);
        registerMembers(registry);

        vm.prank(bankTreasury);
        token.mint(aTreasury, A_FUNDS);
        vm.prank(aTreasury);
        token.approve(address(escrow), type(uint256).max);
    }

    /// @dev Deploys {registry} (governed by this contract) with the bank registered, and its {escrow} operated by it.
    function deployWithBank() internal {
        registry = new CollabRegistry(address(this));
        registry.registerOrg(BANK, "Bank", OrgKind.PAYMENT_INSTITUTION, bankTreasury, ENCRYPTION_KEY);
        escrow = new PaymentEscrow(registry, BANK, RELEASE_WINDOW, MIN_KEY_LIFETIME);
        registry.setEscrow(escrow);
    }

    /// @dev Accepts the deposit token in `r` (governed by this contract) and registers the fixture's orgs and accounts
    /// but the bank, which the escrow's deployment needs registered first ({deployWithBank}).
    function registerMembers(CollabRegistry r) internal {
        r.setAssetAccepted(address(token), true);
        r.registerOrg(A, "Party A", OrgKind.ENTERPRISE, aTreasury, ENCRYPTION_KEY);
        r.registerOrg(B, "Party B", OrgKind.ENTERPRISE, bTreasury, ENCRYPTION_KEY);
        r.registerOrg(C, "Party C", OrgKind.ENTERPRISE, cTreasury, ENCRYPTION_KEY);
        r.registerOrg(OTHER_BANK, "Other bank", OrgKind.PAYMENT_INSTITUTION, bankTreasury, ENCRYPTION_KEY);
        uint32[3] memory enterprises = [A, B, C];
        for (uint256 i; i < enterprises.length; ++i) {
            r.bindAccount(walletOf(enterprises[i], Department.BUSINESS).addr, enterprises[i], Department.BUSINESS);
            r.bindAccount(walletOf(enterprises[i], Department.FINANCE).addr, enterprises[i], Department.FINANCE);
        }
        r.bindAccount(operator.addr, BANK, Department.OPERATOR);
        r.bindAccount(otherOperator.addr, OTHER_BANK, Department.OPERATOR);
    }

    /**
     * @dev Replaces {registry} and {escrow} with a second deployment with the same members, accounts and token (A's
     * treasury approves its escrow), so that the flow helpers act there; returns the first deployment. Signatures
     * made for one deployment must not pass in the other.
     */
    function switchToSecondDeployment() internal returns (CollabRegistry first, PaymentEscrow firstEscrow) {
        (first, firstEscrow) = (registry, escrow);
        deployWithBank();
        registerMembers(registry);
        vm.prank(aTreasury);
        token.approve(address(escrow), type(uint256).max);
    }

    // ------------------------------------------------------------------ accounts

    /// @dev The fixture's account for `department` of `orgId`: BUSINESS or FINANCE of A, B, C; OPERATOR of a bank.
    function walletOf(uint32 orgId, Department department) internal view returns (Vm.Wallet memory) {
        bool business = department == Department.BUSINESS;
        if (orgId == A) return business ? aBusiness : aFinance;
        if (orgId == B) return business ? bBusiness : bFinance;
        if (orgId == C) return business ? cBusiness : cFinance;
        return orgId == BANK ? operator : otherOperator;
    }

    /// @dev Lists `asset`, a test token with a free `mint`, as the asset of the next contracts; funds A's treasury
    /// with it and approves the escrow.
    function useMockAsset(address asset) internal {
        registry.setAssetAccepted(asset, true);
        IMintable(asset).mint(aTreasury, A_FUNDS);
        vm.prank(aTreasury);
        IERC20(asset).approve(address(escrow), type(uint256).max);
        assetOfNewContracts = asset;
    }

    function suspend(uint32 orgId) internal {
        registry.setOrgActive(orgId, false);
    }

    function reinstate(uint32 orgId) internal {
        registry.setOrgActive(orgId, true);
    }

    // ------------------------------------------------------------------ contract terms

    function stages1() internal pure returns (StageTerms[] memory stages) {
        stages = new StageTerms[](1);
        stages[0] = StageTerms(keccak256("deliver the goods"), AMOUNT);
    }

    function stagesN(uint256 count, uint128 amount) internal pure returns (StageTerms[] memory stages) {
        stages = new StageTerms[](count);
        for (uint256 i; i < count; ++i) {
            stages[i] = StageTerms(keccak256(abi.encode("stage", i)), amount);
        }
    }

    /// @dev Three stages of 100.00, 200.00 and 300.00: distinct amounts, so their order matters.
    function stages3() internal pure returns (StageTerms[] memory stages) {
        stages = new StageTerms[](3);
        for (uint256 i; i < 3; ++i) {
            stages[i] = StageTerms(keccak256(abi.encode("stage", i)), uint128(100_00 * (i + 1)));
        }
    }

    /// @dev Terms of a contract paying `stages` in {assetOfNewContracts}, with A as the payer.
    function terms(bytes32 contractNo, StageTerms[] memory stages) internal view returns (ContractTerms memory) {
        return termsFor(contractNo, A, assetOfNewContracts, stages);
    }

    function termsFor(bytes32 contractNo, uint32 payer, address asset, StageTerms[] memory stages)
        internal
        pure
        returns (ContractTerms memory)
    {
        return ContractTerms(contractNo, payer, docHashOf(contractNo), asset, stages);
    }

    function docHashOf(bytes32 contractNo) internal pure returns (bytes32) {
        return keccak256(abi.encode("document", contractNo));
    }

    function total(StageTerms[] memory stages) internal pure returns (uint128 sum) {
        for (uint256 i; i < stages.length; ++i) {
            sum += stages[i].amount;
        }
    }

    // ------------------------------------------------------------------ EIP-712, computed independently

    function domainSeparator(string memory name, address verifying) internal view returns (bytes32) {
        return keccak256(
            abi.encode(
                keccak256("EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"),
                keccak256(bytes(name)),
                keccak256("2"),
                block.chainid,
                verifying
            )
        );
    }

    function registryDigest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(
            abi.encodePacked("\x19\x01", domainSeparator("collab CollabRegistry", address(registry)), structHash)
        );
    }

    function escrowDigest(bytes32 structHash) internal view returns (bytes32) {
        return
            keccak256(
                abi.encodePacked("\x19\x01", domainSeparator("collab PaymentEscrow", address(escrow)), structHash)
            );
    }

    function termsHash(uint32 partyA, uint32 partyB, address asset, StageTerms[] memory stages)
        internal
        pure
        returns (bytes32)
    {
        bytes32[] memory hashes = new bytes32[](stages.length);
        uint256 sum; // as the contract, which refuses a sum over uint128 before it checks a signature
        for (uint256 i; i < stages.length; ++i) {
            sum += stages[i].amount;
            hashes[i] = keccak256(
                abi.encode(keccak256("Stage(bytes32 specHash,uint128 amount)"), stages[i].specHash, stages[i].amount)
            );
        }
        return keccak256(
            abi.encode(
                keccak256(
                    "Terms(uint32 partyA,uint32 partyB,address asset,uint128 total,Stage[] stages)Stage(bytes32 specHash,uint128 amount)"
                ),
                partyA,
                partyB,
                asset,
                sum,
                keccak256(abi.encodePacked(hashes))
            )
        );
    }

    function digitalCodeDigest(bytes32 contractNo, uint32 orgId, bytes32 docHash, bytes32 terms_)
        internal
        view
        returns (bytes32)
    {
        bytes32 typehash = keccak256(
            "DigitalCode(bytes32 contractNo,uint32 orgId,bytes32 docHash,Terms terms)Stage(bytes32 specHash,uint128 amount)Terms(uint32 partyA,uint32 partyB,address asset,uint128 total,Stage[] stages)"
        );
        return registryDigest(keccak256(abi.encode(typehash, contractNo, orgId, docHash, terms_)));
    }

    function feedbackDigest(
        bytes32 contractNo,
        uint32 payee,
        bytes32 docHash,
        uint8 index,
        StageTerms memory stage,
        bytes32 result
    ) internal view returns (bytes32) {
        bytes32 typehash = keccak256(
            "StageFeedback(bytes32 contractNo,uint32 orgId,bytes32 docHash,uint8 stageIndex,bytes32 specHash,uint128 amount,bytes32 resultHash)"
        );
        return registryDigest(
            keccak256(abi.encode(typehash, contractNo, payee, docHash, index, stage.specHash, stage.amount, result))
        );
    }

    function assignmentDigest(bytes32 voucherId, uint32 assigneeOrg, bytes32 bankAccountHash)
        internal
        view
        returns (bytes32)
    {
        bytes32 typehash =
            keccak256("AssignmentConfirmation(bytes32 voucherId,uint32 assigneeOrg,bytes32 bankAccountHash)");
        return escrowDigest(keccak256(abi.encode(typehash, voucherId, assigneeOrg, bankAccountHash)));
    }

    function jointSettlementDigest(bytes32 voucherId, bool toBeneficiary) internal view returns (bytes32) {
        bytes32 typehash = keccak256("JointSettlement(bytes32 voucherId,bool toBeneficiary)");
        return escrowDigest(keccak256(abi.encode(typehash, voucherId, toBeneficiary)));
    }

    function invoiceDigest(bytes32 voucherId, bytes32 invoiceHash) internal view returns (bytes32) {
        return escrowDigest(
            keccak256(abi.encode(keccak256("Invoice(bytes32 voucherId,bytes32 invoiceHash)"), voucherId, invoiceHash))
        );
    }

    function sign(Vm.Wallet memory wallet, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(wallet, digest);
        return abi.encodePacked(r, s, v);
    }

    // ------------------------------------------------------------------ signed data of each step

    /// @dev The document and terms hashes of `t` as proposed by `payee`: what both parties sign.
    function signedHashesOf(ContractTerms memory t, uint32 payee) internal pure returns (SignedHashes memory) {
        return SignedHashes(t.docHash, termsHash(t.partyA, payee, t.asset, t.stages));
    }

    function signedHashes(bytes32 contractNo, StageTerms[] memory stages) internal view returns (SignedHashes memory) {
        return signedHashesOf(terms(contractNo, stages), B);
    }

    /// @dev `signer`'s signature of the digital code of `orgId` over `signed`.
    function codeSignature(Vm.Wallet memory signer, bytes32 contractNo, uint32 orgId, SignedHashes memory signed)
        internal
        view
        returns (bytes memory)
    {
        return sign(signer, digitalCodeDigest(contractNo, orgId, signed.docHash, signed.termsHash));
    }

    /// @dev `signer`'s signature of the feedback of stage `index` of `t` (proposed by `payee`) with `result`.
    function feedbackSignature(
        Vm.Wallet memory signer,
        ContractTerms memory t,
        uint32 payee,
        uint8 index,
        bytes32 result
    ) internal view returns (bytes memory) {
        return sign(signer, feedbackDigest(t.contractNo, payee, t.docHash, index, t.stages[index], result));
    }

    function resultOf(uint8 index) internal pure returns (bytes32) {
        return keccak256(abi.encode("result", index));
    }

    function accountHash(uint8 seq) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", seq, "CN12 3456 7890"));
    }

    function secretOf(bytes32 contractNo, uint8 seq) internal pure returns (bytes32) {
        return keccak256(abi.encode("secret", contractNo, seq));
    }

    function voucherIdOf(bytes32 contractNo, uint8 seq) internal pure returns (bytes32) {
        return PaymentIds.voucherId(contractNo, seq);
    }

    /// @dev Stand-in ciphertext of `length` bytes (the services' ECIES envelopes: 97 bytes plus the payload).
    function ciphertext(string memory label, uint256 length) internal pure returns (bytes memory data) {
        data = new bytes(length);
        for (uint256 i; i < length; i += 32) {
            bytes32 word = keccak256(abi.encode(label, i));
            for (uint256 j; j < 32 && i + j < length; ++j) {
                data[i + j] = word[j] | 0x01;
            }
        }
    }

    function voucherTerms(bytes32 contractNo, uint8 seq, uint128 amount)
        internal
        view
        returns (PaymentVoucherTerms memory)
    {
        return PaymentVoucherTerms({
            amount: amount,
            bankAccountHash: accountHash(0),
            keyCommitment: escrow.keyCommitmentFor(voucherIdOf(contractNo, seq), secretOf(contractNo, seq)),
            expiry: uint40(block.timestamp + KEY_LIFETIME),
            keyCiphertext: ciphertext("payment key", 243)
        });
    }

    // ------------------------------------------------------------------ the flow, one step a call

    function propose(bytes32 contractNo, StageTerms[] memory stages) internal {
        proposeAs(bBusiness, terms(contractNo, stages));
    }

    /// @dev `wallet`, a BUSINESS account, proposes `t` with its own signature; its org is the payee.
    function proposeAs(Vm.Wallet memory wallet, ContractTerms memory t) internal {
        uint32 payee = registry.memberOf(wallet.addr).orgId;
        bytes memory signature = codeSignature(wallet, t.contractNo, payee, signedHashesOf(t, payee));
        vm.prank(wallet.addr);
        registry.proposeContract(t, wallet.addr, signature);
    }

    function countersign(bytes32 contractNo, StageTerms[] memory stages) internal {
        SignedHashes memory signed = signedHashes(contractNo, stages);
        bytes memory signature = codeSignature(aBusiness, contractNo, A, signed);
        vm.prank(aBusiness.addr);
        registry.signContract(contractNo, signed, stages[0], aBusiness.addr, signature);
    }

    /// @dev A contract proposed by B and countersigned by A: SIGNED.
    function signedContract(bytes32 contractNo, StageTerms[] memory stages) internal {
        propose(contractNo, stages);
        countersign(contractNo, stages);
    }

    function submitStage(bytes32 contractNo, StageTerms[] memory stages, uint8 index, bytes32 result) internal {
        ContractTerms memory t = terms(contractNo, stages);
        bytes memory signature = feedbackSignature(bBusiness, t, B, index, result);
        vm.prank(bBusiness.addr);
        registry.submitStageResult(
            contractNo, index, stages[index], signedHashesOf(t, B), result, bBusiness.addr, signature
        );
    }

    function confirmStage(bytes32 contractNo, StageTerms[] memory stages, uint8 index, bytes32 result) internal {
        SignedHashes memory signed = signedHashes(contractNo, stages);
        vm.prank(aBusiness.addr);
        registry.confirmStageResult(contractNo, index, stages[index], signed, result);
    }

    /// @dev A signed contract whose every stage has its first voucher.
    function vouchedContract(bytes32 contractNo, StageTerms[] memory stages) internal {
        signedContract(contractNo, stages);
        for (uint8 i; i < stages.length; ++i) {
            submitStage(contractNo, stages, i, resultOf(i));
            confirmStage(contractNo, stages, i, resultOf(i));
        }
    }

    function settle(bytes32 contractNo) internal {
        vm.prank(bBusiness.addr);
        registry.applyBusinessSettlement(contractNo);
        vm.prank(aBusiness.addr);
        registry.approveBusinessSettlement(contractNo);
    }

    /// @dev A contract signed, every stage vouched and settled: ready for payment applications.
    function settledContract(bytes32 contractNo, StageTerms[] memory stages) internal {
        vouchedContract(contractNo, stages);
        settle(contractNo);
    }

    function apply_(bytes32 contractNo, uint128 amount) internal returns (uint8 seq) {
        (CollabRegistry.Agreement memory agreement,) = registry.agreementOf(contractNo);
        seq = agreement.paymentCount + 1;
        bytes memory forPayer = ciphertext("account for A", 179);
        bytes memory forInstitution = ciphertext("account for the bank", 179);
        vm.prank(bFinance.addr);
        registry.applyForPayment(contractNo, amount, accountHash(0), forPayer, forInstitution);
    }

    function issue(bytes32 contractNo, uint8 seq, uint128 amount) internal {
        PaymentVoucherTerms memory t = voucherTerms(contractNo, seq, amount);
        vm.prank(aFinance.addr);
        registry.issuePaymentVoucher(contractNo, seq, t);
    }

    /// @dev A settled one-stage contract with one payment voucher for its whole {AMOUNT}: FROZEN, key valid
    /// {KEY_LIFETIME}.
    function frozenPayment(bytes32 contractNo) internal returns (uint8 seq) {
        settledContract(contractNo, stages1());
        seq = apply_(contractNo, AMOUNT);
        issue(contractNo, seq, AMOUNT);
    }

    function redeem(bytes32 contractNo, uint8 seq) internal {
        vm.prank(bFinance.addr);
        escrow.requestPayment(contractNo, seq, secretOf(contractNo, seq));
    }

    /// @dev {frozenPayment} whose key the payee redeemed: REQUESTED, to be paid to B's treasury.
    function requestedPayment(bytes32 contractNo) internal returns (uint8 seq) {
        seq = frozenPayment(contractNo);
        redeem(contractNo, seq);
    }

    /// @dev C presents the payment key B passed it: PRESENTED.
    function present(bytes32 contractNo, uint8 seq) internal {
        vm.prank(cFinance.addr);
        escrow.presentPaymentKey(contractNo, seq, secretOf(contractNo, seq));
    }

    /// @dev B's confirmation that payment `seq` goes to `assignee`'s account hashed {accountHash}(9).
    function assignmentSignature(bytes32 contractNo, uint8 seq, uint32 assignee) internal view returns (bytes memory) {
        return sign(bFinance, assignmentDigest(voucherIdOf(contractNo, seq), assignee, accountHash(9)));
    }

    /// @dev `caller` confirms, with B's signature, that presented payment `seq` pays C: REQUESTED, to C's treasury.
    function confirmAssignmentBy(address caller, bytes32 contractNo, uint8 seq) internal {
        bytes memory signature = assignmentSignature(contractNo, seq, C);
        vm.prank(caller);
        escrow.confirmAssignment(contractNo, seq, C, accountHash(9), hex"c0ffee", bFinance.addr, signature);
    }

    function release(bytes32 contractNo, uint8 seq) internal {
        vm.prank(operator.addr);
        escrow.release(contractNo, seq);
    }

    function reclaim(bytes32 contractNo, uint8 seq) internal {
        vm.prank(aFinance.addr);
        escrow.reclaim(contractNo, seq);
    }

    /// @dev `caller` settles requested payment `seq` jointly with `cosigner`'s signature, after the release deadline.
    function settleJointly(address caller, Vm.Wallet memory cosigner, bytes32 contractNo, uint8 seq, bool toBeneficiary)
        internal
    {
        bytes memory signature = sign(cosigner, jointSettlementDigest(voucherIdOf(contractNo, seq), toBeneficiary));
        vm.prank(caller);
        escrow.settleWithoutInstitution(contractNo, seq, toBeneficiary, cosigner.addr, signature);
    }

    /// @dev Moves time to `voucherId`'s release deadline, when payer and beneficiary may settle without the bank.
    function warpToReleaseDeadline(bytes32 contractNo, uint8 seq) internal {
        vm.warp(escrow.releaseDeadlineOf(voucherIdOf(contractNo, seq)));
    }

    function statusOf(bytes32 contractNo, uint8 seq) internal view returns (VoucherStatus) {
        return escrow.voucherOf(voucherIdOf(contractNo, seq)).status;
    }

    function unpaidOf(bytes32 contractNo) internal view returns (uint128) {
        (CollabRegistry.Agreement memory agreement,) = registry.agreementOf(contractNo);
        return agreement.unpaid;
    }

    // ------------------------------------------------------------------ refusals every step shares

    /**
     * @dev Asserts that `data` sent to `target` is refused, each time from the current state and with the named
     * error and its arguments, when sent by: an account bound to no org (NotAMember); `orgId`'s account of another
     * department (WrongDepartment; for an OPERATOR, A's finance); `department`'s account of `stranger`, an org not
     * party to the step (WrongParty naming `orgId`); the right account while `orgId` is suspended (OrgSuspended).
     * Then the right account takes the step, so each refusal was the caller's alone.
     */
    function expectCallerChecks(address target, bytes memory data, uint32 orgId, Department department, uint32 stranger)
        internal
    {
        address right = walletOf(orgId, department).addr;
        Department other = department == Department.BUSINESS ? Department.FINANCE : Department.BUSINESS;
        address otherDepartment = department == Department.OPERATOR ? aFinance.addr : walletOf(orgId, other).addr;
        Department actual = registry.memberOf(otherDepartment).department;

        expectRefused(outsider, target, data, abi.encodeWithSelector(IConsortium.NotAMember.selector, outsider));
        expectRefused(
            otherDepartment,
            target,
            data,
            abi.encodeWithSelector(IConsortium.WrongDepartment.selector, otherDepartment, department, actual)
        );
        address strangerAccount = walletOf(stranger, department).addr;
        expectRefused(
            strangerAccount,
            target,
            data,
            abi.encodeWithSelector(ICollabErrors.WrongParty.selector, strangerAccount, orgId)
        );
        uint256 snapshot = vm.snapshotState();
        suspend(orgId);
        expectRefused(right, target, data, abi.encodeWithSelector(IConsortium.OrgSuspended.selector, orgId));
        vm.revertToState(snapshot);

        vm.prank(right);
        (bool ok, bytes memory returned) = target.call(data);
        assertTrue(ok, string.concat("the right caller is refused: ", vm.toString(returned)));
    }

    /// @dev {expectRefused} for two steps refused alike by the same state: `calls[i]` sent by `callers[i]`.
    function expectBothRefused(address[2] memory callers, address target, bytes[2] memory calls, bytes memory error_)
        internal
    {
        for (uint256 i; i < calls.length; ++i) {
            expectRefused(callers[i], target, calls[i], error_);
        }
    }

    /// @dev Asserts that `caller` sending `data` to `target` is refused as the signature is not `signer`'s over what
    /// the step expects.
    function expectInvalidSignature(address caller, address target, bytes memory data, address signer) internal {
        expectRefused(caller, target, data, abi.encodeWithSelector(ICollabErrors.InvalidSignature.selector, signer));
    }

    /// @dev Asserts that `caller` sending `data` to `target` reverts with exactly `error_` (selector and arguments).
    function expectRefused(address caller, address target, bytes memory data, bytes memory error_) internal {
        vm.expectRevert(error_);
        vm.prank(caller);
        // with expectRevert pending, forge reports a low-level call as successful iff it reverted with `error_`
        (bool refusedAsExpected,) = target.call(data);
        assertTrue(refusedAsExpected, "expectRevert: the call must revert with the expected error");
    }
}
