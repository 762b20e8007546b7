// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Test, console2} from "forge-std/Test.sol";
import {CollabRegistry} from "../../../contracts/CollabRegistry.sol";
import {VoucherStatus} from "../../../contracts/CollabTypes.sol";
import {PaymentEscrow} from "../../../contracts/PaymentEscrow.sol";
import {CollabHandler, Statuses} from "./CollabHandler.sol";

/**
 * @title CollabInvariantsTest
 * @notice The escrow's and the settlement's invariants under random sequences of every action by right and wrong
 * actors, time jumps, pauses, suspensions, treasury moves and a token that breaks ({CollabHandler}):
 * the escrow holds exactly the open vouchers; paid + reclaimed + open = issued; money reaches only the treasury
 * pinned for the beneficiary or the payer's; applications never exceed a contract's total and `unpaid` is the total
 * less what they hold; statuses only move along their documented transitions; every open payment has an exit that
 * needs no operator — by its deadlines while the campaign runs, and by taking every exit at the end of every run.
 * Each invariant also asserts that the handler saw no violation (a step that had to fail and did not, or a record
 * an action touched that is not the model's).
 * @dev Each `invariant_*` function is its own campaign of runs x depth calls (foundry.toml): the CI profile's total
 * is 510,000 calls, the `long` profile's 5,100,000. forge asserts the invariants after every 10th call
 * (`check_interval`) and after the last call of every run; the handler checks what each call touched.
 */
contract CollabInvariantsTest is Test {
    CollabHandler internal handler;
    CollabRegistry internal registry;
    PaymentEscrow internal escrow;

    function setUp() public {
        handler = new CollabHandler();
        (registry, escrow) = handler.system();
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: handler.actions()}));
    }

    // ------------------------------------------------------------------ the invariants

    /// @notice The escrow's balance of each asset is the sum of its FROZEN, PRESENTED and REQUESTED vouchers.
    function invariant_escrow_holds_exactly_the_open_vouchers() public view {
        _assertNoViolation();
        CollabHandler.PaymentView[] memory payments = handler.paymentViews();
        address[2] memory assets = handler.assets();
        for (uint256 a; a < 2; ++a) {
            assertEq(IERC20(assets[a]).balanceOf(address(escrow)), _open(payments, assets[a]), "escrow balance");
        }
    }

    /// @notice For each asset, what was paid, reclaimed and is still frozen adds up to what was issued.
    function invariant_paid_plus_reclaimed_plus_open_is_issued() public view {
        _assertNoViolation();
        CollabHandler.PaymentView[] memory payments = handler.paymentViews();
        address[2] memory assets = handler.assets();
        for (uint256 a; a < 2; ++a) {
            address asset = assets[a];
            assertEq(
                handler.paid(asset) + handler.reclaimed(asset) + _open(payments, asset),
                handler.issued(asset),
                "conservation"
            );
        }
    }

    /// @notice Every treasury governance ever set and the escrow hold what the model expects, and together the
    /// whole supply: frozen funds leave only to the treasury pinned for the beneficiary or to the payer's.
    function invariant_money_moves_only_to_the_pinned_beneficiary_or_back_to_the_payer() public view {
        _assertNoViolation();
        CollabHandler.Balance[] memory list = handler.balances();
        uint256[2] memory tracked;
        address[2] memory assets = handler.assets();
        for (uint256 i; i < list.length; ++i) {
            CollabHandler.Balance memory b = list[i];
            if (b.actual != b.expected) {
                assertEq(b.actual, b.expected, string.concat("balance of ", vm.toString(b.holder)));
            }
            tracked[b.asset == assets[0] ? 0 : 1] += b.actual;
        }
        for (uint256 a; a < 2; ++a) {
            assertEq(IERC20(assets[a]).totalSupply(), tracked[a], "money outside the escrow and the treasuries");
        }
    }

    /// @notice For each contract, read from the chain: the applications holding an amount (APPLIED, FROZEN,
    /// PRESENTED, REQUESTED, RELEASED) sum to at most the total, and `unpaid` is the total less that sum.
    function invariant_applications_within_the_total_and_unpaid_is_the_rest() public view {
        _assertNoViolation();
        CollabHandler.DealView[] memory deals = handler.dealViews();
        CollabHandler.PaymentView[] memory payments = handler.paymentViews();
        uint256[] memory held = new uint256[](deals.length);
        uint256[] memory applications = new uint256[](deals.length);
        for (uint256 p; p < payments.length; ++p) {
            uint256 d = payments[p].deal;
            ++applications[d];
            if (Statuses.reserves(payments[p].chain.status)) held[d] += payments[p].chain.amount;
        }
        for (uint256 d; d < deals.length; ++d) {
            CollabHandler.DealView memory deal = deals[d];
            assertEq(deal.chain.paymentCount, applications[d], "an application the model does not know");
            assertEq(deal.model.applications, applications[d]);
            assertLe(held[d], deal.model.total, "applications exceed the total");
            assertEq(deal.chain.unpaid, deal.model.total - held[d], "unpaid");
            assertEq(deal.chain.unpaid, deal.model.total - deal.model.reserved, "unpaid differs from the model");
        }
    }

    /**
     * @notice Every contract and payment on chain is in the status of the model, which only moves along the
     * documented transitions: no status ever moves backwards. Stages are compared as each action touches them (by
     * the handler) and all of them at the end of every run ({afterInvariant}).
     */
    function invariant_statuses_never_move_backwards() public view {
        _assertNoViolation();
        CollabHandler.DealView[] memory deals = handler.dealViews();
        for (uint256 d; d < deals.length; ++d) {
            assertEq(uint8(deals[d].chain.status), uint8(deals[d].model.status), "contract status");
        }
        CollabHandler.PaymentView[] memory payments = handler.paymentViews();
        for (uint256 p; p < payments.length; ++p) {
            assertEq(uint8(payments[p].chain.status), uint8(payments[p].model), "payment status");
        }
    }

    /**
     * @notice Every open payment has an exit that needs no operator: an application can be withdrawn or refused at
     * any time; a frozen or presented key is redeemable by the payee until its expiry and reclaimable by the payer
     * from it on (both within MAX_KEY_LIFETIME); a requested payment can be settled without the institution from
     * its deadline, request time plus the release window, to the treasury pinned for it. {afterInvariant} takes them all.
     */
    function invariant_every_open_payment_has_an_exit_without_the_operator() public view {
        _assertNoViolation();
        uint256 horizon = block.timestamp + escrow.MAX_KEY_LIFETIME();
        uint256 window = escrow.releaseWindow();
        CollabHandler.PaymentView[] memory payments = handler.paymentViews();
        for (uint256 p; p < payments.length; ++p) {
            CollabHandler.PaymentView memory payment = payments[p];
            VoucherStatus status = payment.chain.status;
            if (status == VoucherStatus.FROZEN || status == VoucherStatus.PRESENTED) {
                assertGt(payment.chain.time, 0, "a frozen key without expiry");
                assertLe(payment.chain.time, horizon, "an expiry beyond the key lifetime");
                assertEq(payment.chain.payee, payment.payee, "the payee who may redeem");
            } else if (status == VoucherStatus.REQUESTED) {
                assertEq(payment.releaseDeadline, uint256(payment.chain.time) + window, "release deadline");
                assertLe(payment.chain.time, block.timestamp, "a request time in the future");
                assertEq(address(uint160(uint256(payment.commitment))), payment.pinned, "pinned treasury");
                assertTrue(payment.pinned != address(0), "nowhere to pay");
            }
        }
    }

    /// @notice At the end of every run every exit is taken without the operator: nothing is left in the escrow
    /// and the money invariants still hold.
    function afterInvariant() external {
        CollabHandler.StageView[] memory stages = handler.stageViews();
        for (uint256 i; i < stages.length; ++i) {
            assertEq(uint8(stages[i].chain), uint8(stages[i].model), "stage status");
        }
        handler.takeEveryExit();
        invariant_statuses_never_move_backwards();
        invariant_money_moves_only_to_the_pinned_beneficiary_or_back_to_the_payer();
        address[2] memory assets = handler.assets();
        for (uint256 a; a < 2; ++a) {
            assertEq(IERC20(assets[a]).balanceOf(address(escrow)), 0, "left in the escrow");
            assertEq(handler.paid(assets[a]) + handler.reclaimed(assets[a]), handler.issued(assets[a]));
        }
    }

    // ------------------------------------------------------------------ no dead handler

    /// @notice A short random campaign driven here, deterministically: every action of the handler succeeds at
    /// least once (none is dead), some are refused, and the invariants hold along the way and after every exit.
    function test_every_handler_action_succeeds_at_least_once() public {
        bytes4[] memory selectors = handler.actions();
        uint256[] memory seeded = new uint256[](handler.actionCount());
        for (uint256 a; a < seeded.length; ++a) {
            seeded[a] = handler.successes(CollabHandler.Action(a));
        }
        for (uint256 i; i < 2000; ++i) {
            bytes32 r = keccak256(abi.encode("step", i));
            (bool ok,) = address(handler)
                .call(
                    abi.encodeWithSelector(
                        selectors[uint256(r) % selectors.length],
                        uint256(keccak256(abi.encode(r, 1))),
                        uint256(keccak256(abi.encode(r, 2))),
                        uint256(keccak256(abi.encode(r, 3)))
                    )
                );
            assertTrue(ok, "a handler action reverted");
            if (i % 100 == 99) _assertAllInvariants();
        }
        uint256 refused;
        for (uint256 a; a < handler.actionCount(); ++a) {
            CollabHandler.Action action = CollabHandler.Action(a);
            console2.log("action", a, handler.successes(action) - seeded[a], handler.refusals(action));

            refused += handler.refusals(action);
        }
        for (uint256 a; a < handler.actionCount(); ++a) {
            assertGt(
                handler.successes(CollabHandler.Action(a)), seeded[a], string.concat("dead action ", vm.toString(a))
            );
        }
        assertGt(refused, 0, "nothing was refused");
        this.afterInvariant();
    }

    // ------------------------------------------------------------------ helpers

    function _assertAllInvariants() private view {
        invariant_escrow_holds_exactly_the_open_vouchers();
        invariant_paid_plus_reclaimed_plus_open_is_issued();
        invariant_money_moves_only_to_the_pinned_beneficiary_or_back_to_the_payer();
        invariant_applications_within_the_total_and_unpaid_is_the_rest();
        invariant_statuses_never_move_backwards();
        invariant_every_open_payment_has_an_exit_without_the_operator();
    }

    function _assertNoViolation() private view {
        uint256 count = handler.violationCount();
        assertEq(count, 0, count == 0 ? "" : string.concat("handler: ", handler.violations(0)));
    }

    /// @dev The amounts the escrow holds for `asset`, from the chain's statuses.
    function _open(CollabHandler.PaymentView[] memory payments, address asset) private pure returns (uint256 open) {
        for (uint256 p; p < payments.length; ++p) {
            if (payments[p].asset == asset && Statuses.holdsFunds(payments[p].chain.status)) {
                open += payments[p].chain.amount;
            }
        }
    }
}
