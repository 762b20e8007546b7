"""``collab serve --demo``: anvil, a deployed consortium (Party A, B, C and the bank), each org's platform on its
own port with its own database and demo users, so that a newcomer can click through the whole flow. The demo's
platforms sign with the sandbox's accounts in hand (anvil's well-known development keys: no keystore would protect
them, and a keystore as strong as ``collab serve`` requires takes about a second to unlock)."""

from __future__ import annotations

import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from collab_py.chain.enums import Department
from collab_py.chain.transactor import connect
from collab_py.devnet.node import AnvilNode, free_port
from collab_py.devnet.parties import Party
from collab_py.devnet.sandbox import Sandbox, bootstrap
from collab_py.web.accounts import Role, create_user
from collab_py.web.app import create_app
from collab_py.web.runtime import DepartmentKeys, Platform, PlatformConfig

#: The demo users' password (printed with the logins).
DEMO_PASSWORD = "collab-demo-2026"
#: Users of each org's platform: (user name, role).
DEMO_USERS = {
    "a": (("a-business", Role.BUSINESS), ("a-finance", Role.FINANCE), ("a-auditor", Role.AUDITOR),
          ("a-admin", Role.ADMIN)),
    "b": (("b-business", Role.BUSINESS), ("b-finance", Role.FINANCE)),
    "c": (("c-finance", Role.FINANCE),),
    "bank": (("bank-operator", Role.OPERATOR),),
}  # fmt: skip


@dataclass
class DemoOrg:
    """One org's platform in the demo."""

    key: str
    party: Party
    platform: Platform
    url: str
    server: uvicorn.Server
    thread: threading.Thread


@dataclass
class Demo:
    """The running demo: the node, the consortium and each org's platform."""

    node: AnvilNode
    sandbox: Sandbox
    folder: Path
    orgs: dict[str, DemoOrg] = field(default_factory=dict)
    temporary: bool = False  # whether ``folder`` was made for the demo (removed when it stops)

    def logins(self) -> list[tuple[str, str, str, str]]:
        """(org, URL, user, role) of every demo user."""
        return [
            (org.party.name, org.url, user, role.value)
            for key, org in self.orgs.items()
            for user, role in DEMO_USERS[key]
        ]

    def stop(self) -> None:
        """Stops the servers, the engines and anvil, and removes the folder the demo made for itself."""
        for org in self.orgs.values():
            org.server.should_exit = True
        for org in self.orgs.values():
            org.thread.join(10)
            org.platform.stop()
        self.node.stop()
        if self.temporary:
            shutil.rmtree(self.folder, ignore_errors=True)


#: The platform's role of each department's account.
DEPARTMENT_ROLES = {
    Department.BUSINESS: Role.BUSINESS,
    Department.FINANCE: Role.FINANCE,
    Department.OPERATOR: Role.OPERATOR,
}


def _keys(party: Party, sandbox: Sandbox, *, governance: bool) -> DepartmentKeys:
    accounts = {DEPARTMENT_ROLES[department]: account for department, account in party.accounts.items()}
    if governance:
        accounts[Role.ADMIN] = sandbox.admin.account
    return DepartmentKeys(accounts, party.encryption_key)


def start_demo(
    *,
    host: str = "127.0.0.1",
    base_port: int | None = None,
    folder: Path | None = None,
    database_url: Callable[[str], str] | None = None,
) -> Demo:
    """Starts anvil, deploys, registers the orgs and serves each org's platform (ports ``base_port`` to
    ``base_port + 3``, free ones when None); each org's database is an SQLite file unless ``database_url`` names
    one per org key (``a``, ``b``, ``c``, ``bank``)."""
    node = AnvilNode().start()
    try:
        w3 = connect(node.rpc_url)
        sandbox = bootstrap(w3)
        root = folder or Path(tempfile.mkdtemp(prefix="collab-demo-"))
        demo = Demo(node=node, sandbox=sandbox, folder=root, temporary=folder is None)
        parties = {"a": sandbox.a, "b": sandbox.b, "c": sandbox.c, "bank": sandbox.bank}
        databases = {
            key: database_url(key) if database_url else f"sqlite:///{root / key / 'platform.db'}" for key in parties
        }
        for key in parties:
            (root / key).mkdir(parents=True, exist_ok=True)
        for index, (key, party) in enumerate(parties.items()):
            peers = {other.org_id: databases[name] for name, other in parties.items() if name not in (key, "bank")}
            config = PlatformConfig(
                rpc_url=node.rpc_url, manifest=sandbox.deployment.manifest, database_url=databases[key],
                documents_dir=root / key / "documents", ledgers=peers, confirmations=0, poll_interval=0.1,
                title=party.name,
            )  # fmt: skip
            platform = Platform(config, _keys(party, sandbox, governance=key == "a"))
            for user, role in DEMO_USERS[key]:
                create_user(platform.database, user, DEMO_PASSWORD, role)
            port = (base_port + index) if base_port is not None else free_port()
            server = uvicorn.Server(
                uvicorn.Config(
                    create_app(platform, secure_cookies=False), host=host, port=port, log_level="warning", lifespan="on"
                )
            )
            thread = threading.Thread(target=server.run, name=f"platform-{key}", daemon=True)
            thread.start()
            demo.orgs[key] = DemoOrg(key, party, platform, f"http://{host}:{port}", server, thread)
        for org in demo.orgs.values():
            deadline = time.monotonic() + 20
            while not org.server.started:
                if time.monotonic() > deadline or not org.thread.is_alive():
                    raise RuntimeError(f"the platform of {org.party.name} did not start on {org.url}")
                time.sleep(0.05)
        return demo
    except BaseException:
        node.stop()
        raise


@contextmanager
def running_demo(**options: object) -> Iterator[Demo]:
    """The demo for the length of a ``with`` block."""
    demo = start_demo(**options)  # type: ignore[arg-type]
    try:
        yield demo
    finally:
        demo.stop()
