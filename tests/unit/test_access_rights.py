"""WMI's namespace rights and descriptor evaluation, without I/O (host/access/rights.py)."""

import pytest

from host.access import rights
from host.access.rights import ALL, Level, Right
from wmiput.v1 import security_pb2 as sec


def test_the_bits_are_wmis_and_match_the_proto():
    assert [int(r) for r in Right] == [0x1, 0x2, 0x4, 0x8, 0x10, 0x20, 0x40, 0x80, 0x20000, 0x40000]
    for r in Right:
        assert sec.NamespaceRight.Value(f"NAMESPACE_RIGHT_{r.name}") == r


@pytest.mark.parametrize("text,mask", [
    ("Enable,RemoteAccess", 0x21), ("WBEM_ENABLE | wbem_remote_enable", 0x21), ("Full Write+ReadSecurity", 0x20004),
    ("0x10", 0x10), ("all", int(ALL)), ("", 0), ("EditSecurity", 0x40000)])
def test_rights_parse_by_name_or_number(text, mask):
    assert rights.parse_rights(text) == mask


@pytest.mark.parametrize("text", ["Fly", "0x100", "Enable,0x80000"])
def test_unknown_rights_are_refused(text):
    with pytest.raises(ValueError):
        rights.parse_rights(text)


def test_describe_reads_back():
    assert rights.describe(0x21) == "Enable,RemoteAccess"
    assert rights.parse_rights(rights.describe(int(ALL))) == ALL
    assert rights.describe(0) == "none"


def test_full_write_covers_partial_write_only():
    assert rights.holds(Right.FULL_WRITE_REP, Right.PARTIAL_WRITE_REP)
    assert not rights.holds(Right.PARTIAL_WRITE_REP, Right.FULL_WRITE_REP)
    assert not rights.holds(Right.FULL_WRITE_REP, Right.WRITE_PROVIDER)
    assert rights.missing(Right.ENABLE, Right.ENABLE | Right.REMOTE_ACCESS) == Right.REMOTE_ACCESS


def _sd(*entries, protected=False):
    return sec.NamespaceSecurity(entries=[
        sec.AccessEntry(trustee=t, ace_type=sec.ACE_TYPE_ACCESS_DENIED if d else sec.ACE_TYPE_ACCESS_ALLOWED,
                        access_mask=m, inherit=i) for t, m, d, i in entries], protected=protected)


def test_inheritance_protection_and_deny():
    root = _sd(("Authenticated Users", 0x21, False, True), ("alice", 0x4, False, False))
    mid = _sd(("alice", 0x8, False, True))
    leaf = Level("root\\a\\b", None)
    chain = [leaf, Level("root\\a", mid), Level("root", root)]
    assert rights.rights_of("alice", True, chain) == 0x21 | 0x8  # root's non-inheritable 0x4 stays in root
    assert rights.rights_of("alice", True, chain[2:]) == 0x21 | 0x4
    chain[1] = Level("root\\a", _sd(("alice", 0x8, False, True), protected=True))
    assert rights.rights_of("alice", True, chain) == 0x8
    chain[0] = Level("root\\a\\b", _sd(("Everyone", 0x8, True, False)))
    assert rights.rights_of("alice", True, chain) == 0
    assert rights.rights_of("bob", False, [Level("root", root)]) == 0  # not authenticated
    assert rights.rights_of("bob", True, [Level("root", root)]) == 0x21


def test_instance_write_rights_follow_ms_wmi():
    assert rights.instance_write(["Base", "Derived"], True)[0] == Right.WRITE_PROVIDER
    assert rights.instance_write(["__Provider", "__Win32Provider"], False)[0] == Right.FULL_WRITE_REP
    assert rights.instance_write(["Base"], False)[0] == Right.PARTIAL_WRITE_REP
