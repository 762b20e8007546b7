"""What every role service shares: its account's transactor, the chain reader, and the record of each step sent."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypedDict, Unpack

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3.contract.contract import ContractFunction
from web3.types import TxReceipt

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department
from collab_py.chain.transactor import NodeUnreachable, PendingTx, Transactor
from collab_py.domain.crypto import EncryptionKey
from collab_py.exceptions import CollabError
from collab_py.services.reader import ChainReader

#: Transactions :meth:`Service.execute_all` has in flight at once: node pools bound what one sender may queue
#: (geth keeps 16 per account beyond its global slots), and anvil's auto-miner stalls under thousands.
PIPELINE_WINDOW = 64


class WrongRole(CollabError):
    """This service's account is not bound to the org and department the step needs."""


@dataclass(frozen=True)
class StepRecord:
    """One transaction of the flow: what it did, who sent it, and what it cost."""

    step: str
    requirement: str
    actor: str
    tx_hash: str
    gas_used: int
    block: int


@dataclass(frozen=True)
class PreparedStep:
    """A step's transaction, built and ready to send; ``gas_limit`` is used when it is sent without estimation."""

    step: str
    requirement: str
    call: ContractFunction
    gas_limit: int


@dataclass(frozen=True)
class StepOutcome:
    """What became of one step sent with :meth:`Service.execute_each`: its transaction (None if it was not sent),
    and its receipt or its error."""

    tx_hash: bytes | None
    receipt: TxReceipt | None
    error: Exception | None


#: Observer of every step a service sends (the demo's timeline, the gas benchmark).
StepObserver = Callable[[StepRecord], None]


class ServiceOptions(TypedDict, total=False):
    """Options every service takes: its org (read from the chain if omitted), a label for the timeline, an observer
    of each step sent, and a shared chain reader."""

    org_id: int | None
    label: str | None
    observer: StepObserver | None
    reader: ChainReader | None


class Service:
    """Base of the role services: one account of one department of one org.

    Each public step method sends one transaction, then reads back and returns the record the chain now holds.
    ``prepare_*`` methods build the same transaction without sending it, for callers that pipeline many
    (see ``bench/throughput.py``).
    """

    department: Department = Department.NONE

    def __init__(
        self,
        deployment: Deployment,
        account: LocalAccount | Transactor,
        **options: Unpack[ServiceOptions],
    ) -> None:
        self.deployment = deployment
        self.tx = account if isinstance(account, Transactor) else Transactor(deployment.w3, account)
        self.reader = options.get("reader") or ChainReader(deployment)
        org_id = options.get("org_id")
        self.org_id = org_id if org_id is not None else self._bound_org()
        self.label = options.get("label") or f"org {self.org_id}/{self.department.name}"
        self.observer = options.get("observer")

    @property
    def address(self) -> ChecksumAddress:
        """The service account's address."""
        return self.tx.address

    @property
    def chain_id(self) -> int:
        """Chain id of the deployment."""
        return self.deployment.manifest.chain_id

    def execute(self, prepared: PreparedStep) -> TxReceipt:
        """Sends a prepared step, waits for it, and reports it to the observer; a node that stops answering is a
        :class:`~collab_py.chain.transactor.NodeUnreachable` naming the step."""
        try:
            receipt = self.tx.transact(prepared.call)
        except NodeUnreachable as error:
            raise self._unreachable(prepared, str(error)) from None
        self._observe(prepared, receipt)
        return receipt

    def execute_all(self, steps: Sequence[PreparedStep]) -> list[TxReceipt]:
        """Sends ``steps`` back to back with their gas limits (pipelined nonces: they can share a block), at most
        :data:`PIPELINE_WINDOW` in flight, waits for each and reports it to the observer; the steps must not depend
        on one another. The first refusal is raised once every step is mined, so that none is left pending unseen."""
        receipts: list[TxReceipt] = []
        refusal: CollabError | None = None
        try:
            for start in range(0, len(steps), PIPELINE_WINDOW):
                window = steps[start : start + PIPELINE_WINDOW]
                for prepared, pending in [(prepared, self.send(prepared)) for prepared in window]:
                    try:
                        receipt = pending.wait()
                    except CollabError as error:
                        refusal = refusal or error
                        continue
                    self._observe(prepared, receipt)
                    receipts.append(receipt)
        except NodeUnreachable as error:
            raise self._unreachable(steps[0], str(error)) from None
        if refusal is not None:
            raise refusal
        return receipts

    def execute_each(self, steps: Sequence[PreparedStep]) -> list[StepOutcome]:
        """Sends ``steps`` as :meth:`execute_all` does (pipelined, independent of one another), but decides nothing
        for the caller: each step's outcome is its own, its receipt or its error (the decoded refusal of a reverted
        transaction, a node error), so that one failure leaves the others' results intact."""
        outcomes: list[StepOutcome] = []
        for start in range(0, len(steps), PIPELINE_WINDOW):
            window = steps[start : start + PIPELINE_WINDOW]
            sent: list[tuple[PreparedStep, PendingTx | Exception]] = []
            for prepared in window:
                try:
                    sent.append((prepared, self.send(prepared)))
                except Exception as error:  # refused before sending, or the node did not take it
                    sent.append((prepared, error))
            for prepared, pending in sent:
                if isinstance(pending, Exception):
                    outcomes.append(StepOutcome(None, None, pending))
                    continue
                tx_hash = bytes(pending.tx_hash)
                try:
                    receipt = pending.wait()
                except Exception as error:
                    outcomes.append(StepOutcome(tx_hash, None, error))
                    continue
                self._observe(prepared, receipt)
                outcomes.append(StepOutcome(tx_hash, receipt, None))
        return outcomes

    def send(self, prepared: PreparedStep) -> PendingTx:
        """Sends a prepared step with its gas limit, without waiting (pipelining)."""
        return self.tx.send(prepared.call, gas=prepared.gas_limit)

    def _unreachable(self, prepared: PreparedStep, detail: str) -> NodeUnreachable:
        return NodeUnreachable(f"{prepared.step} ({prepared.requirement}) of {self.label}: {detail}")

    def _observe(self, prepared: PreparedStep, receipt: TxReceipt) -> None:
        if self.observer is None:
            return
        self.observer(
            StepRecord(
                step=prepared.step,
                requirement=prepared.requirement,
                actor=self.label,
                tx_hash=receipt["transactionHash"].to_0x_hex(),
                gas_used=int(receipt["gasUsed"]),
                block=int(receipt["blockNumber"]),
            )
        )

    def _bound_org(self) -> int:
        member = self.reader.member(self.address)
        if member.org_id == 0 or member.department != self.department:
            raise WrongRole(
                f"{self.address} acts for org {member.org_id} {member.department.name}, "
                f"not for a {self.department.name} department"
            )
        return member.org_id


class KeyedService(Service):
    """A service that also holds its org's encryption key, to open the confidential payloads addressed to it."""

    def __init__(
        self,
        deployment: Deployment,
        account: LocalAccount | Transactor,
        *,
        encryption_key: EncryptionKey,
        **options: Unpack[ServiceOptions],
    ) -> None:
        super().__init__(deployment, account, **options)
        self.encryption_key = encryption_key
