"""The MOF grammar and compiler on their own (no server): WMI's dialect, values, pragmas, errors."""

from __future__ import annotations

import pytest

from host.flags import WbemFlag
from host.mof import syntax
from host.mof.compiler import Compiler, pragma_namespace
from host.mof.errors import MofCode, MofError
from host.mof.syntax import Where
from wmiput.v1 import object_pb2 as pb

T = pb.CimType

WMI_DIALECT = r'''
#pragma autorecover
#PRAGMA AUTORECOVER
#pragma namespace("\\\\.\\root\\cimv2")   // a comment after the pragma
qualifier vendor:ToInstance;
Qualifier Stream : boolean = false, Scope(parameter, method), Flavor(DisableOverride, ToSubclass);

[WMI, Dynamic, Provider("WMIProv"), guid("{1}"), Description("x") : amended ToSubclass]
class Drv_Package
{
    [key, read] string InstanceName;
    [WmiDataId(1), read] uint8 Bytes[8];
};

[dynamic, provider("P")]
class Drv_Methods
{
    [key] string InstanceName;
    Drv_Package Data;                                   // class-typed: an embedded object
    [implemented] void Reset([in] Drv_Package Input);   // void method, class-typed parameter
    [implemented, static] uint32 Hello([in] string sIn = "default", [out] string sOut);
};

instance of __Win32Provider as $P { Name = "P"; CLSID = "{0}"; };
instance of __InstanceProviderRegistration { provider = $P; SupportsGet = TRUE; };
instance of __EventProviderRegistration { provider = "__Win32Provider=\"P\""; };
[DYNPROPS] instance of Drv_Methods { InstanceName = "a"; [PropertyContext("x"), Dynamic] Data; };
'''


def test_the_wmi_dialect_compiles() -> None:
    unit = Compiler(namespace="root\\default").compile_text(WMI_DIALECT, "wmi.mof")
    assert [i.namespace for i in unit.items] == ["root\\cimv2"] * 6
    package, methods = unit.classes[0].obj, unit.classes[1].obj
    desc = next(q for q in package.qualifiers if q.name == "Description")
    assert desc.flavor == 0x80 | 0x2  # Amended, ToSubclass
    assert package.properties[1].is_array and package.properties[1].type == T.CIM_TYPE_UINT8
    data = methods.properties[1]
    assert (data.type, data.reference_class) == (T.CIM_TYPE_OBJECT, "Drv_Package")
    reset, hello = methods.methods
    assert [p.name for p in reset.out_parameters] == []  # void: no ReturnValue
    assert reset.in_parameters[0].type == T.CIM_TYPE_OBJECT
    assert hello.in_parameters[0].value.string == "default"
    assert [p.name for p in hello.out_parameters] == ["sOut", "ReturnValue"]
    assert unit.classes[1].uses_classes == {"Drv_Package"}
    provider, registration, event, dynprops = unit.instances
    assert provider.alias == "P" and registration.alias_refs == [(0, None, "P")]
    assert event.obj.properties[0].value.string == '__Win32Provider="P"'
    assert dynprops.obj.qualifiers[0].name == "DYNPROPS"
    assert not dynprops.obj.properties[1].HasField("value") and dynprops.obj.properties[1].qualifiers
    assert len(unit.notes) == 2  # the two autorecover pragmas


def test_values() -> None:
    unit = Compiler().compile_text(r'''
        class V { [key] uint32 A = 0x1F; sint32 B = -010; uint8 C = 101b; real64 D = -1.5e3;
                  string E = "a" "b\x41\n\"" ; char16 F = 'z'; boolean G = TRUE; string H[] = {"x", "y"};
                  datetime I = "20240101000000.000000+000"; string J = NULL; };''')
    props = {p.name: p for p in unit.classes[0].obj.properties}
    assert props["A"].value.uint == 31 and props["B"].value.sint == -8 and props["C"].value.uint == 5
    assert props["D"].value.real == -1500.0 and props["E"].value.string == 'abA\n"'
    assert props["F"].value.uint == ord("z") and props["G"].value.boolean is True
    assert [v.string for v in props["H"].value.array.items] == ["x", "y"]
    assert props["I"].value.string.startswith("2024") and not props["J"].HasField("value")


@pytest.mark.parametrize("text, code, line", [
    ("class A { string x }\n;", MofCode.EXPECTED_SEMI, 1),
    ("class A {\n string x;\n", MofCode.INVALID_FILE, 2),
    ("class A { uint32 x = \"text\"; };", MofCode.TYPE_MISMATCH, 1),
    ("\n\nclass A { string x; } ; @", MofCode.UNRECOGNIZED_TOKEN, 3),
    ("[Description(\"x\")\nclass A { };", MofCode.EXPECTED_CLOSE_BRACKET, 2),
    ("class A { string x; string X; };", MofCode.DUPLICATE_PROPERTY, 1),
    ("[key, Key] class A { };", MofCode.DUPLICATE_QUALIFIER, 1),
    ("#pragma frobnicate(\"x\")", MofCode.INVALID_PRAGMA, 1),
    ("\n#pragma classflags(\"createonly, updateonly\")", MofCode.INVALID_FLAGS_SYNTAX, 2),
    ("#pragma namespace(\"\\\\\\\\other\\\\root\")", MofCode.INVALID_NAMESPACE_SPECIFICATION, 1),
    ("#pragma include(\"absent.mof\")", MofCode.ERROR_INVALID_INCLUDE_FILE, 1),
    ("class A { [X : Sideways] string x; };", MofCode.EXPECTED_FLAVOR_TYPE, 1),
    ("class A { uint8 x = 300; };", MofCode.OUT_OF_RANGE, 1),
    ("instance of A { x = {1, NULL}; };", MofCode.NULL_ARRAY_ELEM, 1),
    ("instance of A { x = instance of B { y = $a; }; };", MofCode.ALIASES_IN_EMBEDDED, 1),
])
def test_errors_carry_mofcomps_code_and_the_line(text: str, code: MofCode, line: int) -> None:
    with pytest.raises(MofError) as e:
        Compiler().compile_text(text, "t.mof")
    assert e.value.code == code, str(e.value)
    assert e.value.where.line == line, str(e.value)
    assert str(e.value).startswith(f"t.mof:{line}") and code.hresult_name in str(e.value)


def test_pragma_namespace_forms() -> None:
    w = Where("t.mof", 1)
    assert pragma_namespace("\\\\.\\root\\cimv2", "root\\default", w) == "root\\cimv2"
    assert pragma_namespace("//./root/x", "root\\default", w) == "root\\x"
    assert pragma_namespace("\\root\\cimv2\\SAMPLE", "root\\default", w) == "root\\cimv2\\SAMPLE"
    assert pragma_namespace("root\\cimv2", "root\\default", w) == "root\\cimv2"
    assert pragma_namespace("Child", "root\\cimv2", w) == "root\\cimv2\\Child"


def test_flag_pragmas_apply_to_what_follows() -> None:
    unit = Compiler(class_flags=0).compile_text('''class A { };
        #pragma classflags("updateonly, forceupdate")
        class B { };
        #pragma instanceflags("createonly")
        instance of B { };''')
    assert [i.flags for i in unit.items] == [0, WbemFlag.UPDATE_ONLY | WbemFlag.UPDATE_FORCE_MODE,
                                             WbemFlag.CREATE_ONLY]


def test_pragma_arguments() -> None:
    p = syntax.parse_pragma('#pragma deleteclass("My_Class", NOFAIL) // why', Where("f", 3))
    assert (p.name, p.args) == ("deleteclass", ["My_Class", "NOFAIL"])
    assert syntax.parse_pragma("#pragma autorecover", Where("f", 1)).args == []
