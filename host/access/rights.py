"""WMI's namespace rights and how a descriptor chain grants them (no I/O here).

The bits are WBEM_SECURITY_FLAGS plus the two standard rights WMI checks on a namespace
(proto/wmiput/v1/security.proto, NamespaceRight). Evaluation follows Windows' rules for a
namespace's DACL: the namespace's own entries, then each ancestor's inheritable ones up to
root or the first protected namespace; a right denied by any of them is not held, whatever
allows it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from host.errors import WbemError
from wmiput.v1 import security_pb2 as sec


class Right(enum.IntFlag):
    ENABLE = 0x1
    METHOD_EXECUTE = 0x2
    FULL_WRITE_REP = 0x4
    PARTIAL_WRITE_REP = 0x8
    WRITE_PROVIDER = 0x10
    REMOTE_ACCESS = 0x20
    SUBSCRIBE = 0x40
    PUBLISH = 0x80
    READ_CONTROL = 0x20000
    WRITE_DAC = 0x40000


ALL = int(sum(Right))  # a plain int: ~ on an IntFlag would keep only its own bits
# What every call on a namespace needs before anything else (MS-WMI states REMOTE_ENABLE for
# every method; every call reaches this host over the network).
USE = Right.ENABLE | Right.REMOTE_ACCESS
# A right that another one includes: Full Write covers what Partial Write allows.
_COVERED_BY = {Right.PARTIAL_WRITE_REP: Right.FULL_WRITE_REP}

EVERYONE = "Everyone"
AUTHENTICATED_USERS = "Authenticated Users"
GROUPS = (EVERYONE, AUTHENTICATED_USERS)

# Names people write (the WMI Control's labels, the constants, MS-WMI's spelling), lower-case.
_NAMES = {
    "enable": Right.ENABLE, "enableaccount": Right.ENABLE, "wbem_enable": Right.ENABLE,
    "methodexecute": Right.METHOD_EXECUTE, "executemethods": Right.METHOD_EXECUTE,
    "wbem_method_execute": Right.METHOD_EXECUTE,
    "fullwrite": Right.FULL_WRITE_REP, "wbem_full_write_rep": Right.FULL_WRITE_REP,
    "partialwrite": Right.PARTIAL_WRITE_REP, "wbem_partial_write_rep": Right.PARTIAL_WRITE_REP,
    "providerwrite": Right.WRITE_PROVIDER, "writeprovider": Right.WRITE_PROVIDER,
    "wbem_write_provider": Right.WRITE_PROVIDER,
    "remoteaccess": Right.REMOTE_ACCESS, "remoteenable": Right.REMOTE_ACCESS,
    "wbem_remote_access": Right.REMOTE_ACCESS, "wbem_remote_enable": Right.REMOTE_ACCESS,
    "subscribe": Right.SUBSCRIBE, "wbem_right_subscribe": Right.SUBSCRIBE,
    "publish": Right.PUBLISH, "wbem_right_publish": Right.PUBLISH,
    "readsecurity": Right.READ_CONTROL, "readcontrol": Right.READ_CONTROL, "read_control": Right.READ_CONTROL,
    "editsecurity": Right.WRITE_DAC, "writedac": Right.WRITE_DAC, "write_dac": Right.WRITE_DAC,
    "all": ALL,
}
_LABELS = {
    Right.ENABLE: "Enable", Right.METHOD_EXECUTE: "MethodExecute", Right.FULL_WRITE_REP: "FullWrite",
    Right.PARTIAL_WRITE_REP: "PartialWrite", Right.WRITE_PROVIDER: "ProviderWrite",
    Right.REMOTE_ACCESS: "RemoteAccess", Right.SUBSCRIBE: "Subscribe", Right.PUBLISH: "Publish",
    Right.READ_CONTROL: "ReadSecurity", Right.WRITE_DAC: "EditSecurity",
}

MAX_ENTRIES = 256
MAX_TRUSTEE_CHARS = 256


def parse_rights(text: str) -> int:
    """'Enable,RemoteAccess', 'FullWrite|ReadSecurity', '0x21' or 'all' -> a mask."""
    mask = 0
    for part in text.replace("|", ",").replace("+", ",").split(","):
        word = part.strip()
        if not word:
            continue
        try:
            mask |= int(word, 0)
            continue
        except ValueError:
            pass
        bit = _NAMES.get(word.replace(" ", "").replace("-", "").lower())
        if bit is None:
            raise ValueError(f"unknown right {word!r}; known: {', '.join(_LABELS.values())}, all, or a number")
        mask |= bit
    if mask & ~ALL:
        raise ValueError(f"0x{mask & ~ALL:x} holds no namespace right")
    return mask


def describe(mask: int) -> str:
    """A mask as the names parse_rights reads ("Enable,RemoteAccess"; "none" for 0)."""
    names = [label for bit, label in _LABELS.items() if mask & bit]
    return ",".join(names) if names else "none"


def holds(rights: int, need: int) -> bool:
    """Whether `rights` grant every bit of `need` (a bit is also granted by the right covering it)."""
    for bit in Right:
        if need & bit and not rights & (bit | _COVERED_BY.get(bit, 0)):
            return False
    return True


def missing(rights: int, need: int) -> int:
    return sum(bit for bit in Right if need & bit and not rights & (bit | _COVERED_BY.get(bit, 0)))


def applies_to(trustee: str, principal: str, authenticated: bool) -> bool:
    if trustee == EVERYONE:
        return True
    if trustee == AUTHENTICATED_USERS:
        return authenticated
    return trustee == principal


@dataclass(frozen=True)
class Level:
    """One namespace of a chain (the namespace itself first, then its ancestors up to root)."""

    namespace: str
    security: sec.NamespaceSecurity | None  # None: never set (nothing of its own, inherits)


def effective_entries(chain: list[Level]) -> list[tuple[sec.AccessEntry, str]]:
    """The entries that apply to chain[0]: its own, then each ancestor's inheritable ones, up to
    root or the first protected namespace; each with the namespace it comes from."""
    out: list[tuple[sec.AccessEntry, str]] = []
    for depth, level in enumerate(chain):
        sd = level.security
        if sd is None:
            continue
        out += [(e, level.namespace) for e in sd.entries if depth == 0 or e.inherit]
        if sd.protected:
            break
    return out


def rights_of(principal: str, authenticated: bool, chain: list[Level]) -> int:
    allowed = denied = 0
    for entry, _ in effective_entries(chain):
        if applies_to(entry.trustee, principal, authenticated):
            if entry.ace_type == sec.ACE_TYPE_ACCESS_DENIED:
                denied |= entry.access_mask
            else:
                allowed |= entry.access_mask
    return allowed & ~denied


def check_descriptor(sd: sec.NamespaceSecurity, operation: str) -> None:
    """Refuse a descriptor that cannot be stored as given (WBEM_E_INVALID_PARAMETER / QUOTA_VIOLATION)."""
    if len(sd.entries) > MAX_ENTRIES:
        raise WbemError("WBEM_E_QUOTA_VIOLATION", f"the descriptor has {len(sd.entries)} entries; the limit is "
                        f"{MAX_ENTRIES}", parameter_info="security", operation=operation)
    for n, e in enumerate(sd.entries):
        where = f"entry {n}"
        if not e.trustee or len(e.trustee) > MAX_TRUSTEE_CHARS or not e.trustee.isprintable():
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"{where}: the trustee must be 1 to {MAX_TRUSTEE_CHARS} "
                            "printable characters", parameter_info="trustee", operation=operation)
        if e.ace_type not in (sec.ACE_TYPE_ACCESS_ALLOWED, sec.ACE_TYPE_ACCESS_DENIED):
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"{where} ({e.trustee}): ace_type must be "
                            "ACE_TYPE_ACCESS_ALLOWED or ACE_TYPE_ACCESS_DENIED", parameter_info="ace_type",
                            operation=operation)
        if e.access_mask & ~ALL:
            raise WbemError("WBEM_E_INVALID_PARAMETER", f"{where} ({e.trustee}): 0x{e.access_mask & ~ALL:x} in "
                            f"access_mask is no namespace right", parameter_info="access_mask", operation=operation)


def instance_write(chain_names: list[str], provider_backed: bool) -> tuple[int, str]:
    """The right a put or delete of an instance needs (MS-WMI 3.1.4.3.12), given its class's
    derivation from the root, and what the instance is (for the refusal's text)."""
    if provider_backed:
        return Right.WRITE_PROVIDER, "an instance a provider serves"
    if chain_names and chain_names[0].startswith("__"):
        return Right.FULL_WRITE_REP, f"a static instance of system class {chain_names[0]}"
    return Right.PARTIAL_WRITE_REP, "a static instance"
