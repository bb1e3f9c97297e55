"""The Python client of the wmiput host.

    from host.client import WbemClient, WbemError, WbemFlag, wmi_class, prop, instance
"""

from host.client._auth import Credentials
from host.client._calls import INFINITE, AsyncCall, CallResult, ObjectSink, ScriptSink, final_hresult
from host.client._client import PutResult, WbemClient, error_from_rpc
from host.client._objects import instance, parse_type, prop, qualifier, to_dict, wmi_class
from host.errors import HResult, WbemError
from host.flags import WbemFlag

__all__ = ["INFINITE", "AsyncCall", "CallResult", "Credentials", "HResult", "ObjectSink", "PutResult", "ScriptSink",
           "final_hresult", "WbemClient", "WbemError", "WbemFlag", "error_from_rpc", "instance",
           "parse_type", "prop", "qualifier", "to_dict", "wmi_class"]
