"""The system classes every namespace has (shapes from the WMI SDK's class pages).

They are written with each new namespace and cannot be changed through PutClass (their names
start with "_"). __NAMESPACE instances are how namespaces are created, as in WMI. The classes are
declared in system_classes.mof beside this file (providers, their registrations, events, event
consumers and filters: what real provider MOFs create instances of or derive from), compiled once
by host.mof.
"""

from __future__ import annotations

import functools
from importlib import resources

from wmiput.v1 import object_pb2 as pb


@functools.cache
def _compiled() -> tuple[bytes, ...]:
    from host.mof.compiler import Compiler  # the MOF compiler imports the model, not the repository

    text = resources.files("host.repository").joinpath("system_classes.mof").read_text(encoding="utf-8")
    unit = Compiler().compile_text(text, "system_classes.mof")
    return tuple(i.obj.SerializeToString() for i in unit.classes if i.obj is not None)


def system_classes() -> list[pb.WbemObject]:
    """Fresh copies, parents first."""
    return [pb.WbemObject.FromString(b) for b in _compiled()]


NAMESPACE_CLASS = "__namespace"
