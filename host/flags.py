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
    "PutInstanceAsync": F.UPDATE_ONLY | F.CREATE_ONLY | F.SEND_STATUS | F.USE_AMENDED_QUALIFIERS,
    "PutClassAsync": F.UPDATE_ONLY | F.CREATE_ONLY | F.UPDATE_SAFE_MODE | F.UPDATE_FORCE_MODE | F.SEND_STATUS
    | F.OWNER_UPDATE | F.USE_AMENDED_QUALIFIERS,
    # SWbemServicesEx.PutAsync lists wbemFlagReturnImmediately (a no-op for an asynchronous call);
    # 0x80 is wbemFlagSendStatus here (wbemChangeFlagStrongValidation shares the bit).
    "PutAsync": F.UPDATE_ONLY | F.CREATE_ONLY | F.RETURN_IMMEDIATELY | F.UPDATE_SAFE_MODE | F.UPDATE_FORCE_MODE
    | F.SEND_STATUS | F.USE_AMENDED_QUALIFIERS,
    "CreateInstanceEnum": F.SHALLOW | F.RETURN_IMMEDIATELY | F.FORWARD_ONLY | F.DIRECT_READ
    | F.USE_AMENDED_QUALIFIERS,
}
SEMISYNC = ("PutInstance", "PutClass", "PutAsync")
EXCLUSIVE = (F.UPDATE_ONLY | F.CREATE_ONLY, F.UPDATE_SAFE_MODE | F.UPDATE_FORCE_MODE)


def check_flags(operation: str, flags: int) -> int:
    """Validate `flags` for `operation`; return them unchanged."""
    allowed = int(ALLOWED.get(operation, 0))  # an int: ~ of an IntFlag only inverts the flag's own bits
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
    if flags & F.RETURN_IMMEDIATELY and operation not in SEMISYNC:
        raise WbemError(
            "WBEM_E_NOT_SUPPORTED",
            f"semisynchronous {operation} (WBEM_FLAG_RETURN_IMMEDIATELY) is not offered yet; only puts "
            "(PutInstance, PutClass) are",
            parameter_info="lFlags",
            operation=operation,
        )
    return flags
