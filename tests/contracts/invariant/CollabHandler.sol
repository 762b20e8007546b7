// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Vm} from "forge-std/Vm.sol";
import {CollabRegistry} from "../../../contracts/CollabRegistry.sol";
import {
    ContractStatus,
    ContractTerms,
    Department,
    PaymentVoucherTerms,
    SignedHashes,
    StageStatus,
    StageTerms,
    VoucherStatus
} from "../../../contracts/CollabTypes.sol";
import {PaymentEscrow} from "../../../contracts/PaymentEscrow.sol";
import {SwitchableToken} from "../../../contracts/mocks/SwitchableToken.sol";
import {CollabFixture} from "../CollabFixture.sol";

/// @notice What the statuses of a payment or stage mean for the invariants, and the transitions the contracts
/// document for them.
library Statuses {
    /// @notice Whether a payment in `status` holds its amount out of the contract's unpaid amount.
    function reserves(VoucherStatus status) internal pure returns (bool) {
        return status == VoucherStatus.APPLIED || status == VoucherStatus.FROZEN || status == VoucherStatus.PRESENTED
            || status == VoucherStatus.REQUESTED || status == VoucherStatus.RELEASED;
    }

    /// @notice Whether a payment in `status` has its funds in the escrow.
    function holdsFunds(VoucherStatus status) internal pure returns (bool) {
        return status == VoucherStatus.FROZEN || status == VoucherStatus.PRESENTED || status == VoucherStatus.REQUESTED;
    }

    /// @notice The transitions {VoucherStatus} documents; a status may also stay as it is.
    function voucherMayMove(VoucherStatus from, VoucherStatus to) internal pure returns (bool) {
        if (from == to) return true;
        if (from == VoucherStatus.NONE) return to == VoucherStatus.APPLIED;
        if (from == VoucherStatus.APPLIED) {
            return to == VoucherStatus.FROZEN || to == VoucherStatus.REFUSED || to == VoucherStatus.WITHDRAWN;
        }
        if (from == VoucherStatus.FROZEN) {
            return to == VoucherStatus.PRESENTED || to == VoucherStatus.REQUESTED || to == VoucherStatus.RECLAIMED;
        }
        if (from == VoucherStatus.PRESENTED) return to == VoucherStatus.REQUESTED || to == VoucherStatus.RECLAIMED;
        if (from == VoucherStatus.REQUESTED) return to == VoucherStatus.RELEASED || to == VoucherStatus.RECLAIMED;
        return false; // RELEASED, RECLAIMED, REFUSED and WITHDRAWN are final
    }

    /// @notice Stages go OPEN, PENDING, then CONFIRMED (final) or REJECTED, from which a new result is PENDING.
    function stageMayMove(StageStatus from, StageStatus to) internal pure returns (bool) {
        if (from == to) return true;
        if (from == StageStatus.NONE) return to == StageStatus.OPEN;
        if (from == StageStatus.OPEN || from == StageStatus.REJECTED) return to == StageStatus.PENDING;
        if (from == StageStatus.PENDING) return to == StageStatus.CONFIRMED || to == StageStatus.REJECTED;
        return false;
    }
}

/**
 * @title CollabHandler
 * @notice The actors of the invariant campaign, in one handler that is also the consortium's governance. Every
 * action takes three random words (which contract or payment, which actor, which value), bounds them, picks a
 * contract or payment in a state where the action can succeed, and sends it as the right actor; one time in four it
 * sends it as a random account instead, and now and then with a wrong input (tampered document, over-unpaid amount,
 * swapped account, wrong secret, unlisted asset). Whatever the model knows must fail (a wrong actor, status, time or
 * input) and succeeds is a violation. The handler keeps a model of every contract, stage and payment, of the
 * treasuries governance set, and of every balance it should see, updated only by actions that succeeded, with the
 * status transitions {VoucherStatus} documents; and counts successes per action (no dead handler).
 * @dev Contracts are between two of A, B and C (any order); the third is the one that may be assigned the key.
 * Payments are in the deposit token or in a {SwitchableToken} whose transfers the campaign breaks and repairs.
 */
contract CollabHandler is CollabFixture {
    /// @notice What the handler counts successes of; governance and environment changes included.
    enum Action {
        Propose,
        Sign,
        SubmitStage,
        ConfirmStage,
        RejectStage,
        ApplySettlement,
        ApproveSettlement,
        ApplyForPayment,
        WithdrawApplication,
        RefuseApplication,
        IssueVoucher,
        RequestPayment,
        PresentKey,
        ConfirmAssignment,
        Release,
        Reclaim,
        SettleJointly,
        PinTreasury,
        AnchorInvoice,
        Pause,
        Unpause,
        SuspendOrg,
        ReinstateOrg,
        SetTreasury,
        BreakToken,
        RepairToken,
        WithdrawAsset,
        AcceptAsset,
        PrivilegedCallRefused,
        Warp
    }

    /// @notice The model of a contract: parties, asset, total, status, and its applications: how many, and the sum
    /// of those that hold an amount (see {Statuses-reserves}).
    struct Deal {
        bytes32 contractNo;
        uint32 payer;
        uint32 payee;
        address asset;
        uint128 total;
        ContractStatus status;
        uint8 stageCount;
        uint8 applications;
        uint128 reserved;
    }

    /// @notice The model of a payment: its contract, amount, status, key expiry and, once requested, where it goes.
    struct Payment {
        uint256 deal;
        uint8 seq;
        uint128 amount;
        VoucherStatus status;
        uint40 expiry;
        uint32 presenter;
        uint32 beneficiaryOrg;
        address pinned;
        bool invoiced;
    }

    /// @notice A tracked balance: what `holder` has of `asset` and what the model expects it to have.
    struct Balance {
        address asset;
        address holder;
        uint256 actual;
        uint256 expected;
    }

    /// @notice A contract as the model and the chain see it, for the invariants to compare.
    struct DealView {
        Deal model;
        CollabRegistry.Agreement chain;
    }

    /// @notice A stage as the model and the chain see it.
    struct StageView {
        uint256 deal;
        uint8 stage;
        StageStatus model;
        StageStatus chain;
    }

    /// @notice A payment as the model and the escrow see it.
    struct PaymentView {
        uint256 deal;
        address asset;
        uint32 payee;
        VoucherStatus model;
        address pinned;
        PaymentEscrow.Voucher chain;
        bytes32 commitment;
        uint256 releaseDeadline;
    }

    uint256 internal constant ACTIONS = uint256(type(Action).max) + 1;
    uint256 internal constant MAX_DEALS = 8;
    uint256 internal constant SEEDED_DEALS = 4;
    uint256 internal constant MAX_PAYMENTS = 48;
    uint256 internal constant MAX_STAGE_AMOUNT = 1e12;
    uint256 internal constant FUNDS = 1e30;

    SwitchableToken public switchable;
    /// @dev A token governance never lists: proposals paid in it must be refused.
    SwitchableToken internal unlisted;

    mapping(Action => uint256) public successes;
    mapping(Action => uint256) public refusals;
    /// @notice Actions the model knew must fail that succeeded, and model/chain disagreements seen by the handler.
    string[] public violations;

    Deal[] internal _deals;
    mapping(uint256 deal => mapping(uint256 stage => StageTerms)) internal _stageTerms;
    mapping(uint256 deal => mapping(uint256 stage => StageStatus)) public stageStatus;
    mapping(uint256 deal => mapping(uint256 stage => bytes32)) internal _results;
    Payment[] internal _payments;

    /// @notice The treasury the model expects governance to have set for each enterprise.
    mapping(uint32 orgId => address) public treasuryModel;
    mapping(uint32 orgId => address[2]) internal _treasuryChoices;
    mapping(uint32 orgId => bool) public suspended;
    /// @notice Whether governance accepts the switchable token for new contracts (it may withdraw it).
    bool public switchableAccepted = true;

    /// @notice Balance every tracked holder should have of every asset, moved only by successful actions.
    mapping(address asset => mapping(address holder => uint256)) public expectedBalance;
    mapping(address asset => uint256) public issued;
    mapping(address asset => uint256) public paid;
    mapping(address asset => uint256) public reclaimed;
    address[] internal _holders;
    address[] internal _accounts;
    uint256 internal _nonce;

    constructor() {
        setUp();
        switchable = new SwitchableToken();
        unlisted = new SwitchableToken();
        registry.setAssetAccepted(address(switchable), true);
        uint32[3] memory enterprises = [A, B, C];
        address[3] memory primary = [aTreasury, bTreasury, cTreasury];
        for (uint256 i; i < 3; ++i) {
            uint32 org = enterprises[i];
            address alternate = makeAddr(string.concat("alternate treasury ", vm.toString(org)));
            _treasuryChoices[org] = [primary[i], alternate];
            treasuryModel[org] = primary[i];
            _fund(primary[i]);
            _fund(alternate);
            _accounts.push(walletOf(org, Department.BUSINESS).addr);
            _accounts.push(walletOf(org, Department.FINANCE).addr);
        }
        _accounts.push(operator.addr);
        _accounts.push(otherOperator.addr);
        _accounts.push(outsider);
        _holders.push(address(escrow));
        address[2] memory assets_ = assets();
        for (uint256 a; a < 2; ++a) {
            for (uint256 h; h < _holders.length; ++h) {
                expectedBalance[assets_[a]][_holders[h]] = IERC20(assets_[a]).balanceOf(_holders[h]);
            }
        }
        _seedSettledDeals();
    }

    /**
     * @dev Every run starts from the same state: {SEEDED_DEALS} settled contracts, between every pair in both
     * assets, each with one application and one frozen payment. A complete flow takes a dozen steps, so without
     * this few runs would reach the escrow; the campaign still proposes, signs and settles the other contracts.
     * The seed goes through the actions themselves, as the right actor without mistakes (`actorSeed` 1, value
     * seeds chosen for that), so the model is built as in a run.
     */
    function _seedSettledDeals() private {
        for (uint256 d; d < SEEDED_DEALS; ++d) {
            // pair d, in the deposit token for even d, with 2 or 3 stages, in a listed asset
            propose(d, 1, (d % 2) << 8 | 1 << 16);
            sign(d, 1, 1);
            for (uint256 s; s < _deals[d].stageCount; ++s) {
                submitStage(d, 1, s);
                decideStage(d, 1, 1);
            }
            applySettlement(d, 1, 0);
            approveSettlement(d, 1, 0);
            applyForPayment(d, 1, 1 | 1000 << 8); // an application of 1,001
            decideApplication(_payments.length - 1, 1, 3 << 67 | 2); // issued, without a mistake
            applyForPayment(d, 1, 1 | 1000 << 8);
        }
    }

    /// @dev Gives `treasury` {FUNDS} of both assets, approves the escrow for them and tracks its balances.
    function _fund(address treasury) private {
        uint256 already = token.balanceOf(treasury);
        vm.prank(bankTreasury);
        token.mint(treasury, FUNDS);
        switchable.mint(treasury, FUNDS);
        vm.startPrank(treasury);
        token.approve(address(escrow), type(uint256).max);
        switchable.approve(address(escrow), type(uint256).max);
        vm.stopPrank();
        expectedBalance[address(token)][treasury] = already + FUNDS;
        expectedBalance[address(switchable)][treasury] = FUNDS;
        _holders.push(treasury);
    }

    // ================================================================== S2–S4: contracts, stages, settlement

    /// @notice Party B of a random pair proposes a contract of 1–3 stages in one of the two assets; one time in
    /// sixteen in an asset governance never listed. A proposal in an asset governance withdrew must fail.
    function propose(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) public {
        if (_deals.length == MAX_DEALS) return;
        (uint32 payer, uint32 payee) = _pair(entitySeed);
        uint256 count = 1 + valueSeed % 3;
        StageTerms[] memory stages = new StageTerms[](count);
        for (uint256 i; i < count; ++i) {
            uint256 amount = 1 + uint256(keccak256(abi.encode(valueSeed, i))) % MAX_STAGE_AMOUNT;
            stages[i] = StageTerms(keccak256(abi.encode("specification", _deals.length, i)), uint128(amount));
        }
        bool neverListed = (valueSeed >> 16) % 16 == 0;
        address asset =
            neverListed ? address(unlisted) : (valueSeed >> 8) % 2 == 0 ? address(token) : address(switchable);
        bool unlistedAsset = neverListed || (asset == address(switchable) && !switchableAccepted);
        ContractTerms memory t = termsFor(keccak256(abi.encode("deal", _deals.length)), payer, asset, stages);
        bytes memory signature = codeSignature(_business(payee), t.contractNo, payee, signedHashesOf(t, payee));
        (address actor, bool wrong) = _actor(actorSeed, _business(payee).addr);
        if (!_attempt(
                Action.Propose,
                actor,
                wrong || unlistedAsset,
                address(registry),
                abi.encodeCall(registry.proposeContract, (t, _business(payee).addr, signature))
            )) return;
        _deals.push(Deal(t.contractNo, payer, payee, asset, total(stages), ContractStatus.PROPOSED, uint8(count), 0, 0));
        for (uint256 i; i < count; ++i) {
            _stageTerms[_deals.length - 1][i] = stages[i];
            stageStatus[_deals.length - 1][i] = StageStatus.OPEN;
        }
    }

    /// @notice Party A countersigns a proposed contract; one time in eight over a tampered document.
    function sign(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) public {
        (bool any, uint256 d, bool inState) = _pickDeal(entitySeed, ContractStatus.PROPOSED);
        if (!any) return;
        Deal storage deal = _deals[d];
        ContractTerms memory t = _terms(d);
        bool tampered = valueSeed % 8 == 0;
        if (tampered) t.docHash = keccak256(abi.encode("tampered", valueSeed));
        SignedHashes memory signed = signedHashesOf(t, deal.payee);
        bytes memory signature = codeSignature(_business(deal.payer), t.contractNo, deal.payer, signed);
        (address actor, bool wrong) = _actor(actorSeed, _business(deal.payer).addr);
        bytes memory data = abi.encodeCall(
            registry.signContract, (t.contractNo, signed, t.stages[0], _business(deal.payer).addr, signature)
        );
        if (_attempt(Action.Sign, actor, wrong || !inState || tampered, address(registry), data)) {
            _setDealStatus(d, ContractStatus.SIGNED);
        }
    }

    /// @notice Party B submits the result of an open or rejected stage of a signed contract.
    function submitStage(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) public {
        (bool any, uint256 d, bool inState) = _pickDeal(entitySeed, ContractStatus.SIGNED);
        if (!any) return;
        (uint8 s, bool stageReady) = _pickStage(d, valueSeed, StageStatus.OPEN, StageStatus.REJECTED);
        Deal storage deal = _deals[d];
        ContractTerms memory t = _terms(d);
        bytes32 result = keccak256(abi.encode("result", ++_nonce));
        bytes memory signature = feedbackSignature(_business(deal.payee), t, deal.payee, s, result);
        (address actor, bool wrong) = _actor(actorSeed, _business(deal.payee).addr);
        bytes memory data = abi.encodeCall(
            registry.submitStageResult,
            (t.contractNo, s, t.stages[s], signedHashesOf(t, deal.payee), result, _business(deal.payee).addr, signature)
        );
        if (_attempt(Action.SubmitStage, actor, wrong || !inState || !stageReady, address(registry), data)) {
            _setStageStatus(d, s, StageStatus.PENDING);
            _results[d][s] = result;
        }
    }

    /// @notice Party A confirms a pending stage result (its first voucher) or, one time in four, rejects it; Party
    /// B may then submit again.
    function decideStage(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) public {
        _decideStage(valueSeed % 4 == 0 ? Action.RejectStage : Action.ConfirmStage, entitySeed, actorSeed, valueSeed);
    }

    function _decideStage(Action action, uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) private {
        (bool any, uint256 d, bool inState) = _pickDeal(entitySeed, ContractStatus.SIGNED);
        if (!any) return;
        (uint8 s, bool pending) = _pickStage(d, valueSeed, StageStatus.PENDING, StageStatus.PENDING);
        Deal storage deal = _deals[d];
        ContractTerms memory t = _terms(d);
        SignedHashes memory signed = signedHashesOf(t, deal.payee);
        bytes memory data = action == Action.ConfirmStage
            ? abi.encodeCall(registry.confirmStageResult, (t.contractNo, s, t.stages[s], signed, _results[d][s]))
            : abi.encodeCall(
                registry.rejectStageResult, (t.contractNo, s, t.stages[s], signed, _results[d][s], bytes32(valueSeed))
            );
        (address actor, bool wrong) = _actor(actorSeed, _business(deal.payer).addr);
        if (_attempt(action, actor, wrong || !inState || !pending, address(registry), data)) {
            _setStageStatus(d, s, action == Action.ConfirmStage ? StageStatus.CONFIRMED : StageStatus.REJECTED);
        }
    }

    /// @notice Party B applies for business settlement of a signed contract whose stages are all vouched.
    function applySettlement(uint256 entitySeed, uint256 actorSeed, uint256) public {
        uint256 n = _deals.length;
        if (n == 0) return;
        uint256 d = entitySeed % n;
        for (uint256 k; k < n && !_readyForSettlement(d); ++k) {
            d = (entitySeed % n + k + 1) % n;
        }
        Deal storage deal = _deals[d];
        (address actor, bool wrong) = _actor(actorSeed, _business(deal.payee).addr);
        bytes memory data = abi.encodeCall(registry.applyBusinessSettlement, (deal.contractNo));
        if (_attempt(Action.ApplySettlement, actor, wrong || !_readyForSettlement(d), address(registry), data)) {
            _setDealStatus(d, ContractStatus.SETTLEMENT_REQUESTED);
        }
    }

    /// @notice Party A approves business settlement: the contract's business settlement voucher.
    function approveSettlement(uint256 entitySeed, uint256 actorSeed, uint256) public {
        (bool any, uint256 d, bool inState) = _pickDeal(entitySeed, ContractStatus.SETTLEMENT_REQUESTED);
        if (!any) return;
        Deal storage deal = _deals[d];
        (address actor, bool wrong) = _actor(actorSeed, _business(deal.payer).addr);
        bytes memory data = abi.encodeCall(registry.approveBusinessSettlement, (deal.contractNo));
        if (_attempt(Action.ApproveSettlement, actor, wrong || !inState, address(registry), data)) {
            _setDealStatus(d, ContractStatus.SETTLED);
        }
    }

    // ================================================================== S5: applications and vouchers

    /// @notice Party B's finance applies for a random amount of a settled contract; one time in eight for more
    /// than is unpaid.
    function applyForPayment(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) public {
        if (_payments.length == MAX_PAYMENTS) return;
        (bool any, uint256 d, bool inState) = _pickDeal(entitySeed, ContractStatus.SETTLED);
        if (!any) return;
        Deal storage deal = _deals[d];
        uint128 unpaid = unpaidModel(d);
        uint128 amount = valueSeed % 8 == 0
            ? unpaid + 1 + uint128(valueSeed >> 128) % 1000
            : uint128(1 + (valueSeed >> 8) % (unpaid == 0 ? 1 : unpaid));
        uint8 seq = deal.applications + 1;
        (address actor, bool wrong) = _actor(actorSeed, _finance(deal.payee).addr);
        bytes memory data = abi.encodeCall(
            registry.applyForPayment, (deal.contractNo, amount, accountHash(seq), hex"a11ce0", hex"ba4c")
        );
        if (_attempt(Action.ApplyForPayment, actor, wrong || !inState || amount > unpaid, address(registry), data)) {
            _payments.push(Payment(d, seq, amount, VoucherStatus.APPLIED, 0, 0, 0, address(0), false));
            deal.applications = seq;
            deal.reserved += amount;
            _checkVoucher(_payments.length - 1);
        }
    }

    /// @notice An application is decided: mostly Party A's finance issues its voucher ({_issueVoucher}); one time
    /// in eight it refuses the application, one time in eight Party B's finance withdraws it.
    function decideApplication(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) public {
        uint256 decision = valueSeed % 8;
        if (decision == 0) _closeApplication(Action.RefuseApplication, entitySeed, actorSeed);
        else if (decision == 1) _closeApplication(Action.WithdrawApplication, entitySeed, actorSeed);
        else _issueVoucher(entitySeed, actorSeed, valueSeed >> 3);
    }

    function _closeApplication(Action action, uint256 entitySeed, uint256 actorSeed) private {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.APPLIED, VoucherStatus.APPLIED);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        bool withdraw = action == Action.WithdrawApplication;
        (address actor, bool wrong) = _actor(actorSeed, _finance(withdraw ? deal.payee : deal.payer).addr);
        bytes memory data = withdraw
            ? abi.encodeCall(registry.withdrawPaymentApplication, (deal.contractNo, payment.seq))
            : abi.encodeCall(registry.refusePaymentApplication, (deal.contractNo, payment.seq, bytes32("reason")));
        if (_attempt(action, actor, wrong || !inState, address(registry), data)) {
            _setVoucherStatus(p, withdraw ? VoucherStatus.WITHDRAWN : VoucherStatus.REFUSED);
        }
    }

    /// @dev Party A's finance issues the voucher of an application, freezing its amount; one time in eleven with
    /// another amount or account, or an expiry out of range.
    function _issueVoucher(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) private {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.APPLIED, VoucherStatus.APPLIED);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        PaymentVoucherTerms memory t = PaymentVoucherTerms({
            amount: payment.amount,
            bankAccountHash: accountHash(payment.seq),
            keyCommitment: escrow.keyCommitmentFor(
                voucherIdOf(deal.contractNo, payment.seq), secretOf(deal.contractNo, payment.seq)
            ),
            expiry: uint40(block.timestamp + 1 hours + valueSeed % 5 days),
            keyCiphertext: hex"6b6579"
        });
        uint256 mistake = (valueSeed >> 64) % 32;
        if (mistake == 0) t.amount += 1;
        if (mistake == 1) t.bankAccountHash = keccak256("the payer's account");
        if (mistake == 2) t.expiry = uint40(block.timestamp);
        (address actor, bool wrong) = _actor(actorSeed, _finance(deal.payer).addr);
        bytes memory data = abi.encodeCall(registry.issuePaymentVoucher, (deal.contractNo, payment.seq, t));
        if (_attempt(Action.IssueVoucher, actor, wrong || !inState || mistake < 3, address(registry), data)) {
            _setVoucherStatus(p, VoucherStatus.FROZEN);
            payment.expiry = t.expiry;
            _move(deal.asset, treasuryModel[deal.payer], address(escrow), payment.amount);
            issued[deal.asset] += payment.amount;
        }
    }

    // ================================================================== S6: key, assignment, release, exits

    /// @notice A payment key is used: one time in three the third org presents it ({_presentKey}), otherwise the
    /// payee redeems it ({_requestPayment}).
    function useKey(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) external {
        if (valueSeed % 3 == 0) _presentKey(entitySeed, actorSeed);
        else _requestPayment(entitySeed, actorSeed, valueSeed / 3);
    }

    /// @dev Party B's finance redeems the key of a frozen payment or, one time in four, overrides the presentation
    /// of a presented one; one time in eight with a wrong secret.
    function _requestPayment(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) private {
        VoucherStatus wanted = (valueSeed >> 8) % 4 == 0 ? VoucherStatus.PRESENTED : VoucherStatus.FROZEN;
        (bool any, uint256 p,) = _pickPayment(entitySeed, wanted, wanted);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        bool wrongSecret = valueSeed % 8 == 0;
        bytes32 secret = wrongSecret ? bytes32(valueSeed) : secretOf(deal.contractNo, payment.seq);
        (address actor, bool wrong) = _actor(actorSeed, _finance(deal.payee).addr);
        bool redeemable = payment.status == VoucherStatus.FROZEN || payment.status == VoucherStatus.PRESENTED;
        bool mustFail = wrong || !redeemable || wrongSecret || block.timestamp >= payment.expiry;
        bytes memory data = abi.encodeCall(escrow.requestPayment, (deal.contractNo, payment.seq, secret));
        if (_attempt(Action.RequestPayment, actor, mustFail, address(escrow), data)) {
            _pin(p, deal.payee);
        }
    }

    /// @dev The third org's finance presents the key of a frozen payment.
    function _presentKey(uint256 entitySeed, uint256 actorSeed) private {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.FROZEN, VoucherStatus.FROZEN);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        uint32 third = _third(deal);
        (address actor, bool wrong) = _actor(actorSeed, _finance(third).addr);
        bool mustFail = wrong || !inState || block.timestamp >= payment.expiry;
        bytes memory data = abi.encodeCall(
            escrow.presentPaymentKey, (deal.contractNo, payment.seq, secretOf(deal.contractNo, payment.seq))
        );
        if (_attempt(Action.PresentKey, actor, mustFail, address(escrow), data)) {
            _setVoucherStatus(p, VoucherStatus.PRESENTED);
            payment.presenter = third;
        }
    }

    /// @notice The payee's or the assignee's finance sends the payee's confirmation that the third org is paid,
    /// whether it presented the key or not; one time in eight naming the payer instead.
    function confirmAssignment(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) external {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.FROZEN, VoucherStatus.PRESENTED);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        uint32 presenter = payment.presenter == 0 ? _third(deal) : payment.presenter;
        bool misnamed = valueSeed % 8 == 0;
        uint32 assignee = misnamed ? deal.payer : presenter;
        bytes memory signature = sign(
            _finance(deal.payee), assignmentDigest(voucherIdOf(deal.contractNo, payment.seq), assignee, accountHash(9))
        );
        (address actor, bool wrong) =
            _actor2(actorSeed, _finance(deal.payee).addr, _finance(presenter).addr, (valueSeed >> 8) % 2 == 0);
        bool mustFail = wrong || !inState || misnamed || block.timestamp >= payment.expiry;
        bytes memory data = abi.encodeCall(
            escrow.confirmAssignment,
            (deal.contractNo, payment.seq, assignee, accountHash(9), hex"c0ffee", _finance(deal.payee).addr, signature)
        );
        if (_attempt(Action.ConfirmAssignment, actor, mustFail, address(escrow), data)) {
            _pin(p, presenter);
        }
    }

    /// @notice The institution's operator releases a requested payment, except one payment in three, which it
    /// never releases: those end by settlement without it. One time in four the beneficiary pins its treasury of
    /// now instead ({_pinTreasury}).
    function release(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) external {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.REQUESTED, VoucherStatus.REQUESTED);
        if (!any) return;
        if (valueSeed % 4 == 0) return _pinTreasury(p, actorSeed, inState);
        Payment storage payment = _payments[p];
        bytes32 voucherId = voucherIdOf(_deals[payment.deal].contractNo, payment.seq);
        if (inState && uint256(keccak256(abi.encode(voucherId))) % 3 == 0) return; // S6.5's operator that never acts
        (address actor, bool wrong) = _actor(actorSeed, operator.addr);
        bytes memory data = abi.encodeCall(escrow.release, (_deals[payment.deal].contractNo, payment.seq));
        if (_attempt(Action.Release, actor, wrong || !inState, address(escrow), data)) _pay(p);
    }

    /// @dev The beneficiary's finance pins its current treasury for a requested payment (after a treasury move).
    function _pinTreasury(uint256 p, uint256 actorSeed, bool inState) private {
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        uint32 beneficiary = payment.beneficiaryOrg == 0 ? deal.payee : payment.beneficiaryOrg;
        (address actor, bool wrong) = _actor(actorSeed, _finance(beneficiary).addr);
        bytes memory data = abi.encodeCall(escrow.pinBeneficiaryTreasury, (deal.contractNo, payment.seq));
        if (_attempt(Action.PinTreasury, actor, wrong || !inState, address(escrow), data)) {
            payment.pinned = treasuryModel[beneficiary];
        }
    }

    /// @notice Party A's finance reclaims a frozen or presented payment (it must wait for the key's expiry).
    function reclaim(uint256 entitySeed, uint256 actorSeed, uint256) external {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.FROZEN, VoucherStatus.PRESENTED);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        (address actor, bool wrong) = _actor(actorSeed, _finance(deal.payer).addr);
        bool mustFail = wrong || !inState || block.timestamp < payment.expiry;
        bytes memory data = abi.encodeCall(escrow.reclaim, (deal.contractNo, payment.seq));
        if (_attempt(Action.Reclaim, actor, mustFail, address(escrow), data)) _return(p);
    }

    /// @notice Payer or beneficiary settles a requested payment with the other's signature, either way (it must
    /// wait for the release deadline); when the other's org is suspended, only in its own favour.
    function settleJointly(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) external {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.REQUESTED, VoucherStatus.REQUESTED);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        uint32 beneficiary = payment.beneficiaryOrg == 0 ? deal.payee : payment.beneficiaryOrg;
        bool payerCalls = (valueSeed >> 8) % 2 == 0;
        bool toBeneficiary = valueSeed % 2 == 0;
        bytes32 voucherId = voucherIdOf(deal.contractNo, payment.seq);
        bytes memory data = _jointCall(deal, payment.seq, toBeneficiary, payerCalls ? beneficiary : deal.payer);
        (address actor, bool wrong) =
            _actor2(actorSeed, _finance(deal.payer).addr, _finance(beneficiary).addr, payerCalls);
        bool ownFavour = toBeneficiary != payerCalls;
        bool refusedDirection = suspended[payerCalls ? beneficiary : deal.payer] && !ownFavour;
        bool mustFail = wrong || !inState || refusedDirection || block.timestamp < escrow.releaseDeadlineOf(voucherId);
        if (_attempt(Action.SettleJointly, actor, mustFail, address(escrow), data)) {
            if (toBeneficiary) _pay(p);
            else _return(p);
        }
    }

    function _jointCall(Deal storage deal, uint8 seq, bool toBeneficiary, uint32 cosignerOrg)
        private
        view
        returns (bytes memory)
    {
        bytes memory signature =
            sign(_finance(cosignerOrg), jointSettlementDigest(voucherIdOf(deal.contractNo, seq), toBeneficiary));
        return abi.encodeCall(
            escrow.settleWithoutInstitution,
            (deal.contractNo, seq, toBeneficiary, _finance(cosignerOrg).addr, signature)
        );
    }

    /// @notice Party B's finance anchors the e-invoice of a released payment (once).
    function anchorInvoice(uint256 entitySeed, uint256 actorSeed, uint256) external {
        (bool any, uint256 p, bool inState) = _pickPayment(entitySeed, VoucherStatus.RELEASED, VoucherStatus.RELEASED);
        if (!any) return;
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        bytes32 invoiceHash = keccak256(abi.encode("invoice", deal.contractNo, payment.seq));
        bytes memory signature =
            sign(_finance(deal.payee), invoiceDigest(voucherIdOf(deal.contractNo, payment.seq), invoiceHash));
        (address actor, bool wrong) = _actor(actorSeed, _finance(deal.payee).addr);
        bytes memory data = abi.encodeCall(
            escrow.anchorInvoice,
            (deal.contractNo, payment.seq, invoiceHash, hex"1badd0c5", _finance(deal.payee).addr, signature)
        );
        if (_attempt(Action.AnchorInvoice, actor, wrong || !inState || payment.invoiced, address(escrow), data)) {
            payment.invoiced = true;
        }
    }

    // ================================================================== operator, governance, environment

    /**
     * @notice What happens around the flow, one of six by `valueSeed`: the operator pauses the escrow (one time in
     * four) or unpauses it; governance suspends an org (one time in four) or reinstates every suspended one; moves an
     * enterprise's treasury, money in flight or not; withdraws the switchable token from the accepted assets or
     * accepts it again (whichever it is not); the switchable token breaks (one time in four) or is repaired; a random
     * account calls an entry point reserved to the registry, the escrow or governance, and must be refused.
     */
    function disturb(uint256 entitySeed, uint256 actorSeed, uint256 valueSeed) external {
        uint256 kind = valueSeed % 6;
        bool rare = (valueSeed >> 8) % 4 == 0;
        if (kind == 0) _setPaused(actorSeed, rare);
        else if (kind == 1) _setOrgActive(entitySeed, actorSeed, rare);
        else if (kind == 2) _setTreasury(entitySeed, actorSeed);
        else if (kind == 3) _setSwitchableAccepted(actorSeed, !switchableAccepted);
        else if (kind == 4) _setTokenBroken(rare);
        else _callPrivileged(entitySeed, actorSeed);
    }

    function _setSwitchableAccepted(uint256 actorSeed, bool accepted) private {
        (address actor, bool wrong) = _actor(actorSeed, address(this));
        bytes memory data = abi.encodeCall(registry.setAssetAccepted, (address(switchable), accepted));
        if (_attempt(accepted ? Action.AcceptAsset : Action.WithdrawAsset, actor, wrong, address(registry), data)) {
            switchableAccepted = accepted;
        }
    }

    /// @dev Any account but the registry calling the escrow's bookkeeping, any but the escrow calling the registry's,
    /// anyone calling `setEscrow` again: each must be refused.
    function _callPrivileged(uint256 entitySeed, uint256 actorSeed) private {
        uint256 n = _payments.length;
        bytes32 voucherId = n == 0 ? bytes32(0) : voucherIdOf(_deals[_payments[entitySeed % n].deal].contractNo, 1);
        bytes[5] memory calls = [
            abi.encodeCall(escrow.recordApplication, (keccak256(abi.encode(entitySeed)), 1, bytes32("account"))),
            abi.encodeCall(escrow.closeApplication, (voucherId, VoucherStatus.REFUSED)),
            abi.encodeCall(
                escrow.freeze, (voucherId, address(token), aTreasury, B, 1, bytes32("account"), bytes32("key"), 1)
            ),
            abi.encodeCall(registry.releaseCommitment, (n == 0 ? bytes32(0) : _deals[0].contractNo, 1)),
            abi.encodeCall(registry.setEscrow, (escrow))
        ];
        uint256 which = (entitySeed >> 8) % calls.length;
        address target = which < 3 ? address(escrow) : address(registry);
        address actor = _accounts[actorSeed % _accounts.length];
        vm.prank(actor);
        (bool ok,) = target.call(calls[which]);
        if (ok) _violation("a privileged entry point accepted a call from an account");
        else ++successes[Action.PrivilegedCallRefused];
    }

    function _setPaused(uint256 actorSeed, bool pause) private {
        (address actor, bool wrong) = _actor(actorSeed, operator.addr);
        bool mustFail = wrong || pause == escrow.paused();
        _attempt(
            pause ? Action.Pause : Action.Unpause,
            actor,
            mustFail,
            address(escrow),
            pause ? abi.encodeCall(escrow.pause, ()) : abi.encodeCall(escrow.unpause, ())
        );
    }

    function _setOrgActive(uint256 entitySeed, uint256 actorSeed, bool suspend_) private {
        uint32[4] memory orgs = [A, B, C, BANK];
        for (uint256 i; i < orgs.length; ++i) {
            uint32 org = orgs[(entitySeed % 4 + i) % 4];
            if (!suspend_ && !suspended[org]) continue;
            (address actor, bool wrong) = _actor(actorSeed, address(this));
            bytes memory data = abi.encodeCall(registry.setOrgActive, (org, !suspend_));
            if (_attempt(suspend_ ? Action.SuspendOrg : Action.ReinstateOrg, actor, wrong, address(registry), data)) {
                suspended[org] = suspend_;
            }
            if (suspend_) return;
        }
    }

    function _setTreasury(uint256 entitySeed, uint256 actorSeed) private {
        uint32 org = uint32(1 + entitySeed % 3);
        address[2] memory choices = _treasuryChoices[org];
        address next = treasuryModel[org] == choices[0] ? choices[1] : choices[0];
        (address actor, bool wrong) = _actor(actorSeed, address(this));
        bytes memory data = abi.encodeCall(registry.setTreasury, (org, next));
        if (_attempt(Action.SetTreasury, actor, wrong, address(registry), data)) treasuryModel[org] = next;
    }

    function _setTokenBroken(bool broken) private {
        switchable.setBroken(broken);
        ++successes[broken ? Action.BreakToken : Action.RepairToken];
    }

    /// @notice Moves time forward by up to two days.
    function warp(uint256, uint256, uint256 valueSeed) external {
        vm.warp(block.timestamp + 1 + valueSeed % 2 days);
        ++successes[Action.Warp];
    }

    /// @notice The selectors the campaign calls.
    function actions() external pure returns (bytes4[] memory selectors) {
        selectors = new bytes4[](16);
        selectors[0] = this.propose.selector;
        selectors[1] = this.sign.selector;
        selectors[2] = this.submitStage.selector;
        selectors[3] = this.decideStage.selector;
        selectors[4] = this.applySettlement.selector;
        selectors[5] = this.approveSettlement.selector;
        selectors[6] = this.applyForPayment.selector;
        selectors[7] = this.decideApplication.selector;
        selectors[8] = this.useKey.selector;
        selectors[9] = this.confirmAssignment.selector;
        selectors[10] = this.release.selector;
        selectors[11] = this.reclaim.selector;
        selectors[12] = this.settleJointly.selector;
        selectors[13] = this.anchorInvoice.selector;
        selectors[14] = this.disturb.selector;
        selectors[15] = this.warp.selector;
    }

    // ================================================================== the exits, all at once

    /**
     * @notice Takes every open payment out of the escrow without the operator, as the end of a run: governance
     * reinstates every org (a suspended party can withdraw, refuse or reclaim nothing) and the token is repaired; then
     * the payee withdraws each application, the payer reclaims each expired key, and payer and beneficiary settle
     * each requested payment jointly after its deadline, either way. The escrow stays paused if it was. Any exit
     * refused is a violation.
     */
    function takeEveryExit() external {
        for (uint256 i; i < 4; ++i) {
            uint32 org = [A, B, C, BANK][i];
            registry.setOrgActive(org, true);
            suspended[org] = false;
        }
        switchable.setBroken(false);
        uint256 latest = block.timestamp;
        for (uint256 p; p < _payments.length; ++p) {
            // a requested payment's deadline (request time + window), or a frozen or presented key's expiry
            bytes32 voucherId = voucherIdOf(_deals[_payments[p].deal].contractNo, _payments[p].seq);
            uint256 deadline = escrow.releaseDeadlineOf(voucherId);
            VoucherStatus status = _payments[p].status;
            if (status == VoucherStatus.FROZEN || status == VoucherStatus.PRESENTED) {
                deadline = escrow.voucherOf(voucherId).time;
            }
            if (deadline > latest) latest = deadline;
        }
        vm.warp(latest);
        for (uint256 p; p < _payments.length; ++p) {
            Payment storage payment = _payments[p];
            Deal storage deal = _deals[payment.deal];
            VoucherStatus status = payment.status;
            if (status == VoucherStatus.APPLIED) {
                bytes memory data = abi.encodeCall(registry.withdrawPaymentApplication, (deal.contractNo, payment.seq));
                if (_attempt(Action.WithdrawApplication, _finance(deal.payee).addr, false, address(registry), data)) {
                    _setVoucherStatus(p, VoucherStatus.WITHDRAWN);
                } else {
                    _violation("an application could not be withdrawn");
                }
            } else if (status == VoucherStatus.FROZEN || status == VoucherStatus.PRESENTED) {
                bytes memory data = abi.encodeCall(escrow.reclaim, (deal.contractNo, payment.seq));
                if (_attempt(Action.Reclaim, _finance(deal.payer).addr, false, address(escrow), data)) _return(p);
                else _violation("an expired key could not be reclaimed");
            } else if (status == VoucherStatus.REQUESTED) {
                bool toBeneficiary = p % 2 == 0;
                bytes memory data = _jointCall(deal, payment.seq, toBeneficiary, payment.beneficiaryOrg);
                if (_attempt(Action.SettleJointly, _finance(deal.payer).addr, false, address(escrow), data)) {
                    if (toBeneficiary) _pay(p);
                    else _return(p);
                } else {
                    _violation("a requested payment could not be settled jointly after its deadline");
                }
            }
        }
    }

    // ================================================================== the model, read by the invariants

    function system() external view returns (CollabRegistry, PaymentEscrow) {
        return (registry, escrow);
    }

    /// @notice The two assets contracts are paid in.
    function assets() public view returns (address[2] memory) {
        return [address(token), address(switchable)];
    }

    /// @notice Every tracked balance, read from the token now: the escrow's and every treasury's governance ever
    /// set, of both assets. Nobody else ever holds either asset.
    function balances() external view returns (Balance[] memory list) {
        list = new Balance[](2 * _holders.length);
        address[2] memory assets_ = assets();
        for (uint256 a; a < 2; ++a) {
            for (uint256 h; h < _holders.length; ++h) {
                address holder = _holders[h];
                list[a * _holders.length + h] = Balance(
                    assets_[a], holder, IERC20(assets_[a]).balanceOf(holder), expectedBalance[assets_[a]][holder]
                );
            }
        }
    }

    /// @notice Every contract: the model and the chain's record.
    function dealViews() external view returns (DealView[] memory list) {
        list = new DealView[](_deals.length);
        for (uint256 d; d < _deals.length; ++d) {
            (CollabRegistry.Agreement memory chain,) = registry.agreementOf(_deals[d].contractNo);
            list[d] = DealView(_deals[d], chain);
        }
    }

    /// @notice Every stage of every contract: the model's status and the chain's.
    function stageViews() external view returns (StageView[] memory list) {
        uint256 count;
        for (uint256 d; d < _deals.length; ++d) {
            count += _deals[d].stageCount;
        }
        list = new StageView[](count);
        uint256 i;
        for (uint256 d; d < _deals.length; ++d) {
            for (uint8 s; s < _deals[d].stageCount; ++s) {
                list[i++] = StageView(d, s, stageStatus[d][s], registry.stageOf(_deals[d].contractNo, s).status);
            }
        }
    }

    /// @notice Every payment: the model, its contract's asset and payee, and the escrow's record (with, once
    /// REQUESTED, the pinned treasury and the release deadline).
    function paymentViews() external view returns (PaymentView[] memory list) {
        list = new PaymentView[](_payments.length);
        for (uint256 p; p < _payments.length; ++p) {
            Payment storage payment_ = _payments[p];
            Deal storage deal_ = _deals[payment_.deal];
            PaymentView memory v = list[p];
            (v.deal, v.asset, v.payee) = (payment_.deal, deal_.asset, deal_.payee);
            (v.model, v.pinned) = (payment_.status, payment_.pinned);
            bytes32 voucherId = voucherIdOf(deal_.contractNo, payment_.seq);
            v.chain = escrow.voucherOf(voucherId);
            if (v.chain.status == VoucherStatus.REQUESTED) {
                (v.commitment, v.releaseDeadline) =
                (escrow.commitmentOf(voucherId), escrow.releaseDeadlineOf(voucherId));
            }
        }
    }

    function violationCount() external view returns (uint256) {
        return violations.length;
    }

    function actionCount() external pure returns (uint256) {
        return ACTIONS;
    }

    /// @notice What the model says is still unpaid on contract `d`: its total less every application not refused,
    /// withdrawn or reclaimed.
    function unpaidModel(uint256 d) public view returns (uint128) {
        return _deals[d].total - _deals[d].reserved;
    }

    // ================================================================== model updates

    function _setDealStatus(uint256 d, ContractStatus status) private {
        if (uint8(status) != uint8(_deals[d].status) + 1) _violation("a contract status skipped or went back");
        _deals[d].status = status;
        (CollabRegistry.Agreement memory agreement,) = registry.agreementOf(_deals[d].contractNo);
        if (agreement.status != status) _violation("the contract's status is not the model's");
    }

    function _setStageStatus(uint256 d, uint8 s, StageStatus status) private {
        if (!Statuses.stageMayMove(stageStatus[d][s], status)) {
            _violation("a stage status moved against its transitions");
        }
        stageStatus[d][s] = status;
        if (registry.stageOf(_deals[d].contractNo, s).status != status) {
            _violation("a stage's status is not the model's");
        }
    }

    function _setVoucherStatus(uint256 p, VoucherStatus status) private {
        VoucherStatus before = _payments[p].status;
        if (!Statuses.voucherMayMove(before, status)) _violation("a payment status moved against its transitions");
        if (Statuses.reserves(before) && !Statuses.reserves(status)) {
            _deals[_payments[p].deal].reserved -= _payments[p].amount;
        }
        _payments[p].status = status;
        _checkVoucher(p);
    }

    function _checkVoucher(uint256 p) private {
        Payment storage payment = _payments[p];
        PaymentEscrow.Voucher memory voucher =
            escrow.voucherOf(voucherIdOf(_deals[payment.deal].contractNo, payment.seq));
        if (voucher.status != payment.status || voucher.amount != payment.amount) {
            _violation("a payment's status or amount is not the model's");
        }
    }

    /// @dev A payment requested for `beneficiaryOrg`: the model pins that org's treasury of now.
    function _pin(uint256 p, uint32 beneficiaryOrg) private {
        _setVoucherStatus(p, VoucherStatus.REQUESTED);
        _payments[p].beneficiaryOrg = beneficiaryOrg;
        _payments[p].pinned = treasuryModel[beneficiaryOrg];
    }

    /// @dev A payment paid: its amount goes from the escrow to the treasury pinned at request time.
    function _pay(uint256 p) private {
        Payment storage payment = _payments[p];
        address asset = _deals[payment.deal].asset;
        _setVoucherStatus(p, VoucherStatus.RELEASED);
        _move(asset, address(escrow), payment.pinned, payment.amount);
        paid[asset] += payment.amount;
    }

    /// @dev A payment returned: its amount goes from the escrow to the payer's treasury of now.
    function _return(uint256 p) private {
        Payment storage payment = _payments[p];
        Deal storage deal = _deals[payment.deal];
        _setVoucherStatus(p, VoucherStatus.RECLAIMED);
        _move(deal.asset, address(escrow), treasuryModel[deal.payer], payment.amount);
        reclaimed[deal.asset] += payment.amount;
    }

    function _move(address asset, address from, address to, uint256 amount) private {
        expectedBalance[asset][from] -= amount;
        expectedBalance[asset][to] += amount;
    }

    function _violation(string memory what) private {
        violations.push(what);
    }

    // ================================================================== choosing who, what and how

    /**
     * @dev Sends `data` to `target` as `actor`; counts a success or a refusal of `action`. A success the model
     * knew must fail is a violation and is not applied to the model. Returns whether the model must apply it.
     */
    function _attempt(Action action, address actor, bool mustFail, address target, bytes memory data)
        private
        returns (bool applies)
    {
        vm.prank(actor);
        (bool ok,) = target.call(data);
        if (!ok) {
            ++refusals[action];
            return false;
        }
        ++successes[action];
        if (mustFail) {
            _violation(string.concat("action ", vm.toString(uint256(action)), " succeeded where it must fail"));
        }
        return !mustFail;
    }

    /// @dev The right account, or one time in four a random one (wrong unless it happens to be the right one).
    function _actor(uint256 actorSeed, address right) private view returns (address actor, bool wrong) {
        return _actor2(actorSeed, right, right, true);
    }

    /// @dev As {_actor} for a step two accounts may take: `first` or `second` as `pickFirst` says.
    function _actor2(uint256 actorSeed, address first, address second, bool pickFirst)
        private
        view
        returns (address actor, bool wrong)
    {
        if (actorSeed % 4 != 0) return (pickFirst ? first : second, false);
        actor = (actorSeed >> 8) % 8 == 0 ? address(this) : _accounts[(actorSeed >> 16) % _accounts.length];
        wrong = actor != first && actor != second;
    }

    /// @dev A contract in `wanted` status if there is one (`inState`), else any; `any` false when there is none.
    function _pickDeal(uint256 seed, ContractStatus wanted) private view returns (bool any, uint256 d, bool inState) {
        uint256 n = _deals.length;
        if (n == 0) return (false, 0, false);
        for (uint256 k; k < n; ++k) {
            d = (seed % n + k) % n;
            if (_deals[d].status == wanted) return (true, d, true);
        }
        return (true, seed % n, false);
    }

    /// @dev A stage of contract `d` in status `first` or `second` if there is one (`ready`), else any.
    function _pickStage(uint256 d, uint256 seed, StageStatus first, StageStatus second)
        private
        view
        returns (uint8 s, bool ready)
    {
        uint256 n = _deals[d].stageCount;
        for (uint256 k; k < n; ++k) {
            s = uint8((seed % n + k) % n);
            if (stageStatus[d][s] == first || stageStatus[d][s] == second) return (s, true);
        }
        return (uint8(seed % n), false);
    }

    /// @dev A payment in status `first` or `second` if there is one (`inState`), else any.
    function _pickPayment(uint256 seed, VoucherStatus first, VoucherStatus second)
        private
        view
        returns (bool any, uint256 p, bool inState)
    {
        uint256 n = _payments.length;
        if (n == 0) return (false, 0, false);
        for (uint256 k; k < n; ++k) {
            p = (seed % n + k) % n;
            if (_payments[p].status == first || _payments[p].status == second) return (true, p, true);
        }
        return (true, seed % n, false);
    }

    function _readyForSettlement(uint256 d) private view returns (bool) {
        if (_deals[d].status != ContractStatus.SIGNED) return false;
        for (uint256 s; s < _deals[d].stageCount; ++s) {
            if (stageStatus[d][s] != StageStatus.CONFIRMED) return false;
        }
        return true;
    }

    /// @dev One of the six ordered pairs (payer, payee) of A, B and C.
    function _pair(uint256 seed) private pure returns (uint32 payer, uint32 payee) {
        payer = uint32(1 + seed % 3);
        payee = uint32(1 + (payer + seed / 3 % 2) % 3);
    }

    /// @dev The enterprise that is neither payer nor payee: the one that may be assigned the key.
    function _third(Deal storage deal) private view returns (uint32) {
        return 6 - deal.payer - deal.payee;
    }

    function _terms(uint256 d) private view returns (ContractTerms memory) {
        Deal storage deal = _deals[d];
        StageTerms[] memory stages = new StageTerms[](deal.stageCount);
        for (uint256 s; s < stages.length; ++s) {
            stages[s] = _stageTerms[d][s];
        }
        return termsFor(deal.contractNo, deal.payer, deal.asset, stages);
    }

    function _business(uint32 org) private view returns (Vm.Wallet memory) {
        return walletOf(org, Department.BUSINESS);
    }

    function _finance(uint32 org) private view returns (Vm.Wallet memory) {
        return walletOf(org, Department.FINANCE);
    }
}
