"""Name rules for classes, properties, qualifiers and namespaces (reference §9.1, §6.1).

A name is a WQL identifier: a letter (ASCII or U+0080..U+FFEF) first, then letters, digits
and underscores. Names beginning or ending with "_" are reserved for the system.
"""

from __future__ import annotations

import re

from host.errors import WbemError

IDENT = re.compile(r"[A-Za-z_\u0080-\uffef][A-Za-z0-9_\u0080-\uffef]*\Z")
MAX_IDENTIFIER = 4096  # WBEM_MAX_IDENTIFIER


def is_identifier(name: str) -> bool:
    return bool(IDENT.match(name))


def is_system_name(name: str) -> bool:
    return name.startswith("__")


def check_class_name(name: str, *, operation: str, max_length: int = MAX_IDENTIFIER) -> None:
    """PutClass name rules, with the codes MS-WMI gives each."""
    if not name:
        raise WbemError("WBEM_E_INCOMPLETE_CLASS", "the class has no name (__CLASS is empty)",
                        parameter_info="__CLASS", operation=operation)
    if len(name) > max_length:
        raise WbemError("WBEM_E_QUOTA_VIOLATION", f"class name is {len(name)} characters; the limit is {max_length}",
                        parameter_info="__CLASS", operation=operation)
    if not is_identifier(name):
        raise WbemError("WBEM_E_INVALID_PARAMETER",
                        f"class name {name!r} is not an identifier (a letter, then letters, digits or '_')",
                        parameter_info=name, operation=operation)
    if name.startswith("_"):
        raise WbemError("WBEM_E_INVALID_OPERATION",
                        f"class name {name!r} starts with '_', which is reserved for system classes",
                        parameter_info=name, operation=operation)
    if name.endswith("_"):
        raise WbemError("WBEM_E_INVALID_OBJECT", f"class name {name!r} ends with '_', which is reserved",
                        parameter_info=name, operation=operation)


def check_member_name(name: str, kind: str, *, operation: str, max_length: int = MAX_IDENTIFIER) -> None:
    """Property, method, parameter and qualifier names."""
    if len(name) > max_length:
        raise WbemError("WBEM_E_QUOTA_VIOLATION", f"{kind} name is {len(name)} characters; the limit is {max_length}",
                        parameter_info=name[:64], operation=operation)
    if name.startswith("__") and kind == "property":
        raise WbemError("WBEM_E_READ_ONLY", f"{name!r} is a system property; the server computes it",
                        parameter_info=name, operation=operation)
    if not is_identifier(name) or name.startswith("_") or name.endswith("_"):
        raise WbemError("WBEM_E_INVALID_PARAMETER",
                        f"{kind} name {name!r} is not valid (an identifier not beginning or ending with '_')",
                        parameter_info=name[:64], operation=operation)


def reference_target_name(name: str) -> bool:
    """A class named by ref:X / object:X may be a system class."""
    return bool(IDENT.match(name))
