"""What a put running as an asynchronous or semisynchronous call lets its runner see and stop.

The dispatcher and the coordinator take an optional CallControl: before every step that cannot
be undone they pass its gate (which refuses once the call was cancelled, or taken over by
another host), they report each level that accepted the put, and they watch for a cancel while
they wait on a provider. Synchronous puts pass None and pay nothing.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class CallControl(Protocol):
    # The call's id (a digest of its handle), for the receipt keys of its writes.
    call_id: str
    # Set when a CancelAsyncCall for this call may have landed; whoever waits re-reads the
    # transaction's state, the only authority on whether the cancel won.
    cancel_requested: asyncio.Event

    async def gate(self, stage: str, *, tx: str = "", receipt: str = "", path: str = "") -> None:
        """Record the step about to be taken ("committing": a repository write whose `receipt`
        key shows it applied; "tx": the provider transaction `tx`). Raises WbemError
        WBEM_E_CALL_CANCELLED if the call was cancelled, or CallLost if another host took it."""

    async def progress(self, current: int, total: int, message: str) -> None:
        """`current` of `total` levels of the derivation accepted the put (SEND_STATUS only)."""


class CallLost(Exception):
    """Another host adopted this call (this one was thought dead): it finishes it, not us."""
