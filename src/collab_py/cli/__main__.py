"""``python -m collab_py.cli``."""

from collab_py.cli import app

app()
