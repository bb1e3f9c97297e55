"""Failpoints: kill this process (SIGKILL, as `kill -9` would) at a named step, for fault tests.

WMIPUT_FAILPOINTS="after_decision" kills at the first hit of that step; "between_prepares@3" at
the third. Unset, a failpoint costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_SPEC: dict[str, int] = {}
for _item in filter(None, (os.environ.get("WMIPUT_FAILPOINTS") or "").split(",")):
    _name, _, _nth = _item.strip().partition("@")
    _SPEC[_name] = int(_nth or 1)


def failpoint(name: str) -> None:
    left = _SPEC.get(name)
    if left is None:
        return
    _SPEC[name] = left - 1
    if left == 1:
        os.kill(os.getpid(), signal.SIGKILL)


def armed(*names: str) -> bool:
    """Whether any of these failpoints is set (a step may then take a slower path that stops
    where the test wants)."""
    return any(n in _SPEC for n in names)
