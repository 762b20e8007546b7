"""A schema-driven fuzz run of the platform (``make platform-fuzz``, in CI): schemathesis generates requests for
every operation of ``/openapi.json`` against Party B's running demo platform with a BUSINESS bearer token; no answer
may be a 500, and every refusal must be the documented ErrorBody with a documented status."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from collab_py.web.accounts import Role, create_token
from collab_py.web.demo import start_demo


def main() -> int:
    """Runs schemathesis against a fresh demo; returns its exit code."""
    demo = start_demo()
    try:
        org = demo.orgs["b"]
        token = create_token(org.platform.database, "fuzz", Role.BUSINESS)
        command = [
            str(Path(sys.executable).with_name("schemathesis")), "run", f"{org.url}/openapi.json",
            "--header", f"Authorization: Bearer {token}",
            "--checks", "not_a_server_error,status_code_conformance,response_schema_conformance,"
            "content_type_conformance",
            "--max-examples", os.environ.get("COLLAB_FUZZ_EXAMPLES", "15"),
            "--phases", "examples,coverage,fuzzing",
        ]  # fmt: skip
        return subprocess.run(command, check=False).returncode
    finally:
        demo.stop()


if __name__ == "__main__":
    raise SystemExit(main())
