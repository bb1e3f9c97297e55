from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class NamespaceRight(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    NAMESPACE_RIGHT_UNSPECIFIED: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_ENABLE: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_METHOD_EXECUTE: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_FULL_WRITE_REP: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_PARTIAL_WRITE_REP: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_WRITE_PROVIDER: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_REMOTE_ACCESS: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_SUBSCRIBE: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_PUBLISH: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_READ_CONTROL: _ClassVar[NamespaceRight]
    NAMESPACE_RIGHT_WRITE_DAC: _ClassVar[NamespaceRight]

class AceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACE_TYPE_UNSPECIFIED: _ClassVar[AceType]
    ACE_TYPE_ACCESS_ALLOWED: _ClassVar[AceType]
    ACE_TYPE_ACCESS_DENIED: _ClassVar[AceType]
NAMESPACE_RIGHT_UNSPECIFIED: NamespaceRight
NAMESPACE_RIGHT_ENABLE: NamespaceRight
NAMESPACE_RIGHT_METHOD_EXECUTE: NamespaceRight
NAMESPACE_RIGHT_FULL_WRITE_REP: NamespaceRight
NAMESPACE_RIGHT_PARTIAL_WRITE_REP: NamespaceRight
NAMESPACE_RIGHT_WRITE_PROVIDER: NamespaceRight
NAMESPACE_RIGHT_REMOTE_ACCESS: NamespaceRight
NAMESPACE_RIGHT_SUBSCRIBE: NamespaceRight
NAMESPACE_RIGHT_PUBLISH: NamespaceRight
NAMESPACE_RIGHT_READ_CONTROL: NamespaceRight
NAMESPACE_RIGHT_WRITE_DAC: NamespaceRight
ACE_TYPE_UNSPECIFIED: AceType
ACE_TYPE_ACCESS_ALLOWED: AceType
ACE_TYPE_ACCESS_DENIED: AceType

class AccessEntry(_message.Message):
    __slots__ = ("trustee", "ace_type", "access_mask", "inherit")
    TRUSTEE_FIELD_NUMBER: _ClassVar[int]
    ACE_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACCESS_MASK_FIELD_NUMBER: _ClassVar[int]
    INHERIT_FIELD_NUMBER: _ClassVar[int]
    trustee: str
    ace_type: AceType
    access_mask: int
    inherit: bool
    def __init__(self, trustee: _Optional[str] = ..., ace_type: _Optional[_Union[AceType, str]] = ..., access_mask: _Optional[int] = ..., inherit: _Optional[bool] = ...) -> None: ...

class NamespaceSecurity(_message.Message):
    __slots__ = ("entries", "protected")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    PROTECTED_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[AccessEntry]
    protected: bool
    def __init__(self, entries: _Optional[_Iterable[_Union[AccessEntry, _Mapping]]] = ..., protected: _Optional[bool] = ...) -> None: ...

class GetNamespaceSecurityRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class GetNamespaceSecurityResponse(_message.Message):
    __slots__ = ("namespace", "security", "inherited", "version")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    INHERITED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    security: NamespaceSecurity
    inherited: _containers.RepeatedCompositeFieldContainer[InheritedEntry]
    version: int
    def __init__(self, namespace: _Optional[str] = ..., security: _Optional[_Union[NamespaceSecurity, _Mapping]] = ..., inherited: _Optional[_Iterable[_Union[InheritedEntry, _Mapping]]] = ..., version: _Optional[int] = ...) -> None: ...

class InheritedEntry(_message.Message):
    __slots__ = ("entry", "from_namespace")
    ENTRY_FIELD_NUMBER: _ClassVar[int]
    FROM_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    entry: AccessEntry
    from_namespace: str
    def __init__(self, entry: _Optional[_Union[AccessEntry, _Mapping]] = ..., from_namespace: _Optional[str] = ...) -> None: ...

class SetNamespaceSecurityRequest(_message.Message):
    __slots__ = ("namespace", "security", "expected_version")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SECURITY_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_VERSION_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    security: NamespaceSecurity
    expected_version: int
    def __init__(self, namespace: _Optional[str] = ..., security: _Optional[_Union[NamespaceSecurity, _Mapping]] = ..., expected_version: _Optional[int] = ...) -> None: ...

class SetNamespaceSecurityResponse(_message.Message):
    __slots__ = ("version",)
    VERSION_FIELD_NUMBER: _ClassVar[int]
    version: int
    def __init__(self, version: _Optional[int] = ...) -> None: ...

class GetCallerAccessRightsRequest(_message.Message):
    __slots__ = ("namespace",)
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    def __init__(self, namespace: _Optional[str] = ...) -> None: ...

class GetCallerAccessRightsResponse(_message.Message):
    __slots__ = ("access_mask", "principal", "administrator")
    ACCESS_MASK_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    ADMINISTRATOR_FIELD_NUMBER: _ClassVar[int]
    access_mask: int
    principal: str
    administrator: bool
    def __init__(self, access_mask: _Optional[int] = ..., principal: _Optional[str] = ..., administrator: _Optional[bool] = ...) -> None: ...
