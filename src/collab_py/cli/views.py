"""Records as the ``collab`` command shows them: amounts in currency units (the asset's decimals), times in the
user's time zone, and no ciphertexts (shared with the platform: :mod:`collab_py.domain.presentation`)."""

from __future__ import annotations

from collab_py.domain.presentation import contract_view, payment_view, second_voucher_view, stage_view

__all__ = ["contract_view", "payment_view", "second_voucher_view", "stage_view"]
