from wmiput.v1 import object_pb2 as _object_pb2
from wmiput.v1 import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetCallStatusRequest(_message.Message):
    __slots__ = ("call_handle", "timeout_ms")
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    call_handle: str
    timeout_ms: int
    def __init__(self, call_handle: _Optional[str] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class GetCallStatusResponse(_message.Message):
    __slots__ = ("hresult", "call_status", "error_object")
    HRESULT_FIELD_NUMBER: _ClassVar[int]
    CALL_STATUS_FIELD_NUMBER: _ClassVar[int]
    ERROR_OBJECT_FIELD_NUMBER: _ClassVar[int]
    hresult: int
    call_status: int
    error_object: _status_pb2.ExtendedStatus
    def __init__(self, hresult: _Optional[int] = ..., call_status: _Optional[int] = ..., error_object: _Optional[_Union[_status_pb2.ExtendedStatus, _Mapping]] = ...) -> None: ...

class GetResultStringRequest(_message.Message):
    __slots__ = ("call_handle", "timeout_ms")
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    call_handle: str
    timeout_ms: int
    def __init__(self, call_handle: _Optional[str] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class GetResultStringResponse(_message.Message):
    __slots__ = ("hresult", "result_string")
    HRESULT_FIELD_NUMBER: _ClassVar[int]
    RESULT_STRING_FIELD_NUMBER: _ClassVar[int]
    hresult: int
    result_string: str
    def __init__(self, hresult: _Optional[int] = ..., result_string: _Optional[str] = ...) -> None: ...

class GetResultObjectRequest(_message.Message):
    __slots__ = ("call_handle", "timeout_ms")
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    call_handle: str
    timeout_ms: int
    def __init__(self, call_handle: _Optional[str] = ..., timeout_ms: _Optional[int] = ...) -> None: ...

class GetResultObjectResponse(_message.Message):
    __slots__ = ("hresult",)
    HRESULT_FIELD_NUMBER: _ClassVar[int]
    hresult: int
    def __init__(self, hresult: _Optional[int] = ...) -> None: ...

class PutInstanceAsyncRequest(_message.Message):
    __slots__ = ("namespace", "object", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    object: _object_pb2.WbemObject
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class PutClassAsyncRequest(_message.Message):
    __slots__ = ("namespace", "object", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    object: _object_pb2.WbemObject
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class PutAsyncRequest(_message.Message):
    __slots__ = ("namespace", "object", "flags", "context", "async_context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    ASYNC_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    object: _object_pb2.WbemObject
    flags: int
    context: _object_pb2.Context
    async_context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ..., async_context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class PutInstanceAsyncResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SinkEvent
    def __init__(self, event: _Optional[_Union[SinkEvent, _Mapping]] = ...) -> None: ...

class PutClassAsyncResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SinkEvent
    def __init__(self, event: _Optional[_Union[SinkEvent, _Mapping]] = ...) -> None: ...

class PutAsyncResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SinkEvent
    def __init__(self, event: _Optional[_Union[SinkEvent, _Mapping]] = ...) -> None: ...

class AttachCallResponse(_message.Message):
    __slots__ = ("event",)
    EVENT_FIELD_NUMBER: _ClassVar[int]
    event: SinkEvent
    def __init__(self, event: _Optional[_Union[SinkEvent, _Mapping]] = ...) -> None: ...

class AttachCallRequest(_message.Message):
    __slots__ = ("call_handle", "after_sequence")
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    call_handle: str
    after_sequence: int
    def __init__(self, call_handle: _Optional[str] = ..., after_sequence: _Optional[int] = ...) -> None: ...

class CancelAsyncCallRequest(_message.Message):
    __slots__ = ("call_handle",)
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    call_handle: str
    def __init__(self, call_handle: _Optional[str] = ...) -> None: ...

class CancelAsyncCallResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SinkEvent(_message.Message):
    __slots__ = ("call_handle", "sequence", "final", "accepted", "indicate", "set_status", "object_put", "progress", "completed", "async_context")
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    INDICATE_FIELD_NUMBER: _ClassVar[int]
    SET_STATUS_FIELD_NUMBER: _ClassVar[int]
    OBJECT_PUT_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    ASYNC_CONTEXT_FIELD_NUMBER: _ClassVar[int]
    call_handle: str
    sequence: int
    final: bool
    accepted: Accepted
    indicate: Indicate
    set_status: SetStatus
    object_put: OnObjectPut
    progress: OnProgress
    completed: OnCompleted
    async_context: _object_pb2.Context
    def __init__(self, call_handle: _Optional[str] = ..., sequence: _Optional[int] = ..., final: _Optional[bool] = ..., accepted: _Optional[_Union[Accepted, _Mapping]] = ..., indicate: _Optional[_Union[Indicate, _Mapping]] = ..., set_status: _Optional[_Union[SetStatus, _Mapping]] = ..., object_put: _Optional[_Union[OnObjectPut, _Mapping]] = ..., progress: _Optional[_Union[OnProgress, _Mapping]] = ..., completed: _Optional[_Union[OnCompleted, _Mapping]] = ..., async_context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class Accepted(_message.Message):
    __slots__ = ("call_handle", "operation")
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    call_handle: str
    operation: str
    def __init__(self, call_handle: _Optional[str] = ..., operation: _Optional[str] = ...) -> None: ...

class Indicate(_message.Message):
    __slots__ = ("objects",)
    OBJECTS_FIELD_NUMBER: _ClassVar[int]
    objects: _containers.RepeatedCompositeFieldContainer[_object_pb2.WbemObject]
    def __init__(self, objects: _Optional[_Iterable[_Union[_object_pb2.WbemObject, _Mapping]]] = ...) -> None: ...

class SetStatus(_message.Message):
    __slots__ = ("flags", "hresult", "str_param", "error_object", "current", "total")
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    HRESULT_FIELD_NUMBER: _ClassVar[int]
    STR_PARAM_FIELD_NUMBER: _ClassVar[int]
    ERROR_OBJECT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    flags: _status_pb2.WbemStatusType
    hresult: int
    str_param: str
    error_object: _status_pb2.ExtendedStatus
    current: int
    total: int
    def __init__(self, flags: _Optional[_Union[_status_pb2.WbemStatusType, str]] = ..., hresult: _Optional[int] = ..., str_param: _Optional[str] = ..., error_object: _Optional[_Union[_status_pb2.ExtendedStatus, _Mapping]] = ..., current: _Optional[int] = ..., total: _Optional[int] = ...) -> None: ...

class OnObjectPut(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class OnProgress(_message.Message):
    __slots__ = ("upper_bound", "current", "message")
    UPPER_BOUND_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    upper_bound: int
    current: int
    message: str
    def __init__(self, upper_bound: _Optional[int] = ..., current: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class OnCompleted(_message.Message):
    __slots__ = ("hresult", "error_object")
    HRESULT_FIELD_NUMBER: _ClassVar[int]
    ERROR_OBJECT_FIELD_NUMBER: _ClassVar[int]
    hresult: int
    error_object: _status_pb2.ExtendedStatus
    def __init__(self, hresult: _Optional[int] = ..., error_object: _Optional[_Union[_status_pb2.ExtendedStatus, _Mapping]] = ...) -> None: ...
