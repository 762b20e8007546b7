// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {StageTerms} from "../../contracts/CollabTypes.sol";
import {CollabFixture} from "./CollabFixture.sol";

/// @notice Gas of every step of the flow S2–S7 (`forge snapshot --isolate`: each call a transaction of its own).
contract GasFlowTest is CollabFixture {
    function _flow(string memory group, bytes32 contractNo, StageTerms[] memory stages) private {
        propose(contractNo, stages);
        vm.snapshotGasLastCall(group, "proposeContract");
        countersign(contractNo, stages);
        vm.snapshotGasLastCall(group, "signContract");
        for (uint8 i; i < stages.length; ++i) {
            bytes32 result = keccak256(abi.encode("result", i));
            submitStage(contractNo, stages, i, result);
            vm.snapshotGasLastCall(group, string.concat("submitStageResult", vm.toString(i)));
            confirmStage(contractNo, stages, i, result);
            vm.snapshotGasLastCall(group, string.concat("confirmStageResult", vm.toString(i)));
        }
        vm.prank(bBusiness.addr);
        registry.applyBusinessSettlement(contractNo);
        vm.snapshotGasLastCall(group, "applyBusinessSettlement");
        vm.prank(aBusiness.addr);
        registry.approveBusinessSettlement(contractNo);
        vm.snapshotGasLastCall(group, "approveBusinessSettlement");
        uint8 seq = apply_(contractNo, total(stages));
        vm.snapshotGasLastCall(group, "applyForPayment");
        issue(contractNo, seq, total(stages));
        vm.snapshotGasLastCall(group, "issuePaymentVoucher");
        redeem(contractNo, seq);
        vm.snapshotGasLastCall(group, "requestPayment");
        release(contractNo, seq);
        vm.snapshotGasLastCall(group, "release");
    }

    /// @dev A deployment in use: the payee already holds deposits and the escrow holds another frozen voucher, so
    /// neither balance goes from zero to non-zero (that costs 2 x 17,100 more, measured in the "first" group).
    function _steadyState() private {
        _flow("warmup", "HT-0", stages1());
        settledContract("HT-IN-FLIGHT", stages1());
        issue("HT-IN-FLIGHT", apply_("HT-IN-FLIGHT", 1000_00), 1000_00);
    }

    function test_gas_flow_1_stage() public {
        _steadyState();
        _flow("flow1", "HT-1", stages1());
    }

    function test_gas_flow_5_stages() public {
        _steadyState();
        _flow("flow5", "HT-5", stagesN(5, 200_00));
    }
}
