"""``collab serve``: the org's department platform (HTTP API and web UI); ``collab users`` and ``collab tokens``:
who may use it."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer

from collab_py.cli.context import InvalidInput, console, readable_errors, show, state
from collab_py.web.accounts import Role, create_token, create_user, list_users, revoke_token
from collab_py.web.database import open_platform_database

users = typer.Typer(help="The platform's users, each with one department role.", no_args_is_help=True)
tokens = typer.Typer(help="The platform's API tokens (bearer), each with one department role.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="The org's platform database (default: COLLAB_PLATFORM_URL, else the ledger's "
                 "COLLAB_LEDGER_URL)."),
]  # fmt: skip


def register(app: typer.Typer) -> None:
    """Adds these commands to ``app``."""
    app.command()(serve)
    app.add_typer(users, name="users")
    app.add_typer(tokens, name="tokens")


def _database_url(given: str | None) -> str:
    return given or os.environ.get("COLLAB_PLATFORM_URL") or state.settings.ledger_url


def _ledgers(items: list[str]) -> dict[int, str]:
    found = {}
    for item in items:
        org, sep, url = item.partition("=")
        if not sep or not org.isdigit() or not url:
            raise InvalidInput(
                f"--ledger takes ORG=URL (e.g. 2=postgresql+psycopg://.../b), got {item.split('=')[0]}=…"
            )
        found[int(org)] = url
    return found


@readable_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    database_url: DatabaseUrl = None,
    ledger: Annotated[
        list[str] | None,
        typer.Option(help="ORG=URL: another org's ledger, read for the group's reconciliation (repeatable)."),
    ] = None,
    secure_cookies: Annotated[
        bool | None,
        typer.Option(
            "--secure-cookies/--no-secure-cookies",
            help="Force the cookies' Secure flag (default: when the request came over TLS).",
        ),
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Start anvil, deploy, register the demo orgs and users, serve each.")
    ] = False,
) -> None:
    """Serves the org's platform: the API (/api/v1, OpenAPI at /openapi.json) and the web UI.

    Signs with the department keystores of --keys (business, finance, operator, governance), unlocked once at
    start with the passphrase of COLLAB_PASSPHRASE_FILE or COLLAB_PASSPHRASE (never logged, never sent to a browser).
    """
    if demo:
        _serve_demo(host, port)
        return
    import uvicorn

    from collab_py.web.app import create_app
    from collab_py.web.runtime import Platform, PlatformConfig, unlock_keys

    settings = state.settings
    config = PlatformConfig(
        rpc_url=settings.rpc_url, manifest=settings.load_manifest(), database_url=_database_url(database_url),
        documents_dir=settings.keystore_dir.parent / "documents", ledgers=_ledgers(ledger or []),
        confirmations=settings.confirmations, receipt_timeout=settings.receipt_timeout,
    )  # fmt: skip
    platform = Platform(config, unlock_keys(settings.keystore_dir, settings.passphrase(prompt=True)))
    console.print(f"collab platform of org {platform.org_id} on http://{host}:{port} (API docs: /docs)")
    uvicorn.run(create_app(platform, secure_cookies=secure_cookies), host=host, port=port, log_level="info")


def _serve_demo(host: str, port: int) -> None:
    from collab_py.web.demo import DEMO_PASSWORD, start_demo

    console.print("starting anvil, deploying, registering Party A, B, C and the bank ...")
    demo = start_demo(host=host, base_port=port)
    console.print(f"every user's password: {DEMO_PASSWORD}")
    for org, url, user, role in demo.logins():
        console.print(f"  {org:<22} {url:<24} {user:<14} {role}")
    console.print("Party B's business proposes (Contracts → Propose), downloads the e-contract and Party A's business "
                  "checks and countersigns it; then stages, settlement, payment, release. Ctrl-C stops.")  # fmt: skip
    try:
        while all(org.thread.is_alive() for org in demo.orgs.values()):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        demo.stop()


def _password() -> str:
    given = os.environ.get("COLLAB_USER_PASSWORD")
    if given:
        return given
    if not sys.stdin.isatty():
        raise InvalidInput("no password: set COLLAB_USER_PASSWORD, or run at a terminal to be prompted")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True, err=True))


@users.command("add")
@readable_errors
def users_add(
    username: str,
    role: Annotated[Role, typer.Option(help="The user's department role.", case_sensitive=False)],
    time_zone: Annotated[str, typer.Option(help="IANA time zone the UI shows times in.")] = "UTC",
    database_url: DatabaseUrl = None,
) -> None:
    """Adds a user (password from COLLAB_USER_PASSWORD or a prompt; stored as an argon2id hash)."""
    create_user(open_platform_database(_database_url(database_url)), username, _password(), role, time_zone)
    show({"username": username, "role": role.value, "time_zone": time_zone}, "user added")


@users.command("list")
@readable_errors
def users_list(database_url: DatabaseUrl = None) -> None:
    """Lists the users."""
    show(list_users(open_platform_database(_database_url(database_url))))


@tokens.command("new")
@readable_errors
def tokens_new(
    name: str,
    role: Annotated[Role, typer.Option(help="The token's department role.", case_sensitive=False)],
    database_url: DatabaseUrl = None,
) -> None:
    """Creates an API token; prints its secret once (only its hash is kept)."""
    secret = create_token(open_platform_database(_database_url(database_url)), name, role)
    show({"name": name, "role": role.value, "token": secret}, "token created: keep it, it is not shown again")


@tokens.command("revoke")
@readable_errors
def tokens_revoke(name: str, database_url: DatabaseUrl = None) -> None:
    """Revokes an API token."""
    if not revoke_token(open_platform_database(_database_url(database_url)), name):
        raise InvalidInput(f"no live token {name}")
    show({"name": name, "revoked": True})
