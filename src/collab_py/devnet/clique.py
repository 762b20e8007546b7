"""A real geth Clique (proof-of-authority) network for tests: N sealers and one RPC node on 127.0.0.1.

``with CliqueNetwork(sealers=3, prefund={address: wei}) as net: connect(net.rpc_url, poa=True)``

The genesis has every fork through London (and Arrow/Gray Glacier) at block 0 and no Shanghai or Cancun time:
multi-node Clique stalls at Shanghai (go-ethereum #29319), so contracts are compiled for ``paris``.
Each node has its own data folder in one temporary folder, loopback-only ports chosen free, discovery off and
static peers written to its ``--config`` TOML; the harness changes the topology at run time with
``admin_addPeer`` / ``admin_removePeer`` over each node's IPC socket and rewrites the TOML on every (re)start.

Faults: :meth:`CliqueNetwork.stop_node` (SIGTERM, or SIGKILL with ``kill=True``), :meth:`CliqueNetwork.start_node`,
:meth:`CliqueNetwork.restart_node` (same data folder, same ports). Reorgs: :meth:`CliqueNetwork.partition` splits
the nodes in two sides that both keep sealing, :meth:`CliqueNetwork.heal` joins them and returns the
:class:`Reorg` the RPC node went through.

Zero-gas networks (``zero_gas=True``): base fee 0 in the genesis and every node's minimum gas price set to 0 with
``miner_setGasPrice`` after it starts: geth 1.13 "sanitizes" ``--miner.gasprice 0`` to 1 gwei and
``--txpool.pricelimit 0`` to 1 wei, so those flags cannot do it. Transactions must then pay a gas price of 0 (the
node's ``eth_gasPrice`` still suggests 1 gwei). London's base fee rises by at least 1 wei after any block that uses
more than half its gas limit, and a base fee below 8 wei never falls again: keep the gas limit high.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from collab_py.chain.network import clique_genesis
from collab_py.devnet.geth import (
    GethNode,
    GethNodeError,
    ensure_geth,
    own_folder,
    release_folder,
    stop_all,
    wait_until,
)

#: Seconds the genesis time lies ahead of its writing: about the time the nodes take to start and peer.
GENESIS_LEAD = 2
#: geth's ``--txpool.globalslots`` default: pending transactions of all accounts.
DEFAULT_GLOBAL_SLOTS = 5120
SEALER_API = ("eth", "net", "web3", "txpool", "clique")
RPC_API = ("eth", "net", "web3", "txpool", "admin", "debug", "clique")


@dataclass(frozen=True)
class Head:
    """A block as one node sees it."""

    number: int
    hash: str
    total_difficulty: int

    @classmethod
    def of(cls, node: GethNode) -> Head:
        """``node``'s latest block."""
        block = node.head()
        return cls(int(block["number"], 16), block["hash"], int(block["totalDifficulty"], 16))


@dataclass(frozen=True)
class Reorg:
    """What healing a partition did to the RPC node's chain (``depth`` 0: its side won)."""

    depth: int
    common_ancestor: int
    old_head: Head
    new_head: Head
    dropped_blocks: tuple[str, ...]
    dropped_transactions: tuple[str, ...]
    depth_by_node: dict[str, int]
    log: tuple[str, ...]


@dataclass
class Partition:
    """Two sides that cannot reach each other; ``twins`` are the extra sealers started so that each side has enough
    signers, ``fork_block`` the RPC node's head when the sides split."""

    sides: tuple[tuple[GethNode, ...], tuple[GethNode, ...]]
    twins: tuple[GethNode, ...]
    fork_block: int

    def side_of(self, node: GethNode) -> int:
        """0 or 1."""
        return 0 if node in self.sides[0] else 1


@dataclass
class _Topology:
    """Who should be connected to whom, and what each geth's dialer holds (static peers, recent dials)."""

    static: dict[GethNode, set[GethNode]] = field(default_factory=dict)
    dialed: dict[tuple[GethNode, GethNode], float] = field(default_factory=dict)

    def set_static(self, node: GethNode, peers: Iterable[GethNode]) -> None:
        self.static[node] = set(peers)
        now = time.monotonic()
        for peer in self.static[node]:
            self.dialed[node, peer] = now

    def last_dial(self, node: GethNode, peer: GethNode) -> float:
        return self.dialed.get((node, peer), float("-inf"))


class CliqueNetwork:
    """N sealers and one non-sealing archive RPC node of a geth 1.13 Clique chain, each in its own data folder.

    ``sealers``: signers in the genesis, one node each (3 lets one be killed and the chain continue: a signer seals
    at most one of every ``sealers // 2 + 1`` blocks). ``period``: seconds between blocks. ``prefund``: address →
    wei in the genesis. ``sealer_keys``: the signers' private keys (random by default). ``zero_gas``: base fee 0
    and minimum gas price 0 on every node. ``archive_sealers``: ``--gcmode archive`` for the sealers too (the RPC
    node always is): a sealer killed with SIGKILL then restarts at its head instead of rewinding to its last
    flushed state. ``account_window``: how many transactions of one account every node's pool keeps whose nonce is
    not yet due (geth's ``--txpool.accountqueue``, 64 by default), with room for as many pending.
    """

    def __init__(
        self,
        *,
        sealers: int = 3,
        chain_id: int = 1337,
        period: int = 1,
        epoch: int = 30_000,
        gas_limit: int = 30_000_000,
        zero_gas: bool = False,
        prefund: Mapping[str, int] | None = None,
        sealer_keys: Sequence[str] | None = None,
        archive_sealers: bool = False,
        account_window: int | None = None,
        start_timeout: float = 90.0,
    ) -> None:
        if sealers < 1:
            raise ValueError("a Clique network needs at least one sealer")
        keys = list(sealer_keys) if sealer_keys is not None else [Account.create().key.hex() for _ in range(sealers)]
        if len(keys) != sealers:
            raise ValueError(f"{sealers} sealers but {len(keys)} sealer keys")
        self.chain_id = chain_id
        self.period = period
        self.epoch = epoch
        self.gas_limit = gas_limit
        self.zero_gas = zero_gas
        self.prefund = dict(prefund or {})
        self.sealer_accounts: list[LocalAccount] = [Account.from_key(key) for key in keys]
        self.archive_sealers = archive_sealers
        self.account_window = account_window
        self.start_timeout = start_timeout
        self.root: Path | None = None
        self.genesis: dict[str, Any] = {}
        self.sealers: list[GethNode] = []
        self._rpc_node: GethNode | None = None
        self._members: list[GethNode] = []
        self._topology = _Topology()
        self._partition: Partition | None = None
        self._twins = 0
        self._twin_nodes: set[GethNode] = set()

    # -- endpoints

    @property
    def rpc_node(self) -> GethNode:
        """The non-sealing archive node clients talk to."""
        if self._rpc_node is None:
            raise GethNodeError("the network is not started")
        return self._rpc_node

    @property
    def rpc_url(self) -> str:
        """The RPC node's HTTP endpoint."""
        return self.rpc_node.rpc_url

    @property
    def ws_url(self) -> str:
        """The RPC node's WebSocket endpoint."""
        return self.rpc_node.ws_url

    @property
    def nodes(self) -> list[GethNode]:
        """Every node of the network: the sealers, the RPC node, and twins while partitioned."""
        return list(self._members)

    @property
    def sealer_addresses(self) -> list[str]:
        """The signers in the genesis, in node order."""
        return [account.address for account in self.sealer_accounts]

    @property
    def partitioned(self) -> Partition | None:
        """The current partition, if any."""
        return self._partition

    # -- start and stop

    def __enter__(self) -> CliqueNetwork:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> CliqueNetwork:
        """Writes the genesis, initialises and starts every node, waits until they peer and seal blocks."""
        geth = ensure_geth()
        try:
            for attempt in range(3):
                self.root = own_folder()
                self._create(geth)
                try:
                    self._launch()
                    return self
                except GethNodeError as error:
                    # another process took a port between our choosing it and geth binding it: new ports
                    if attempt == 2 or "address already in use" not in str(error):
                        raise
                    self.stop()
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def _create(self, geth: Path) -> None:
        assert self.root is not None
        self.genesis = clique_genesis(
            chain_id=self.chain_id,
            signers=self.sealer_addresses,
            period=self.period,
            epoch=self.epoch,
            gas_limit=self.gas_limit,
            base_fee=0 if self.zero_gas else None,
            alloc=self.prefund,
            # block 1 is due once the nodes have started and peered: no lone sealer forks the chain at block 1
            timestamp=int(time.time()) + GENESIS_LEAD,
        )
        (self.root / "genesis.json").write_text(json.dumps(self.genesis, indent=1))
        self.sealers = [
            self._node(f"sealer-{index}", geth, signer=account, mine=True, archive=self.archive_sealers)
            for index, account in enumerate(self.sealer_accounts)
        ]
        self._rpc_node = self._node("rpc", geth, archive=True, ws=True, http_api=RPC_API)
        self._members = [*self.sealers, self._rpc_node]
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(self._init, self._members))

    def _node(self, name: str, geth: Path, **options: Any) -> GethNode:
        assert self.root is not None
        datadir = self.root / name
        datadir.mkdir()
        options.setdefault("http_api", SEALER_API)
        if self.account_window is not None:
            options["extra_args"] = _pool_arguments(self.account_window)
        return GethNode(name, datadir, geth=geth, network_id=self.chain_id, gas_limit=self.gas_limit, **options)

    def _init(self, node: GethNode) -> None:
        assert self.root is not None
        node.init(self.root / "genesis.json")

    def _launch(self) -> None:
        # each pair is dialled from one end only, so that the other end can dial at once when a partition heals
        # (a geth does not redial a node it dialled less than 35 s ago); the nodes start last to first, so that
        # each dials nodes that already listen. Sealers seal from their first moment: a geth that has neither
        # synced nor started sealing discards the blocks its peers propagate, and two signers that each sealed
        # their own block 1 that way wait for each other forever ("signed recently"). Lone blocks sealed before
        # the peers connect are reorganised away by the first sync.
        for index, node in enumerate(self._members):
            self._topology.set_static(node, self._members[index + 1 :])
        for node in reversed(self._members):
            self._boot(node)
        self.wait_peered(self.start_timeout)
        self._set_gas_price(self._members)
        self.wait_for_block(2, timeout=self.start_timeout)
        self.wait_in_sync(timeout=self.start_timeout)

    def stop(self) -> None:
        """Stops every node (SIGTERM, then SIGKILL after 10 s) and removes their data folders; idempotent."""
        stop_all(self._members)
        self._members = []
        self._rpc_node = None
        self._twin_nodes.clear()
        self._partition = None
        self._topology = _Topology()
        if self.root is not None:
            release_folder(self.root)
            self.root = None

    # -- reading

    def head(self, node: GethNode | None = None) -> Head:
        """The latest block of ``node`` (default: the RPC node)."""
        return Head.of(node or self.rpc_node)

    def wait_for_block(self, number: int, node: GethNode | None = None, timeout: float = 60.0) -> Head:
        """Waits until ``node`` (default: the RPC node) has block ``number``; returns its head."""
        target = node or self.rpc_node
        wait_until(
            lambda: target.block_number() >= number,
            timeout,
            lambda: f"{target.name} did not reach block {number} within {timeout} s\n{self.log_tails()}",
        )
        return Head.of(target)

    def wait_blocks(self, count: int, node: GethNode | None = None, timeout: float = 60.0) -> Head:
        """Waits until ``node`` (default: the RPC node) has ``count`` more blocks."""
        target = node or self.rpc_node
        return self.wait_for_block(target.block_number() + count, target, timeout)

    def wait_in_sync(
        self, height: int | None = None, timeout: float = 60.0, nodes: Sequence[GethNode] | None = None
    ) -> None:
        """Waits until the running ``nodes`` (default: all) have the same block at ``height`` (default: the highest
        head among them now): they follow one chain up to there."""
        group = [node for node in (nodes if nodes is not None else self._members) if node.running]
        target = height if height is not None else max(node.block_number() for node in group)

        def agreed() -> bool:
            hashes = set()
            for node in group:
                # a node rewinding after a crash still answers blocks above its head: ask for its head too
                block = node.call("eth_getBlockByNumber", hex(target), False)
                if block is None or node.block_number() < target:
                    return False
                hashes.add(block["hash"])
            return len(hashes) == 1

        def describe() -> str:
            heads = ", ".join(f"{node.name} at {_safe_number(node)}" for node in group)
            return f"the nodes did not agree on block {target} within {timeout} s ({heads})\n{self.log_tails()}"

        wait_until(agreed, timeout, describe)

    def signer_of(self, block: int | str, node: GethNode | None = None) -> str:
        """The address that sealed ``block`` (a number or a hash), by ``clique_getSigner``."""
        ref = hex(block) if isinstance(block, int) else block
        signer: str = (node or self.rpc_node).call("clique_getSigner", ref)
        return signer

    def log_tails(self, lines: int = 15) -> str:
        """The last lines of every node's log, for error messages."""
        return "\n".join(node.log_tail(lines) for node in self._members)

    # -- faults

    def stop_node(self, node: GethNode, *, kill: bool = False) -> None:
        """Stops ``node``: SIGTERM, or SIGKILL (a crash, nothing flushed) with ``kill``.

        The nodes that dial it drop it from their static peers first: they would redial it while it is down, and a
        geth does not dial a node again for 35 s after a dial; when it starts again, it dials them."""
        for peer in self._members:
            if peer is not node and node in self._topology.static.get(peer, set()):
                self._topology.static[peer].discard(node)
                if peer.running:
                    peer.call("admin_removePeer", node.enode)
        if kill:
            node.kill()
        else:
            node.stop()

    def start_node(self, node: GethNode, timeout: float = 60.0) -> None:
        """Starts a stopped node again (same data folder and ports) with static peers for the current topology;
        waits until it is peered and has caught up with the head its peers had when it started."""
        peers = [peer for peer in self._members if peer is not node and self._linked(node, peer)]
        self._topology.set_static(node, peers)
        target = max((peer.block_number() for peer in peers if peer.running), default=0)
        self._boot(node, timeout=timeout)
        self.wait_peered(timeout)
        self._set_gas_price([node])
        self.wait_in_sync(target, timeout, [node, *peers])

    def restart_node(self, node: GethNode, *, kill: bool = False, timeout: float = 60.0) -> None:
        """:meth:`stop_node` then :meth:`start_node`."""
        self.stop_node(node, kill=kill)
        self.start_node(node, timeout)

    def restart_rpc_node(self, *, kill: bool = False, timeout: float = 60.0) -> None:
        """Restarts the RPC node (clients see it go away and come back at the same URLs)."""
        self.restart_node(self.rpc_node, kill=kill, timeout=timeout)

    # -- partitions

    def partition(
        self, side_a: Sequence[GethNode], side_b: Sequence[GethNode] | None = None, timeout: float = 60.0
    ) -> Partition:
        """Splits the network: no connection between ``side_a`` and ``side_b`` (default: every other node).

        Both sides keep sealing: a Clique signer seals at most one of every ``signers // 2 + 1`` consecutive
        blocks, so a side with fewer distinct signers than that stalls. Such a side gets "twins": extra nodes that
        seal with the keys of signers on the other side (the equivocation a real partition of a misconfigured
        network produces). They are started on their side, synced, then set sealing, and stopped by :meth:`heal`.
        """
        if self._partition is not None:
            raise GethNodeError("already partitioned: heal() first")
        first = tuple(side_a)
        second = tuple(side_b) if side_b is not None else tuple(n for n in self._members if n not in first)
        if set(first) & set(second) or set(first) | set(second) != set(self._members):
            raise ValueError("the two sides must split the network's nodes between them")
        if not first or not second:
            raise ValueError("each side needs at least one node")
        self.wait_in_sync(timeout=timeout)
        fork_block = self.rpc_node.block_number()
        self._partition = Partition((first, second), (), fork_block)
        self._disconnect_sides()
        self.wait_peered(timeout)
        twins: list[GethNode] = []
        limit = len(self.sealer_accounts) // 2 + 1
        for own, other in ((first, second), (second, first)):
            signers = {node.address for node in own if node.signer is not None}
            borrowable = [n.signer for n in other if n.signer is not None and n.address not in signers]
            for account in borrowable[: max(0, limit - len(signers))]:
                twins.append(self._start_twin(account, own, timeout))
        self._partition.twins = tuple(twins)
        return self._partition

    def _disconnect_sides(self) -> None:
        partition = self._partition
        assert partition is not None
        first, second = partition.sides
        for a in first:
            for b in second:
                # the ends holding the other as static first: once neither does, nobody dials again
                ends = sorted(((a, b), (b, a)), key=lambda pair: pair[1] not in self._topology.static[pair[0]])
                for node, peer in ends:
                    was_static = peer in self._topology.static[node]
                    self._topology.static[node].discard(peer)
                    if node.running:
                        node.call("admin_removePeer", peer.enode)
                    if was_static and self._topology.static[peer] & {node}:
                        self._topology.dialed[peer, node] = time.monotonic()

    def _start_twin(self, account: LocalAccount, side: Sequence[GethNode], timeout: float) -> GethNode:
        assert self._partition is not None
        twin = self._node(f"twin-{self._twins}", self.sealers[0].geth, signer=account, mine=False)
        self._twins += 1
        self._twin_nodes.add(twin)
        self._init(twin)
        self._members.append(twin)
        partition = self._partition
        index = partition.side_of(side[0])
        sides = list(partition.sides)
        sides[index] = (*sides[index], twin)
        partition.sides = (sides[0], sides[1])
        for peer in self._members:
            if peer.running:
                peer.call("admin_addTrustedPeer", twin.enode)
        self.start_node(twin, timeout)
        twin.start_sealing(0 if self.zero_gas else None)
        return twin

    def heal(self, *, winner: Sequence[GethNode] | None = None, timeout: float = 90.0) -> Reorg:
        """Joins the sides again and waits until every node follows one chain; returns the RPC node's reorg.

        With ``winner`` (a side, or nodes of it) that side's chain is made to win: the other side stops sealing,
        the winner seals until its total difficulty is higher, then the sides reconnect and the other side's
        sealers start again. Without it geth's rule decides (higher total difficulty, ties at random).
        """
        partition = self._partition
        if partition is None:
            raise GethNodeError("not partitioned")
        real = [node for node in self._members if node not in partition.twins]
        win: int | None = None
        stopped: list[GethNode] = []
        if winner is not None:
            win = partition.side_of(next(iter(winner)))
            stopped = [n for n in partition.sides[1 - win] if n.signer is not None and n.running]
            for node in stopped:
                node.stop_sealing()
            # the losing side's chain as all its nodes (twins included) hold it once a block sealed just before the
            # stop has reached every one of them: under load that takes more than a moment
            losers = [n for n in partition.sides[1 - win] if n.running]
            wait_until(
                lambda: len({Head.of(n).hash for n in losers}) == 1,
                timeout,
                lambda: f"the losing side's nodes did not agree on a head within {timeout} s\n{self.log_tails()}",
            )
            time.sleep(1.0)  # and no later block comes (a seal under way when its sealer stopped)
            losing = max(Head.of(n).total_difficulty for n in losers)
            winning = [n for n in partition.sides[win] if n in real and n.running]
            wait_until(
                lambda: max(Head.of(n).total_difficulty for n in winning) > losing,
                timeout,
                lambda: f"the winning side did not overtake within {timeout} s\n{self.log_tails()}",
            )
        before = {node: Head.of(node) for node in real if node.running}
        reorg_lines = len(self.rpc_node.log_lines("Chain reorg detected"))
        for twin in partition.twins:
            with contextlib.suppress(GethNodeError):
                twin.stop_sealing()
        stop_all(partition.twins)
        for twin in partition.twins:
            self._members.remove(twin)
            self._twin_nodes.discard(twin)
            self._topology.static.pop(twin, None)
            for peers in self._topology.static.values():
                peers.discard(twin)
        self._partition = None
        self._reconnect(partition, [n for n in real if n.running])
        self.wait_peered(timeout)
        candidates = [head for node, head in before.items() if win is None or partition.side_of(node) == win]
        self.wait_in_sync(max(candidates, key=lambda head: (head.total_difficulty, head.number)).number, timeout)
        for node in stopped:
            if node not in partition.twins:
                node.start_sealing()
        for twin in partition.twins:
            release_folder(twin.datadir)
        return self._reorg(before, reorg_lines)

    def _reconnect(self, partition: Partition, running: Sequence[GethNode]) -> None:
        first, second = partition.sides
        for a in first:
            for b in second:
                if a not in running or b not in running:
                    continue
                # dial from the end that has not dialled the other for longest: it is not held back
                node, peer = min(((a, b), (b, a)), key=lambda pair: self._topology.last_dial(*pair))
                node.call("admin_addPeer", peer.enode)
                self._topology.static[node].add(peer)
                self._topology.dialed[node, peer] = time.monotonic()

    def _reorg(self, before: Mapping[GethNode, Head], reorg_lines: int) -> Reorg:
        depths: dict[str, int] = {}
        ancestor = before[self.rpc_node].number
        dropped_blocks: list[str] = []
        dropped_txs: list[str] = []
        for node, old in before.items():
            number, block_hash = old.number, old.hash
            dropped: list[dict[str, Any]] = []
            while number > 0:
                canonical = node.call("eth_getBlockByNumber", hex(number), False)
                if canonical is not None and canonical["hash"] == block_hash:
                    break
                block = node.call("eth_getBlockByHash", block_hash, False)
                dropped.append(block)
                block_hash, number = block["parentHash"], number - 1
            depths[node.name] = len(dropped)
            if node is self.rpc_node:
                ancestor = number
                dropped_blocks = [block["hash"] for block in reversed(dropped)]
                dropped_txs = [tx for block in reversed(dropped) for tx in block["transactions"]]
        old_head = before[self.rpc_node]
        return Reorg(
            depth=depths[self.rpc_node.name],
            common_ancestor=ancestor,
            old_head=old_head,
            new_head=Head.of(self.rpc_node),
            dropped_blocks=tuple(dropped_blocks),
            dropped_transactions=tuple(dropped_txs),
            depth_by_node=depths,
            log=tuple(self.rpc_node.log_lines("Chain reorg detected")[reorg_lines:]),
        )

    # -- topology

    def _spawn(self, node: GethNode, mine: bool | None = None) -> None:
        """Starts ``node`` with the static peers the topology gives it, every other node as trusted, and MaxPeers
        the number of nodes it links to when the network is whole (a twin: its side).

        geth starts syncing from a better peer as soon as it has min(5, MaxPeers) peers, else only every 10 s
        (and a node that has neither synced nor sealed discards the blocks its peers propagate): with MaxPeers at
        the full count a node syncs at once on start and on heal. DialRatio 1 lets it dial all of them; being
        trusted exempts them from the limits on inbound peers (0 with DialRatio 1) and on MaxPeers."""
        others = [peer for peer in self._members if peer is not node]
        if node in self._twin_nodes:
            peers = sum(1 for peer in others if self._linked(node, peer))
        else:
            peers = sum(1 for peer in others if peer not in self._twin_nodes)
        node.start(
            (peer.enode for peer in self._topology.static[node]),
            trusted_peers=(peer.enode for peer in others),
            max_peers=max(1, peers),
            mine=mine,
        )

    def _boot(self, node: GethNode, mine: bool | None = None, timeout: float = 30.0) -> None:
        """:meth:`_spawn` and wait until it answers; once more if geth crashed while starting (Go exits with 2 on a
        panic), saying so on stderr. The panic once seen inside ``--unlock`` one start in a few hundred was no load
        effect but geth's "bad IV length" on a keystore whose IV had lost its leading zero byte: the keystores are
        written with 16-byte IVs now (:func:`~collab_py.domain.keys.full_iv`)."""
        for attempt in (1, 2):
            self._spawn(node, mine)
            try:
                node.wait_ready(timeout)
                return
            except GethNodeError as error:
                if attempt == 2 or node.exit_code != 2:
                    raise
                print(f"collab: {error}\ncollab: starting {node.name} once more", file=sys.stderr, flush=True)

    def _linked(self, a: GethNode, b: GethNode) -> bool:
        partition = self._partition
        return partition is None or partition.side_of(a) == partition.side_of(b)

    def wait_peered(self, timeout: float = 60.0) -> None:
        """Waits until every running node is connected to exactly the running nodes it is linked to."""

        def peered() -> bool:
            running = [node for node in self._members if node.running]
            for node in running:
                keys = node.peer_keys()
                want = {peer.pubkey for peer in running if peer is not node and self._linked(node, peer)}
                if keys != want:
                    return False
            return True

        def describe() -> str:
            lines = [f"the nodes did not peer as expected within {timeout} s:"]
            for node in self._members:
                if node.running:
                    names = [p.name for p in self._members if p.pubkey in _safe_peer_keys(node)]
                    lines.append(f"  {node.name} peers with {names}")
            return "\n".join(lines) + "\n" + self.log_tails()

        wait_until(peered, timeout, describe)

    def _set_gas_price(self, nodes: Iterable[GethNode]) -> None:
        if self.zero_gas:
            for node in nodes:
                node.call("miner_setGasPrice", "0x0")


def _pool_arguments(account_window: int) -> list[str]:
    """geth's transaction pool sized to keep ``account_window`` of one account's transactions, queued or pending."""
    slots = str(max(DEFAULT_GLOBAL_SLOTS, 4 * account_window))
    return [
        "--txpool.accountqueue", str(account_window), "--txpool.globalqueue", slots, "--txpool.globalslots", slots,
    ]  # fmt: skip


def _safe_number(node: GethNode) -> str:
    try:
        return str(node.block_number())
    except (OSError, GethNodeError):
        return "?"


def _safe_peer_keys(node: GethNode) -> set[str]:
    try:
        return node.peer_keys()
    except GethNodeError:
        return set()
