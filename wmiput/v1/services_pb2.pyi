from wmiput.v1 import calls_pb2 as _calls_pb2
from wmiput.v1 import object_pb2 as _object_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TransactionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRANSACTION_STATE_UNSPECIFIED: _ClassVar[TransactionState]
    TRANSACTION_STATE_PREPARING: _ClassVar[TransactionState]
    TRANSACTION_STATE_PUTTING: _ClassVar[TransactionState]
    TRANSACTION_STATE_COMMITTING: _ClassVar[TransactionState]
    TRANSACTION_STATE_ABORTING: _ClassVar[TransactionState]
TRANSACTION_STATE_UNSPECIFIED: TransactionState
TRANSACTION_STATE_PREPARING: TransactionState
TRANSACTION_STATE_PUTTING: TransactionState
TRANSACTION_STATE_COMMITTING: TransactionState
TRANSACTION_STATE_ABORTING: TransactionState

class PutClassRequest(_message.Message):
    __slots__ = ("namespace", "object", "flags", "context", "idempotency_key")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    object: _object_pb2.WbemObject
    flags: int
    context: _object_pb2.Context
    idempotency_key: str
    def __init__(self, namespace: _Optional[str] = ..., object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PutClassResponse(_message.Message):
    __slots__ = ("path", "relpath", "call_handle")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RELPATH_FIELD_NUMBER: _ClassVar[int]
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    path: str
    relpath: str
    call_handle: str
    def __init__(self, path: _Optional[str] = ..., relpath: _Optional[str] = ..., call_handle: _Optional[str] = ...) -> None: ...

class PutInstanceRequest(_message.Message):
    __slots__ = ("namespace", "object", "flags", "context", "idempotency_key")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    object: _object_pb2.WbemObject
    flags: int
    context: _object_pb2.Context
    idempotency_key: str
    def __init__(self, namespace: _Optional[str] = ..., object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ..., idempotency_key: _Optional[str] = ...) -> None: ...

class PutInstanceResponse(_message.Message):
    __slots__ = ("path", "relpath", "call_handle")
    PATH_FIELD_NUMBER: _ClassVar[int]
    RELPATH_FIELD_NUMBER: _ClassVar[int]
    CALL_HANDLE_FIELD_NUMBER: _ClassVar[int]
    path: str
    relpath: str
    call_handle: str
    def __init__(self, path: _Optional[str] = ..., relpath: _Optional[str] = ..., call_handle: _Optional[str] = ...) -> None: ...

class GetObjectRequest(_message.Message):
    __slots__ = ("namespace", "path", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    path: str
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., path: _Optional[str] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class GetObjectResponse(_message.Message):
    __slots__ = ("object",)
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    object: _object_pb2.WbemObject
    def __init__(self, object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ...) -> None: ...

class DeleteClassRequest(_message.Message):
    __slots__ = ("namespace", "class_name", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    class_name: str
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., class_name: _Optional[str] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class DeleteClassResponse(_message.Message):
    __slots__ = ("classes_deleted", "instances_deleted")
    CLASSES_DELETED_FIELD_NUMBER: _ClassVar[int]
    INSTANCES_DELETED_FIELD_NUMBER: _ClassVar[int]
    classes_deleted: int
    instances_deleted: int
    def __init__(self, classes_deleted: _Optional[int] = ..., instances_deleted: _Optional[int] = ...) -> None: ...

class DeleteInstanceRequest(_message.Message):
    __slots__ = ("namespace", "path", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    path: str
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., path: _Optional[str] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class DeleteInstanceResponse(_message.Message):
    __slots__ = ("path",)
    PATH_FIELD_NUMBER: _ClassVar[int]
    path: str
    def __init__(self, path: _Optional[str] = ...) -> None: ...

class CreateClassEnumRequest(_message.Message):
    __slots__ = ("namespace", "superclass", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    SUPERCLASS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    superclass: str
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., superclass: _Optional[str] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class CreateClassEnumResponse(_message.Message):
    __slots__ = ("object",)
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    object: _object_pb2.WbemObject
    def __init__(self, object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ...) -> None: ...

class CreateInstanceEnumRequest(_message.Message):
    __slots__ = ("namespace", "class_name", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    class_name: str
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., class_name: _Optional[str] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class CreateInstanceEnumResponse(_message.Message):
    __slots__ = ("object",)
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    object: _object_pb2.WbemObject
    def __init__(self, object: _Optional[_Union[_object_pb2.WbemObject, _Mapping]] = ...) -> None: ...

class ListProvidersRequest(_message.Message):
    __slots__ = ("namespace", "flags", "context")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    flags: int
    context: _object_pb2.Context
    def __init__(self, namespace: _Optional[str] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ...) -> None: ...

class WorkerInfo(_message.Message):
    __slots__ = ("worker_id", "hostname", "pid", "last_seen_unix_ms", "tasks_in_flight")
    WORKER_ID_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PID_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    TASKS_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    worker_id: str
    hostname: str
    pid: int
    last_seen_unix_ms: int
    tasks_in_flight: int
    def __init__(self, worker_id: _Optional[str] = ..., hostname: _Optional[str] = ..., pid: _Optional[int] = ..., last_seen_unix_ms: _Optional[int] = ..., tasks_in_flight: _Optional[int] = ...) -> None: ...

class ProviderInfo(_message.Message):
    __slots__ = ("name", "namespace", "hosting_model", "supports_put", "supports_get", "supports_delete", "supports_enumeration", "classes", "workers", "backlog", "pending", "oldest_pending_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    HOSTING_MODEL_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_PUT_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_GET_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_DELETE_FIELD_NUMBER: _ClassVar[int]
    SUPPORTS_ENUMERATION_FIELD_NUMBER: _ClassVar[int]
    CLASSES_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    OLDEST_PENDING_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    hosting_model: str
    supports_put: bool
    supports_get: bool
    supports_delete: bool
    supports_enumeration: bool
    classes: _containers.RepeatedScalarFieldContainer[str]
    workers: _containers.RepeatedCompositeFieldContainer[WorkerInfo]
    backlog: int
    pending: int
    oldest_pending_ms: int
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., hosting_model: _Optional[str] = ..., supports_put: _Optional[bool] = ..., supports_get: _Optional[bool] = ..., supports_delete: _Optional[bool] = ..., supports_enumeration: _Optional[bool] = ..., classes: _Optional[_Iterable[str]] = ..., workers: _Optional[_Iterable[_Union[WorkerInfo, _Mapping]]] = ..., backlog: _Optional[int] = ..., pending: _Optional[int] = ..., oldest_pending_ms: _Optional[int] = ...) -> None: ...

class ListProvidersResponse(_message.Message):
    __slots__ = ("providers",)
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    providers: _containers.RepeatedCompositeFieldContainer[ProviderInfo]
    def __init__(self, providers: _Optional[_Iterable[_Union[ProviderInfo, _Mapping]]] = ...) -> None: ...

class ListTransactionsRequest(_message.Message):
    __slots__ = ("namespace", "flags", "context", "limit")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    CONTEXT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    flags: int
    context: _object_pb2.Context
    limit: int
    def __init__(self, namespace: _Optional[str] = ..., flags: _Optional[int] = ..., context: _Optional[_Union[_object_pb2.Context, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class TransactionInfo(_message.Message):
    __slots__ = ("transaction_id", "namespace", "class_name", "relpath", "state", "owner_host", "owner_alive", "creator_host", "created_unix_ms", "age_ms", "deadline_unix_ms", "providers", "cancel_requested")
    TRANSACTION_ID_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    RELPATH_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    OWNER_HOST_FIELD_NUMBER: _ClassVar[int]
    OWNER_ALIVE_FIELD_NUMBER: _ClassVar[int]
    CREATOR_HOST_FIELD_NUMBER: _ClassVar[int]
    CREATED_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    AGE_MS_FIELD_NUMBER: _ClassVar[int]
    DEADLINE_UNIX_MS_FIELD_NUMBER: _ClassVar[int]
    PROVIDERS_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    transaction_id: str
    namespace: str
    class_name: str
    relpath: str
    state: TransactionState
    owner_host: str
    owner_alive: bool
    creator_host: str
    created_unix_ms: int
    age_ms: int
    deadline_unix_ms: int
    providers: _containers.RepeatedScalarFieldContainer[str]
    cancel_requested: bool
    def __init__(self, transaction_id: _Optional[str] = ..., namespace: _Optional[str] = ..., class_name: _Optional[str] = ..., relpath: _Optional[str] = ..., state: _Optional[_Union[TransactionState, str]] = ..., owner_host: _Optional[str] = ..., owner_alive: _Optional[bool] = ..., creator_host: _Optional[str] = ..., created_unix_ms: _Optional[int] = ..., age_ms: _Optional[int] = ..., deadline_unix_ms: _Optional[int] = ..., providers: _Optional[_Iterable[str]] = ..., cancel_requested: _Optional[bool] = ...) -> None: ...

class ListTransactionsResponse(_message.Message):
    __slots__ = ("transactions", "total_unfinished")
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_UNFINISHED_FIELD_NUMBER: _ClassVar[int]
    transactions: _containers.RepeatedCompositeFieldContainer[TransactionInfo]
    total_unfinished: int
    def __init__(self, transactions: _Optional[_Iterable[_Union[TransactionInfo, _Mapping]]] = ..., total_unfinished: _Optional[int] = ...) -> None: ...
