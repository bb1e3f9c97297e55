"""Sink events in the flavour of the call that asked for them.

    com       IWbemObjectSink (PutInstanceAsync, PutClassAsync): SetStatus(PROGRESS) per level with
              WBEM_FLAG_SEND_STATUS, then one SetStatus(COMPLETE, hr, path | error object)
    script    SWbemSink (PutAsync): OnProgress, then OnObjectPut(path) + OnCompleted(0) on success,
              or OnCompleted(hr, error object); each carries the caller's async context verbatim
    semisync  IWbemCallResult: only the final SetStatus (kept so AttachCall works on any call)

A put returns no objects, so Indicate is never sent (MS-WMI; reference C7).
"""

from __future__ import annotations

from host.errors import WbemError
from wmiput.v1 import calls_pb2 as calls
from wmiput.v1 import status_pb2 as st

COM, SCRIPT, SEMISYNC = "com", "script", "semisync"


def _with_context(e: calls.SinkEvent, flavour: str, async_context: bytes) -> calls.SinkEvent:
    if flavour == SCRIPT and async_context:
        e.async_context.ParseFromString(async_context)
    return e


def accepted(handle: str, op: str, flavour: str, async_context: bytes) -> calls.SinkEvent:
    e = calls.SinkEvent(call_handle=handle, sequence=0, accepted=calls.Accepted(call_handle=handle, operation=op))
    return _with_context(e, flavour, async_context)


def progress(flavour: str, async_context: bytes, current: int, total: int, message: str) -> calls.SinkEvent:
    if flavour == SCRIPT:
        e = calls.SinkEvent(progress=calls.OnProgress(upper_bound=total, current=current, message=message))
    else:
        e = calls.SinkEvent(set_status=calls.SetStatus(
            flags=st.WBEM_STATUS_PROGRESS, hresult=((total & 0xFFFF) << 16) | (current & 0xFFFF), str_param=message,
            current=current, total=total))
    return _with_context(e, flavour, async_context)


def final(flavour: str, async_context: bytes, path: str, err: WbemError | None) -> list[calls.SinkEvent]:
    """The call's last events; the last one is marked final."""
    out: list[calls.SinkEvent] = []
    if flavour == SCRIPT:
        if err is None:
            out.append(calls.SinkEvent(object_put=calls.OnObjectPut(path=path)))
            out.append(calls.SinkEvent(completed=calls.OnCompleted(hresult=0)))
        else:
            out.append(calls.SinkEvent(completed=calls.OnCompleted(hresult=int(err.hresult),
                                                                   error_object=err.to_proto())))
    elif err is None:
        out.append(calls.SinkEvent(set_status=calls.SetStatus(flags=st.WBEM_STATUS_COMPLETE, hresult=0,
                                                              str_param=path)))
    else:
        out.append(calls.SinkEvent(set_status=calls.SetStatus(flags=st.WBEM_STATUS_COMPLETE,
                                                              hresult=int(err.hresult),
                                                              error_object=err.to_proto())))
    out[-1].final = True
    return [_with_context(e, flavour, async_context) for e in out]
