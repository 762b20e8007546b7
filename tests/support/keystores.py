"""Cheap keystores for tests that load keys many times (a CLI flow loads them at every command): eth-account's
default key derivation takes about a second per load, which the keystore floor of ``collab_py.domain.keys`` requires.
Tests that use 2-round pbkdf2 keystores lower the floor with the ``cheap_keystores`` fixture (conftest), which
nothing but tests should do; the floor's own tests and the secrets scan keep the real one."""

from __future__ import annotations

from collab_py.domain.keys import KdfFloor

#: A floor that any keystore of the tests passes (a 32-byte derived key is still required).
CHEAP_KDF = KdfFloor(scrypt_n=1, scrypt_r=1, scrypt_p=1, pbkdf2_rounds=1)
