from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CimType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CIM_TYPE_UNSPECIFIED: _ClassVar[CimType]
    CIM_TYPE_SINT16: _ClassVar[CimType]
    CIM_TYPE_SINT32: _ClassVar[CimType]
    CIM_TYPE_REAL32: _ClassVar[CimType]
    CIM_TYPE_REAL64: _ClassVar[CimType]
    CIM_TYPE_STRING: _ClassVar[CimType]
    CIM_TYPE_BOOLEAN: _ClassVar[CimType]
    CIM_TYPE_OBJECT: _ClassVar[CimType]
    CIM_TYPE_SINT8: _ClassVar[CimType]
    CIM_TYPE_UINT8: _ClassVar[CimType]
    CIM_TYPE_UINT16: _ClassVar[CimType]
    CIM_TYPE_UINT32: _ClassVar[CimType]
    CIM_TYPE_SINT64: _ClassVar[CimType]
    CIM_TYPE_UINT64: _ClassVar[CimType]
    CIM_TYPE_DATETIME: _ClassVar[CimType]
    CIM_TYPE_REFERENCE: _ClassVar[CimType]
    CIM_TYPE_CHAR16: _ClassVar[CimType]

class Genus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    GENUS_UNSPECIFIED: _ClassVar[Genus]
    GENUS_CLASS: _ClassVar[Genus]
    GENUS_INSTANCE: _ClassVar[Genus]
CIM_TYPE_UNSPECIFIED: CimType
CIM_TYPE_SINT16: CimType
CIM_TYPE_SINT32: CimType
CIM_TYPE_REAL32: CimType
CIM_TYPE_REAL64: CimType
CIM_TYPE_STRING: CimType
CIM_TYPE_BOOLEAN: CimType
CIM_TYPE_OBJECT: CimType
CIM_TYPE_SINT8: CimType
CIM_TYPE_UINT8: CimType
CIM_TYPE_UINT16: CimType
CIM_TYPE_UINT32: CimType
CIM_TYPE_SINT64: CimType
CIM_TYPE_UINT64: CimType
CIM_TYPE_DATETIME: CimType
CIM_TYPE_REFERENCE: CimType
CIM_TYPE_CHAR16: CimType
GENUS_UNSPECIFIED: Genus
GENUS_CLASS: Genus
GENUS_INSTANCE: Genus

class Value(_message.Message):
    __slots__ = ("sint", "uint", "real", "boolean", "string", "object", "array")
    SINT_FIELD_NUMBER: _ClassVar[int]
    UINT_FIELD_NUMBER: _ClassVar[int]
    REAL_FIELD_NUMBER: _ClassVar[int]
    BOOLEAN_FIELD_NUMBER: _ClassVar[int]
    STRING_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    ARRAY_FIELD_NUMBER: _ClassVar[int]
    sint: int
    uint: int
    real: float
    boolean: bool
    string: str
    object: WbemObject
    array: ValueArray
    def __init__(self, sint: _Optional[int] = ..., uint: _Optional[int] = ..., real: _Optional[float] = ..., boolean: _Optional[bool] = ..., string: _Optional[str] = ..., object: _Optional[_Union[WbemObject, _Mapping]] = ..., array: _Optional[_Union[ValueArray, _Mapping]] = ...) -> None: ...

class ValueArray(_message.Message):
    __slots__ = ("items",)
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[Value]
    def __init__(self, items: _Optional[_Iterable[_Union[Value, _Mapping]]] = ...) -> None: ...

class Qualifier(_message.Message):
    __slots__ = ("name", "value", "flavor")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    FLAVOR_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: Value
    flavor: int
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., flavor: _Optional[int] = ...) -> None: ...

class Property(_message.Message):
    __slots__ = ("name", "type", "is_array", "value", "qualifiers", "class_origin", "reference_class")
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    IS_ARRAY_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    QUALIFIERS_FIELD_NUMBER: _ClassVar[int]
    CLASS_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_CLASS_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: CimType
    is_array: bool
    value: Value
    qualifiers: _containers.RepeatedCompositeFieldContainer[Qualifier]
    class_origin: str
    reference_class: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[_Union[CimType, str]] = ..., is_array: _Optional[bool] = ..., value: _Optional[_Union[Value, _Mapping]] = ..., qualifiers: _Optional[_Iterable[_Union[Qualifier, _Mapping]]] = ..., class_origin: _Optional[str] = ..., reference_class: _Optional[str] = ...) -> None: ...

class Method(_message.Message):
    __slots__ = ("name", "in_parameters", "out_parameters", "qualifiers", "class_origin")
    NAME_FIELD_NUMBER: _ClassVar[int]
    IN_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    OUT_PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    QUALIFIERS_FIELD_NUMBER: _ClassVar[int]
    CLASS_ORIGIN_FIELD_NUMBER: _ClassVar[int]
    name: str
    in_parameters: _containers.RepeatedCompositeFieldContainer[Property]
    out_parameters: _containers.RepeatedCompositeFieldContainer[Property]
    qualifiers: _containers.RepeatedCompositeFieldContainer[Qualifier]
    class_origin: str
    def __init__(self, name: _Optional[str] = ..., in_parameters: _Optional[_Iterable[_Union[Property, _Mapping]]] = ..., out_parameters: _Optional[_Iterable[_Union[Property, _Mapping]]] = ..., qualifiers: _Optional[_Iterable[_Union[Qualifier, _Mapping]]] = ..., class_origin: _Optional[str] = ...) -> None: ...

class SystemProperties(_message.Message):
    __slots__ = ("class_name", "superclass", "dynasty", "derivation", "genus", "path", "relpath", "namespace", "server", "property_count")
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    SUPERCLASS_FIELD_NUMBER: _ClassVar[int]
    DYNASTY_FIELD_NUMBER: _ClassVar[int]
    DERIVATION_FIELD_NUMBER: _ClassVar[int]
    GENUS_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    RELPATH_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SERVER_FIELD_NUMBER: _ClassVar[int]
    PROPERTY_COUNT_FIELD_NUMBER: _ClassVar[int]
    class_name: str
    superclass: str
    dynasty: str
    derivation: _containers.RepeatedScalarFieldContainer[str]
    genus: Genus
    path: str
    relpath: str
    namespace: str
    server: str
    property_count: int
    def __init__(self, class_name: _Optional[str] = ..., superclass: _Optional[str] = ..., dynasty: _Optional[str] = ..., derivation: _Optional[_Iterable[str]] = ..., genus: _Optional[_Union[Genus, str]] = ..., path: _Optional[str] = ..., relpath: _Optional[str] = ..., namespace: _Optional[str] = ..., server: _Optional[str] = ..., property_count: _Optional[int] = ...) -> None: ...

class WbemObject(_message.Message):
    __slots__ = ("genus", "class_name", "superclass", "qualifiers", "properties", "methods", "system")
    GENUS_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    SUPERCLASS_FIELD_NUMBER: _ClassVar[int]
    QUALIFIERS_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    METHODS_FIELD_NUMBER: _ClassVar[int]
    SYSTEM_FIELD_NUMBER: _ClassVar[int]
    genus: Genus
    class_name: str
    superclass: str
    qualifiers: _containers.RepeatedCompositeFieldContainer[Qualifier]
    properties: _containers.RepeatedCompositeFieldContainer[Property]
    methods: _containers.RepeatedCompositeFieldContainer[Method]
    system: SystemProperties
    def __init__(self, genus: _Optional[_Union[Genus, str]] = ..., class_name: _Optional[str] = ..., superclass: _Optional[str] = ..., qualifiers: _Optional[_Iterable[_Union[Qualifier, _Mapping]]] = ..., properties: _Optional[_Iterable[_Union[Property, _Mapping]]] = ..., methods: _Optional[_Iterable[_Union[Method, _Mapping]]] = ..., system: _Optional[_Union[SystemProperties, _Mapping]] = ...) -> None: ...

class NamedValue(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: Value
    def __init__(self, name: _Optional[str] = ..., value: _Optional[_Union[Value, _Mapping]] = ...) -> None: ...

class Context(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedCompositeFieldContainer[NamedValue]
    def __init__(self, values: _Optional[_Iterable[_Union[NamedValue, _Mapping]]] = ...) -> None: ...
