"""``python -m collab_py.chain.toolchain``: register the offline solc for py-solc-x and Ape, and print its path."""

from collab_py.chain.toolchain import ensure_solc

print(ensure_solc())
