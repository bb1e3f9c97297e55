"""The errors a MOF compile reports: mofcomp's own WBEMMOF_E_* codes, with file:line.

Codes are the WBEMSTATUS values of wbemcli.h (0x80044001-0x80044031), so a user who knows
mofcomp's messages finds the same numbers. Failures of the puts themselves carry the server's
WBEM_E_* HRESULT instead (host.errors.HResult).
"""

from __future__ import annotations

import enum
from typing import Any


class MofCode(enum.IntEnum):
    EXPECTED_QUALIFIER_NAME = 0x80044001
    EXPECTED_SEMI = 0x80044002
    EXPECTED_OPEN_BRACE = 0x80044003
    EXPECTED_CLOSE_BRACE = 0x80044004
    EXPECTED_CLOSE_BRACKET = 0x80044005
    EXPECTED_CLOSE_PAREN = 0x80044006
    ILLEGAL_CONSTANT_VALUE = 0x80044007
    EXPECTED_TYPE_IDENTIFIER = 0x80044008
    EXPECTED_OPEN_PAREN = 0x80044009
    UNRECOGNIZED_TOKEN = 0x8004400A
    UNRECOGNIZED_TYPE = 0x8004400B
    EXPECTED_PROPERTY_NAME = 0x8004400C
    UNEXPECTED_ALIAS = 0x8004400E
    UNEXPECTED_ARRAY_INIT = 0x8004400F
    INVALID_PRAGMA = 0x80044012
    INVALID_NAMESPACE_SYNTAX = 0x80044013
    EXPECTED_CLASS_NAME = 0x80044014
    TYPE_MISMATCH = 0x80044015
    INVALID_CLASS_DECLARATION = 0x80044017
    INVALID_INSTANCE_DECLARATION = 0x80044018
    DUPLICATE_PROPERTY = 0x8004401B
    INVALID_NAMESPACE_SPECIFICATION = 0x8004401C
    OUT_OF_RANGE = 0x8004401D
    INVALID_FILE = 0x8004401E
    ALIASES_IN_EMBEDDED = 0x8004401F
    NULL_ARRAY_ELEM = 0x80044020
    DUPLICATE_QUALIFIER = 0x80044021
    EXPECTED_FLAVOR_TYPE = 0x80044022
    MULTIPLE_ALIASES = 0x80044024
    NO_ARRAYS_RETURNED = 0x80044026
    INVALID_FLAGS_SYNTAX = 0x80044028
    INVALID_DELETEINSTANCE_SYNTAX = 0x8004402C
    INVALID_QUALIFIER_SYNTAX = 0x8004402D
    ERROR_INVALID_INCLUDE_FILE = 0x80044030
    INVALID_DELETECLASS_SYNTAX = 0x80044031

    @property
    def hresult_name(self) -> str:
        return "WBEMMOF_E_" + self.name

    def __str__(self) -> str:
        return f"{self.hresult_name} (0x{self.value:08X})"


class MofError(Exception):
    """A MOF text that cannot be compiled: code, message, and where (file:line[:column])."""

    def __init__(self, code: MofCode, message: str, where: Any = None, *, column: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.where = where
        self.column = column

    @property
    def location(self) -> str:
        if self.where is None:
            return "<mof>"
        return f"{self.where}:{self.column}" if self.column else str(self.where)

    def __str__(self) -> str:
        return f"{self.location}: {self.code.hresult_name} (0x{self.code.value:08X}): {self.message}"
