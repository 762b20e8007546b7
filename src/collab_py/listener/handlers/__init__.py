"""The services that run on the listener engine: accounting, e-invoicing and the institution's bot."""

from __future__ import annotations

from collections.abc import Callable

from collab_py.domain.presentation import money


class LoggedAmounts:
    """Amounts for log lines, in currency units of their asset (``1,000.50``), each asset's decimals asked of
    ``decimals`` once; if it fails (a node error, a token without ``decimals()``), in token units, so named: a log
    line never fails what it reports. One per batch, so that a failure is not kept."""

    def __init__(self, decimals: Callable[[str], int]) -> None:
        self._decimals = decimals
        self._known: dict[str, int | None] = {}

    def __call__(self, units: int, asset: str) -> str:
        """``units`` of ``asset`` as a log line shows them."""
        if asset not in self._known:
            try:
                self._known[asset] = self._decimals(asset)
            except Exception:
                self._known[asset] = None
        decimals = self._known[asset]
        return f"{units} token units" if decimals is None else money(units, decimals)
