from wmiput.v1 import object_pb2 as _object_pb2
from wmiput.v1 import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskPhase(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_PHASE_UNSPECIFIED: _ClassVar[TaskPhase]
    TASK_PHASE_PREPARE: _ClassVar[TaskPhase]
    TASK_PHASE_COMMIT: _ClassVar[TaskPhase]
    TASK_PHASE_ABORT: _ClassVar[TaskPhase]
    TASK_PHASE_PUT: _ClassVar[TaskPhase]
TASK_PHASE_UNSPECIFIED: TaskPhase
TASK_PHASE_PREPARE: TaskPhase
TASK_PHASE_COMMIT: TaskPhase
TASK_PHASE_ABORT: TaskPhase
TASK_PHASE_PUT: TaskPhase

class Caller(_message.Message):
    __slots__ = ("principal", "host")
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    principal: str
    host: str
    def __init__(self, principal: _Optional[str] = ..., host: _Optional[str] = ...) -> None: ...

class ProviderTask(_message.Message):
    __slots__ = ("task_id", "transaction_id", "phase", "level", "class_name", "namespace", "provider", "object", "flags", "context", "caller", "deadline_unix_ms", "reply_to", "trace_context")
    class TraceContextEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    CALLER_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    REPLY_TO_FIELD_NUMBER: _ClassVar[int]
    TRACE_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    transaction_id: str
    phase: TaskPhase
    level: int
    class_name: str
    namespace: str
    provider: str
    object: _object_pb2.WbemObject
    flags: int
    context: _object_pb2.Context
    caller: Caller
    deadline_unix_ms: int
    reply_to: str
    trace_context: _containers.ScalarMap[str, str]
    def __init__(self, task_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., phase: _Optional[_Union[TaskPhase, str]] = ..., level: _Optional[int] = ..., class_name: _Optional[str] = ..., namespace: _Optional[str] = ..., provider: _Optional[str] = ..., object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ..., caller: _Optional[_Union[Caller, _Mapping]] = ..., deadline_unix_ms: _Optional[int] = ..., reply_to: _Optional[str] = ..., trace_context: _Optional[_Mapping[str, str]] = ...) -> None: ...

class ProviderReply(_message.Message):
    __slots__ = ("task_id", "transaction_id", "phase", "level", "hresult", "status", "worker_id")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    PHASE_FIELD_NUMBER: _ClassVar[int]
    LEVEL_FIELD_NUMBER: _ClassVar[int]
    HRESULT_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    transaction_id: str
    phase: TaskPhase
    level: int
    hresult: int
    status: _status_pb2.ExtendedStatus
    worker_id: str
    def __init__(self, task_id: _Optional[str] = ..., transaction_id: _Optional[str] = ..., phase: _Optional[_Union[TaskPhase, str]] = ..., level: _Optional[int] = ..., hresult: _Optional[int] = ..., status: _Optional[_Union[_status_pb2.ExtendedStatus, _Mapping]] = ..., worker_id: _Optional[str] = ...) -> None: ...
