"""The base of every error collab_py raises."""


class CollabError(Exception):
    """Base of every error raised by collab_py: the CLI shows these as one readable line."""
