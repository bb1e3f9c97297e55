"""WMI's flag bits, and which bits each method accepts.

The same bit means different things to different methods (0x1 is UPDATE_ONLY for a put and
SHALLOW for an enumeration), so flags are decoded per method, never globally; a bit a method
does not list is refused with WBEM_E_INVALID_PARAMETER (reference §2.3, C12).
"""

from __future__ import annotations

import enum

from host.errors import WbemError


class WbemFlag(enum.IntFlag):
    """Flag values with WMI's numbers (proto wmiput.v1.WbemFlag)."""

    CREATE_OR_UPDATE = 0x0
    UPDATE_ONLY = 0x1
    CREATE_ONLY = 0x2
    RETURN_IMMEDIATELY = 0x10
    UPDATE_SAFE_MODE = 0x20
    UPDATE_FORCE_MODE = 0x40
    SEND_STATUS = 0x80
    DIRECT_READ = 0x200
    OWNER_UPDATE = 0x10000
    USE_AMENDED_QUALIFIERS = 0x20000
    # Enumeration aliases of the same bits.
    SHALLOW = 0x1
    FORWARD_ONLY = 0x20


DEEP = 0x0
UPDATE_COMPATIBLE = 0x0

F = WbemFlag
ALLOWED: dict[str, int] = {
    "PutClass": F.UPDATE_ONLY | F.CREATE_ONLY | F.RETURN_IMMEDIATELY | F.UPDATE_SAFE_MODE
    | F.UPDATE_FORCE_MODE | F.OWNER_UPDATE | F.USE_AMENDED_QUALIFIERS,
    "PutInstance": F.UPDATE_ONLY | F.CREATE_ONLY | F.RETURN_IMMEDIATELY | F.USE_AMENDED_QUALIFIERS,
    "GetObject": F.RETURN_IMMEDIATELY | F.DIRECT_READ | F.USE_AMENDED_QUALIFIERS,
    "DeleteClass": F.RETURN_IMMEDIATELY | F.OWNER_UPDATE,
    "DeleteInstance": F.RETURN_IMMEDIATELY,
    "CreateClassEnum": F.SHALLOW | F.RETURN_IMMEDIATELY | F.FORWARD_ONLY | F.USE_AMENDED_QUALIFIERS,
    "ListProviders": 0,
    "CreateInstanceEnum": F.SHALLOW | F.RETURN_IMMEDIATELY | F.FORWARD_ONLY | F.DIRECT_READ
    | F.USE_AMENDED_QUALIFIERS,
}
EXCLUSIVE = (F.UPDATE_ONLY | F.CREATE_ONLY, F.UPDATE_SAFE_MODE | F.UPDATE_FORCE_MODE)


def check_flags(operation: str, flags: int) -> int:
    """Validate `flags` for `operation`; return them unchanged."""
    allowed = int(ALLOWED[operation])  # an int: ~ of an IntFlag only inverts the flag's own bits
    if flags < 0 or flags > 0xFFFFFFFF or flags & ~allowed:
        raise WbemError(
            "WBEM_E_INVALID_PARAMETER",
            f"flags 0x{flags & 0xFFFFFFFF:X} include bits {operation} does not accept "
            f"(0x{flags & ~allowed & 0xFFFFFFFF:X}); accepted: 0x{allowed:X}",
            parameter_info="lFlags",
            operation=operation,
        )
    for pair in EXCLUSIVE:
        if flags & pair == pair and pair & allowed == pair:
            raise WbemError(
                "WBEM_E_INVALID_PARAMETER",
                f"flags 0x{pair:X} ({WbemFlag(pair).name}) are mutually exclusive",
                parameter_info="lFlags",
                operation=operation,
            )
    if flags & F.RETURN_IMMEDIATELY:
        raise WbemError(
            "WBEM_E_NOT_SUPPORTED",
            "semisynchronous calls (WBEM_FLAG_RETURN_IMMEDIATELY) need call handles, which this "
            "version does not offer yet",
            parameter_info="lFlags",
            operation=operation,
        )
    return flags
