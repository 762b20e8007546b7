"""Cost per event against the chain's history: the same payments processed on a young chain and after a long one.

Run: ``make history-bench`` (or ``.venv/bin/python bench/history.py [--payments 10000] [--timed 5]``). Starts its
own anvil and a JSON-RPC proxy in front of it that counts ``eth_getLogs`` calls reading from the deployment block.
The services run as in production: the institution's bot, Party A's accounting and invoicing, Party B's accounting
and invoicing, each org a ``collab listen`` process of its own (a sync and its consumers) on its own SQLite ledger,
with keystores of eth-account's default key derivation, woken by ``newHeads``, confirmations 0, every read through
the proxy. Then, on one chain:

1. young chain: M payments (default 5), one at a time, each timed from B's redemption to the end of its journey —
   released by the bot, posted in A's and in B's books, invoiced by B and the invoice verified by A;
2. the services stop; N payments (default 10,000, about four minutes on anvil; ``--payments 100000`` for the long
   profile) are made released and invoiced (``devnet/load.py``, straight to the node);
3. the services start again on their ledgers and catch up with the N (timed), then M more payments are timed as in 1.

Ends with one JSON line ``{"payments_history": N, "latency_fresh_ms": a, "latency_loaded_ms": b, "ratio": b/a,
"getlogs_full_range": k, ...}``: a and b are medians, k the ``eth_getLogs`` from the deployment block made while the
M payments of step 3 were processed (target 0), the ratio's target at most 1.25; ``peak_rss_mb`` gives each service's
peak resident memory in MiB after its keys are loaded (catch-up included), ``largest_read_logs`` the most logs one
read of its sync held (what a read holds in memory grows with it). The node's own part grows with the
chain's state on anvil 1.7.1, which rebuilds its whole state trie for every block it mines (foundry-rs/foundry#15715,
fixed after the last npm release): ``transaction_ms`` gives B's redemption from sending to its receipt, young and
loaded (the node's part and the receipt's polling, no service involved), and ``ratio_after_redemption`` the ratio of
the journeys from that receipt on.

On a live chain (:mod:`collab_py.devnet.livechain`): ``bench/history.py --rpc-url URL [--ws-url WS]`` does the same
against a fresh deployment there, with no anvil-only call: the fresh accounts get ether by transfers from
``--funder-keystore`` or ``COLLAB_FUNDER_KEY`` (or none on a zero-gas chain) instead of ``anvil_setBalance``, and the N
payments of history go out in rounds that the chain's own blocks carry (each at most two blocks' gas) instead of
rounds mined by ``evm_mine`` with automine off (:class:`~collab_py.devnet.pipeline.Rounds`). ``--clique`` does it on
3 geth sealers and an RPC node started here (1 s blocks); ``--clique --sealers 1 --gas-limit 300000000`` builds a long
history there in big rounds (``--payments 100000``: about an hour). The latencies then include the wait for each
block (about three blocks a journey: the redemption, the release, the invoice); the JSON line adds ``"node"``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from sqlalchemy import Engine, and_, create_engine, select
from web3 import Web3

from collab_py.chain.deploy import Deployment
from collab_py.chain.enums import Department
from collab_py.chain.transactor import connect, rpc_request
from collab_py.devnet.flow import Flow
from collab_py.devnet.livechain import LiveChain, add_live_arguments, is_live, live_chain
from collab_py.devnet.load import BANK_ACCOUNT, released_payments
from collab_py.devnet.node import AnvilNode
from collab_py.devnet.parties import Funding, Party
from collab_py.devnet.processes import ListenerProcess, import_party
from collab_py.devnet.proxy import RpcProxy
from collab_py.devnet.sandbox import Sandbox, bootstrap
from collab_py.domain import crypto
from collab_py.domain.drafts import ContractDraft, StageDraft
from collab_py.domain.keys import Keyring
from collab_py.domain.types import payment_voucher_id
from collab_py.ledger.schema import PAYMENT, RECEIPT, invoices, journal_entries
from collab_py.listener.factory import Role
from collab_py.listener.handlers.invoicing import VERIFIED

TARGET_RATIO = 1.25
#: Longest wait for one payment's journey.
JOURNEY_TIMEOUT_S = 60.0
#: Wei one account may pay for its part of a payment on a live chain: three transactions (Party B's request,
#: redemption and invoice) of up to 300,000 gas at 10 gwei.
WEI_PER_PAYMENT = 3 * 300_000 * 10 * 10**9
#: The passphrase of the services' keystores (a benchmark's throwaway keys).
PASSPHRASE = "history benchmark"


class Services:
    """The bot and both parties' books and invoicing, each org a ``collab listen`` process of its own on its ledger
    in ``folder`` (keystores written there once by :meth:`prepare`), reading the chain through ``rpc_url``."""

    def __init__(self, sandbox: Sandbox, manifest: Path, rpc_url: str, ws_url: str | None, folder: Path) -> None:
        self.processes: dict[str, ListenerProcess] = {}
        for name, (party, roles) in _services(sandbox).items():
            env = {
                "COLLAB_RPC_URL": rpc_url,
                "COLLAB_MANIFEST": str(manifest),
                "COLLAB_KEYSTORE_DIR": str(folder / name / "keys"),
                "COLLAB_PASSPHRASE": PASSPHRASE,
                "COLLAB_LEDGER_URL": f"sqlite:///{folder / name}.db",
                "COLLAB_ORG_ID": str(party.org_id),
                "COLLAB_CONFIRMATIONS": "0",
            }
            args = [word for role in roles for word in ("--role", role.value)]
            args += ["--ws-url", ws_url] if ws_url else []  # without one, the listeners poll
            self.processes[name] = ListenerProcess(name, env, folder / f"{name}.log", *args)
        for process in self.processes.values():
            process.wait_serving()
            process.reset_peak()  # what the service's work needs, not its keystore's scrypt
        self.ledgers = {name: create_engine(f"sqlite:///{folder / name}.db") for name in ("a", "b")}

    @staticmethod
    def prepare(sandbox: Sandbox, folder: Path) -> None:
        """Writes each service's keystores (eth-account's default key derivation, as in production)."""
        for name, (party, roles) in _services(sandbox).items():
            departments = [Department.OPERATOR] if Role.institution in roles else [Department.FINANCE]
            import_party(Keyring(folder / name / "keys"), party, PASSPHRASE, departments)

    def wait_until(self, block: int, timeout: float) -> None:
        for process in self.processes.values():
            process.wait_until(block, timeout)

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        """Stops the services, noting each one's peak resident memory in MiB (:attr:`peaks`) and the most logs one
        read of its sync held (:attr:`largest_reads`)."""
        self.peaks = {name: process.peak_rss_mb() or 0.0 for name, process in self.processes.items()}
        self.largest_reads = {
            name: int(process.gauge("read_logs_max").get("sync", 0)) for name, process in self.processes.items()
        }
        for process in self.processes.values():
            process.stop()
        for ledger in self.ledgers.values():
            ledger.dispose()


def _services(sandbox: Sandbox) -> dict[str, tuple[Party, tuple[Role, ...]]]:
    books = (Role.accounting, Role.invoicing)
    return {"bank": (sandbox.bank, (Role.institution,)), "a": (sandbox.a, books), "b": (sandbox.b, books)}


def done(a: Engine, b: Engine, a_org: int, b_org: int, voucher: bytes) -> bool:
    """Whether the payment ``voucher`` is posted in both books and its invoice verified by A."""
    entries, invoice = journal_entries.c, invoices.c
    with a.connect() as connection:
        paid = connection.execute(
            select(entries.id).where(
                and_(entries.org_id == a_org, entries.kind == PAYMENT, entries.voucher_id == voucher)
            )
        ).first()
        verified = connection.execute(
            select(invoice.id).where(
                and_(
                    invoice.org_id == a_org,
                    invoice.direction == "IN",  # the index of (org, direction, voucher), not a scan of the VERIFIED
                    invoice.voucher_id == voucher,
                    invoice.status == VERIFIED,
                )
            )
        ).first()
    if paid is None or verified is None:
        return False
    with b.connect() as connection:
        received = connection.execute(
            select(entries.id).where(
                and_(entries.org_id == b_org, entries.kind == RECEIPT, entries.voucher_id == voucher)
            )
        ).first()
    return received is not None


def timed_payments(
    sandbox: Sandbox, deployment: Deployment, services: Services, prefix: str, count: int
) -> tuple[list[float], list[float]]:
    """Milliseconds from B's redemption to the end of each payment's journey, for ``count`` payments in turn; and
    the milliseconds from sending each redemption to its receipt (the node's part, no service involved)."""
    flow = Flow(deployment)
    a, b, bank = sandbox.a, sandbox.b, sandbox.bank
    finance_b = flow.finance(b)
    issued = []
    for index in range(count):
        draft = ContractDraft(f"{prefix}-{index}", f"timed payment {index}", (StageDraft(f"{prefix}-{index}", 100),))
        seq, sealed = flow.issue(a, b, bank, draft, bank_account=BANK_ACCOUNT)
        key = crypto.open_sealed(b.encryption_key, sealed, crypto.PaymentKey, finance_b.binding(draft.contract_no, seq))
        issued.append((draft, seq, key))
    services.wait_until(deployment.w3.eth.block_number, timeout=120)  # idle before the clock starts
    latencies, transaction_ms = [], []
    for draft, seq, key in issued:
        voucher = payment_voucher_id(draft.contract_no, seq)
        started = time.perf_counter()
        redemption = finance_b.prepare_redeem(draft.contract_no, seq, key.secret)
        sent = time.perf_counter()
        finance_b.execute(redemption)
        transaction_ms.append((time.perf_counter() - sent) * 1000)
        deadline = started + JOURNEY_TIMEOUT_S
        while not done(services.ledgers["a"], services.ledgers["b"], a.org_id, b.org_id, voucher):
            if time.perf_counter() > deadline:
                raise SystemExit(f"payment {draft.number} was not through in {JOURNEY_TIMEOUT_S:.0f} s")
            time.sleep(0.005)
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies, transaction_ms


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument(
        "--payments",
        type=int,
        default=10_000,
        help="payments of history (default 10000; the long profile: 100000)",
    )
    parser.add_argument("--timed", type=int, default=5, help="payments timed on each chain (default 5)")
    parser.add_argument(
        "--keep", type=Path, help="leave the services' ledgers and logs (timestamped) in this folder, for a post-mortem"
    )
    add_live_arguments(parser)
    args = parser.parse_args(argv)
    if args.payments < 1 or args.timed < 1:
        parser.error("--payments and --timed must be positive")
    if args.ws_url and not args.rpc_url:
        parser.error("--ws-url goes with --rpc-url")
    console = Console()
    run_started = time.perf_counter()
    kept: AbstractContextManager[str]
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
        kept = nullcontext(str(args.keep))
    else:
        kept = tempfile.TemporaryDirectory(prefix="collab-history-")
    with _chain(args, console) as chain, kept as scratch:
        w3 = chain.connect()
        node = str(rpc_request(w3, "web3_clientVersion"))
        # the N payments cost Party B's finance account most: three transactions each
        wei_each = max(chain.funding.wei_each, (args.payments + 2 * args.timed) * WEI_PER_PAYMENT)
        funding = dataclasses.replace(chain.funding, wei_each=wei_each)
        console.print(f"node {node}; funding: {funding.describe(w3)}", highlight=False)
        sandbox = bootstrap(w3, funding=funding)
        manifest = sandbox.deployment.manifest
        with RpcProxy(chain.rpc_url, full_range_from=manifest.deployment_block) as proxy:
            deployment = Deployment.attach(chain.connect(proxy.url), manifest)
            folder = Path(scratch)
            saved = manifest.save(folder / "manifest.json")
            Services.prepare(sandbox, folder)

            with Services(sandbox, saved, proxy.url, chain.ws_url, folder) as young:
                proxy.reset()
                fresh, sent_fresh = timed_payments(sandbox, deployment, young, "FRESH", args.timed)
                full_range_fresh = proxy.getlogs_full_range
            console.print(f"young chain: median {statistics.median(fresh):.0f} ms over {args.timed} payments")

            started = time.perf_counter()
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task("history: released and invoiced payments", total=args.payments)
                released_payments(
                    sandbox,
                    args.payments,
                    invoiced=True,
                    progress=lambda n: progress.update(task, completed=n),
                    account_window=chain.account_window,
                )
            history_s = time.perf_counter() - started
            console.print(f"{args.payments:,} payments of history in {history_s:.1f} s")

            started = time.perf_counter()
            with Services(sandbox, saved, proxy.url, chain.ws_url, folder) as loaded_services:
                loaded_services.wait_until(deployment.w3.eth.block_number, timeout=1_800)
                catch_up = time.perf_counter() - started
                console.print(f"the services caught up with the history in {catch_up:.1f} s")
                proxy.reset()
                loaded, sent_loaded = timed_payments(sandbox, deployment, loaded_services, "LOADED", args.timed)
                full_range_loaded = proxy.getlogs_full_range

    latency_fresh, latency_loaded = statistics.median(fresh), statistics.median(loaded)
    ratio = latency_loaded / latency_fresh
    tx_fresh, tx_loaded = statistics.median(sent_fresh), statistics.median(sent_loaded)
    ratio_after_redemption = (latency_loaded - tx_loaded) / (latency_fresh - tx_fresh)
    console.print(
        f"redemption to invoice verified, median of {args.timed}: {latency_fresh:.0f} ms young, "
        f"{latency_loaded:.0f} ms after {args.payments:,} payments: ratio {ratio:.2f} (target <= {TARGET_RATIO}); "
        f"eth_getLogs from the deployment block: {full_range_fresh} young, {full_range_loaded} loaded"
    )
    console.print(
        f"the redemption sent to its receipt: {tx_fresh:.0f} ms young, {tx_loaded:.0f} ms loaded; "
        f"from its receipt to the invoice verified: ratio {ratio_after_redemption:.2f}"
    )
    shown = ", ".join(
        f"{name} {mib:.0f} MiB (largest read {loaded_services.largest_reads[name]:,} logs)"
        for name, mib in loaded_services.peaks.items()
    )
    console.print(f"peak memory of each service (catch-up and loaded payments): {shown}")
    summary = {
        "payments_history": args.payments,
        "latency_fresh_ms": round(latency_fresh, 1),
        "latency_loaded_ms": round(latency_loaded, 1),
        "ratio": round(ratio, 3),
        "getlogs_full_range": full_range_loaded,
        "transaction_ms": {"young": round(tx_fresh, 1), "loaded": round(tx_loaded, 1)},
        "ratio_after_redemption": round(ratio_after_redemption, 3),
        "timed_payments": args.timed,
        "catch_up_s": round(catch_up, 1),
        "history_s": round(history_s, 1),
        "seconds": round(time.perf_counter() - run_started, 1),
        "node": node,
        "peak_rss_mb": {name: round(mib, 1) for name, mib in loaded_services.peaks.items()},
        "peak_rss_mb_young": {name: round(mib, 1) for name, mib in young.peaks.items()},
        "largest_read_logs": loaded_services.largest_reads,
    }
    print(json.dumps(summary))
    return 0


@contextmanager
def _chain(args: argparse.Namespace, console: Console) -> Iterator[LiveChain]:
    """The chain of ``--rpc-url`` or ``--clique``, else an anvil started here (its accounts funded by
    ``anvil_setBalance``)."""
    if is_live(args):
        with live_chain(args, lambda line: console.print(line, highlight=False)) as chain:
            yield chain
        return
    with AnvilNode() as node:
        yield _AnvilChain(node.rpc_url, node.ws_url, Funding())


class _AnvilChain(LiveChain):
    """An anvil started here, used as the live chains are (plain client: no settings read from the environment)."""

    def connect(self, rpc_url: str | None = None) -> Web3:
        return connect(rpc_url or self.rpc_url)


if __name__ == "__main__":
    raise SystemExit(main())
