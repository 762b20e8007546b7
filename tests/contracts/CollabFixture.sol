// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

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
import {PaymentIds} from "../../contracts/libraries/PaymentIds.sol";

/**
 * @notice A deployed consortium for the Solidity tests: the registry, the escrow and a deposit token; Party A (payer),
 * Party B (payee), Party C (a third member) and a bank; one account per department, and helpers that take each step
 * of the flow as the right actor, signing EIP-712 data computed here independently of the contracts.
 */
abstract contract CollabFixture is Test {
    uint32 internal constant A = 1;
    uint32 internal constant B = 2;
    uint32 internal constant C = 3;
    uint32 internal constant BANK = 900;
    uint40 internal constant RELEASE_WINDOW = 1 days;
    uint40 internal constant KEY_LIFETIME = 7 days;
    uint40 internal constant MIN_KEY_LIFETIME = 1 hours;
    uint256 internal constant A_FUNDS = 1e30;
    bytes internal constant ENCRYPTION_KEY = hex"02bce5a6b8e8c1a0e3c1b4f3e7b0a9d8c7b6a5f4e3d2c1b0a99887766554433221";

    CollabRegistry internal registry;
    PaymentEscrow internal escrow;
    DepositToken internal token;

    Vm.Wallet internal aBusiness;
    Vm.Wallet internal aFinance;
    Vm.Wallet internal bBusiness;
    Vm.Wallet internal bFinance;
    Vm.Wallet internal cFinance;
    Vm.Wallet internal operator;
    address internal aTreasury = makeAddr("treasury A");
    address internal bTreasury = makeAddr("treasury B");
    address internal cTreasury = makeAddr("treasury C");
    address internal bankTreasury = makeAddr("treasury bank");

    function setUp() public virtual {
        aBusiness = vm.createWallet("A business");
        aFinance = vm.createWallet("A finance");
        bBusiness = vm.createWallet("B business");
        bFinance = vm.createWallet("B finance");
        cFinance = vm.createWallet("C finance");
        operator = vm.createWallet("bank operator");

        registry = new CollabRegistry(address(this));
        registry.registerOrg(BANK, "Bank", OrgKind.PAYMENT_INSTITUTION, bankTreasury, ENCRYPTION_KEY);
        escrow = new PaymentEscrow(registry, BANK, RELEASE_WINDOW, MIN_KEY_LIFETIME);
        registry.setEscrow(escrow);
        token = new DepositToken("Deposit", "DEP", bankTreasury);
        registry.setAssetAccepted(address(token), true);

        registry.registerOrg(A, "Party A", OrgKind.ENTERPRISE, aTreasury, ENCRYPTION_KEY);
        registry.registerOrg(B, "Party B", OrgKind.ENTERPRISE, bTreasury, ENCRYPTION_KEY);
        registry.registerOrg(C, "Party C", OrgKind.ENTERPRISE, cTreasury, ENCRYPTION_KEY);
        registry.bindAccount(aBusiness.addr, A, Department.BUSINESS);
        registry.bindAccount(aFinance.addr, A, Department.FINANCE);
        registry.bindAccount(bBusiness.addr, B, Department.BUSINESS);
        registry.bindAccount(bFinance.addr, B, Department.FINANCE);
        registry.bindAccount(cFinance.addr, C, Department.FINANCE);
        registry.bindAccount(operator.addr, BANK, Department.OPERATOR);

        vm.prank(bankTreasury);
        token.mint(aTreasury, A_FUNDS);
        vm.prank(aTreasury);
        token.approve(address(escrow), type(uint256).max);
    }

    // ------------------------------------------------------------------ contract terms

    function stages1() internal pure returns (StageTerms[] memory stages) {
        stages = new StageTerms[](1);
        stages[0] = StageTerms(keccak256("deliver the goods"), 1000_00);
    }

    function stagesN(uint256 count, uint128 amount) internal pure returns (StageTerms[] memory stages) {
        stages = new StageTerms[](count);
        for (uint256 i; i < count; ++i) {
            stages[i] = StageTerms(keccak256(abi.encode("stage", i)), amount);
        }
    }

    function terms(bytes32 contractNo, StageTerms[] memory stages) internal view returns (ContractTerms memory) {
        return ContractTerms(contractNo, A, keccak256(abi.encode("document", contractNo)), address(token), stages);
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
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator("collab CollabRegistry", address(registry)), structHash));
    }

    function escrowDigest(bytes32 structHash) internal view returns (bytes32) {
        return keccak256(abi.encodePacked("\x19\x01", domainSeparator("collab PaymentEscrow", address(escrow)), structHash));
    }

    function termsHash(uint32 partyA, uint32 partyB, address asset, StageTerms[] memory stages)
        internal
        pure
        returns (bytes32)
    {
        bytes32[] memory hashes = new bytes32[](stages.length);
        for (uint256 i; i < stages.length; ++i) {
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
                total(stages),
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

    function feedbackDigest(bytes32 contractNo, bytes32 docHash, uint8 index, StageTerms memory stage, bytes32 result)
        internal
        view
        returns (bytes32)
    {
        bytes32 typehash = keccak256(
            "StageFeedback(bytes32 contractNo,uint32 orgId,bytes32 docHash,uint8 stageIndex,bytes32 specHash,uint128 amount,bytes32 resultHash)"
        );
        return registryDigest(
            keccak256(abi.encode(typehash, contractNo, B, docHash, index, stage.specHash, stage.amount, result))
        );
    }

    function sign(Vm.Wallet memory wallet, bytes32 digest) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(wallet, digest);
        return abi.encodePacked(r, s, v);
    }

    // ------------------------------------------------------------------ the flow, one step a call

    function propose(bytes32 contractNo, StageTerms[] memory stages) internal {
        ContractTerms memory t = terms(contractNo, stages);
        bytes32 digest = digitalCodeDigest(contractNo, B, t.docHash, termsHash(A, B, address(token), stages));
        bytes memory signature = sign(bBusiness, digest);
        vm.prank(bBusiness.addr);
        registry.proposeContract(t, bBusiness.addr, signature);
    }

    function signedHashes(bytes32 contractNo, StageTerms[] memory stages) internal view returns (SignedHashes memory) {
        return SignedHashes(terms(contractNo, stages).docHash, termsHash(A, B, address(token), stages));
    }

    function countersign(bytes32 contractNo, StageTerms[] memory stages) internal {
        SignedHashes memory signed = signedHashes(contractNo, stages);
        bytes memory signature = sign(aBusiness, digitalCodeDigest(contractNo, A, signed.docHash, signed.termsHash));
        vm.prank(aBusiness.addr);
        registry.signContract(contractNo, signed, stages[0], aBusiness.addr, signature);
    }

    function submitStage(bytes32 contractNo, StageTerms[] memory stages, uint8 index, bytes32 result) internal {
        SignedHashes memory signed = signedHashes(contractNo, stages);
        bytes memory signature =
            sign(bBusiness, feedbackDigest(contractNo, signed.docHash, index, stages[index], result));
        vm.prank(bBusiness.addr);
        registry.submitStageResult(contractNo, index, stages[index], signed, result, bBusiness.addr, signature);
    }

    function confirmStage(bytes32 contractNo, StageTerms[] memory stages, uint8 index, bytes32 result) internal {
        SignedHashes memory signed = signedHashes(contractNo, stages);
        vm.prank(aBusiness.addr);
        registry.confirmStageResult(contractNo, index, stages[index], signed, result);
    }

    function settle(bytes32 contractNo) internal {
        vm.prank(bBusiness.addr);
        registry.applyBusinessSettlement(contractNo);
        vm.prank(aBusiness.addr);
        registry.approveBusinessSettlement(contractNo);
    }

    /// @dev A contract signed, every stage vouched and settled: ready for payment applications.
    function settledContract(bytes32 contractNo, StageTerms[] memory stages) internal {
        propose(contractNo, stages);
        countersign(contractNo, stages);
        for (uint8 i; i < stages.length; ++i) {
            bytes32 result = keccak256(abi.encode("result", i));
            submitStage(contractNo, stages, i, result);
            confirmStage(contractNo, stages, i, result);
        }
        settle(contractNo);
    }

    function accountHash(uint8 seq) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", seq, "CN12 3456 7890"));
    }

    function secretOf(bytes32 contractNo, uint8 seq) internal pure returns (bytes32) {
        return keccak256(abi.encode("secret", contractNo, seq));
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

    function apply_(bytes32 contractNo, uint128 amount) internal returns (uint8 seq) {
        (CollabRegistry.Agreement memory agreement,) = registry.agreementOf(contractNo);
        seq = agreement.paymentCount + 1;
        bytes memory forPayer = ciphertext("account for A", 179);
        bytes memory forInstitution = ciphertext("account for the bank", 179);
        vm.prank(bFinance.addr);
        registry.applyForPayment(contractNo, amount, accountHash(0), forPayer, forInstitution);
    }

    function voucherTerms(bytes32 contractNo, uint8 seq, uint128 amount) internal view returns (PaymentVoucherTerms memory) {
        bytes32 voucherId = PaymentIds.voucherId(contractNo, seq);
        return PaymentVoucherTerms({
            amount: amount,
            bankAccountHash: accountHash(0),
            keyCommitment: escrow.keyCommitmentFor(voucherId, secretOf(contractNo, seq)),
            expiry: uint40(block.timestamp + KEY_LIFETIME),
            keyCiphertext: ciphertext("payment key", 243)
        });
    }

    function issue(bytes32 contractNo, uint8 seq, uint128 amount) internal {
        PaymentVoucherTerms memory t = voucherTerms(contractNo, seq, amount);
        vm.prank(aFinance.addr);
        registry.issuePaymentVoucher(contractNo, seq, t);
    }

    function redeem(bytes32 contractNo, uint8 seq) internal {
        vm.prank(bFinance.addr);
        escrow.requestPayment(contractNo, seq, secretOf(contractNo, seq));
    }

    function release(bytes32 contractNo, uint8 seq) internal {
        vm.prank(operator.addr);
        escrow.release(contractNo, seq);
    }

    function statusOf(bytes32 contractNo, uint8 seq) internal view returns (VoucherStatus) {
        return escrow.voucherOf(PaymentIds.voucherId(contractNo, seq)).status;
    }
}
