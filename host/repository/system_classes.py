"""The system classes every namespace has (shapes from the WMI SDK's class pages).

They are written with each new namespace and cannot be changed through PutClass (their names
start with "_"). __NAMESPACE instances are how namespaces are created, as in WMI.
"""

from __future__ import annotations

from host.model import values
from wmiput.v1 import object_pb2 as pb

T = pb.CimType

# (class, superclass, abstract, [(property, type, is_array, key[, default])])
_CLASSES: list[tuple[str, str, bool, list[tuple]]] = [
    ("__SystemClass", "", True, []),
    ("__NAMESPACE", "__SystemClass", False, [("Name", T.CIM_TYPE_STRING, False, True)]),
    ("__ExtendedStatus", "__SystemClass", False, [
        ("Description", T.CIM_TYPE_STRING, False, False),
        ("Operation", T.CIM_TYPE_STRING, False, False),
        ("ParameterInfo", T.CIM_TYPE_STRING, False, False),
        ("ProviderName", T.CIM_TYPE_STRING, False, False),
        ("StatusCode", T.CIM_TYPE_UINT32, False, False),
    ]),
    ("__Provider", "__SystemClass", True, [("Name", T.CIM_TYPE_STRING, False, True)]),
    ("__Win32Provider", "__Provider", False, [
        ("CLSID", T.CIM_TYPE_STRING, False, False),
        ("ClientLoadableCLSID", T.CIM_TYPE_STRING, False, False),
        ("HostingModel", T.CIM_TYPE_STRING, False, False),
        ("ImpersonationLevel", T.CIM_TYPE_SINT32, False, False),
        ("InitializationReentrancy", T.CIM_TYPE_SINT32, False, False),
        ("PerLocaleInitialization", T.CIM_TYPE_BOOLEAN, False, False),
        ("PerUserInitialization", T.CIM_TYPE_BOOLEAN, False, False),
        ("Pure", T.CIM_TYPE_BOOLEAN, False, False),
        ("SecurityDescriptor", T.CIM_TYPE_STRING, False, False),
        ("UnloadTimeout", T.CIM_TYPE_DATETIME, False, False),
        ("Version", T.CIM_TYPE_UINT32, False, False),
    ]),
    ("__ProviderRegistration", "__SystemClass", True, [("provider", T.CIM_TYPE_REFERENCE, False, True)]),
    ("__ObjectProviderRegistration", "__ProviderRegistration", True, [
        ("InteractionType", T.CIM_TYPE_SINT32, False, False, 0),
        ("QuerySupportLevels", T.CIM_TYPE_STRING, True, False),
        ("SupportsBatching", T.CIM_TYPE_BOOLEAN, False, False),
        ("SupportsDelete", T.CIM_TYPE_BOOLEAN, False, False, False),
        ("SupportsEnumeration", T.CIM_TYPE_BOOLEAN, False, False, False),
        ("SupportsGet", T.CIM_TYPE_BOOLEAN, False, False, False),
        ("SupportsPut", T.CIM_TYPE_BOOLEAN, False, False, False),
        ("SupportsTransactions", T.CIM_TYPE_BOOLEAN, False, False),
    ]),
    ("__InstanceProviderRegistration", "__ObjectProviderRegistration", False, [
        ("SupportsEnumeration", T.CIM_TYPE_BOOLEAN, False, False, True),
    ]),
]


def system_classes() -> list[pb.WbemObject]:
    out = []
    for name, parent, abstract, props in _CLASSES:
        c = pb.WbemObject(genus=pb.GENUS_CLASS, class_name=name, superclass=parent)
        if abstract:
            c.qualifiers.add(name="Abstract", value=pb.Value(boolean=True))
        for pname, ptype, is_array, key, *default in props:
            p = c.properties.add(name=pname, type=ptype, is_array=is_array)
            if pname == "provider":
                p.reference_class = "__Provider"
            if default:
                p.value.CopyFrom(values.from_python(default[0], ptype))
            if key:
                p.qualifiers.add(name="Key", value=pb.Value(boolean=True), flavor=0x2 | 0x10)
        out.append(c)
    return out


NAMESPACE_CLASS = "__namespace"
