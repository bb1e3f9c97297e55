"""`wmiput mofcomp` (host.mof): real MOF through the front door.

- The whole DMTF CIM Schema 2.49.0 loads, and what the host enumerates is compared class by class
  with pywbem's MOF compiler's view of the same files (tests/cim_mof.py).
- Every WMI provider MOF in tests/data/wmi-mof loads unedited, provider registrations included.
- Reloading with update-only, safe and force modes behaves as the reference's §9.2 says.
- Syntax errors and failed puts come back as file:line with the HRESULT name.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from host.client import WbemError, WbemFlag, to_dict
from host.model import classes as model
from host.mof.compiler import Compiler, Unit
from host.mof.errors import MofCode, MofError
from host.mof.loader import load
from tests import cim_mof

pytestmark = pytest.mark.timeout(300)

DATA = Path(__file__).resolve().parents[1] / "data"
MOF_ZIP = DATA / "cim_schema_2.49.0Final-MOFs.zip"
MOF_TOP = "cim_schema_2.49.0Final-MOFs/cim_schema_2.49.0.mof"
WMI = DATA / "wmi-mof"
CLASSIC = WMI / "microsoft+Windows-classic-samples" / "Samples"
WIN7 = CLASSIC / "Win7Samples" / "sysmgmt" / "wmi"
DRIVERS = WMI / "microsoft+Windows-driver-samples"
PERF = WMI / "transcribed+MicrosoftDocs-win32" / "win32_perf_classes.mof"


@pytest.fixture(scope="module")
def cim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cim249mof")
    with zipfile.ZipFile(MOF_ZIP) as z:
        z.extractall(root)
    return root


@pytest.fixture(scope="module")
def cim_unit(cim_dir: Path) -> Unit:
    return Compiler(namespace="root\\cim249").compile_file(cim_dir / MOF_TOP)


@pytest.fixture(scope="module")
def pywbem_view(cim_dir: Path) -> dict[str, Any]:
    return cim_mof.compile_mof(cim_dir / MOF_TOP)


def _keys(obj: Any) -> set[str]:
    return {p.name for p in obj.properties if model.truthy(p.qualifiers, "key")}


async def test_the_whole_cim_schema_2_49_loads_and_enumerates_as_pywbem_compiles_it(
        client: Any, cim_unit: Unit, pywbem_view: dict[str, Any]) -> None:
    assert len(cim_unit.classes) == 1631 and len(cim_unit.files) == 1634
    await client.create_namespace("cim249")
    report = await load(client, cim_unit, concurrency=16)
    assert report.ok, "\n".join(str(f) for f in report.failures[:20])
    assert report.classes == 1631
    print(f"\nCIM 2.49 via mofcomp: {report.classes} classes in {report.seconds:.1f} s; notes: {report.notes}")
    # The one DSP0004/WMI conflict: CIM_PolicyInSystem is Abstract under the concrete
    # CIM_HostedDependency. It is put as concrete and said so; its Abstract subclass then follows.
    demoted = {n.split(": ")[1].split(" ")[0] for n in report.notes}
    assert demoted == {"CIM_PolicyInSystem", "CIM_PolicySetInSystem"}, report.notes

    got = {o.class_name: o async for o in client.enum_classes("", namespace="root\\cim249")}
    problems: list[str] = []
    for name, c in pywbem_view.items():
        o = got.get(name)
        if o is None:
            problems.append(f"{name}: not enumerated")
            continue
        if o.superclass != (c.superclass or ""):
            problems.append(f"{name}: superclass {o.superclass!r}, pywbem {c.superclass!r}")
        if _keys(o) != cim_mof.key_names(c):
            problems.append(f"{name}: keys {sorted(_keys(o))}, pywbem {sorted(cim_mof.key_names(c))}")
        mine = {p.name: (int(p.type), p.is_array, p.reference_class if p.type == cim_mof.T.CIM_TYPE_REFERENCE
                         else "") for p in o.properties}
        theirs = {p.name: (cim_mof.cim_type(p.type), bool(p.is_array), p.reference_class or "")
                  for p in c.properties.values()}
        if mine != theirs:
            differ = sorted(n for n in mine.keys() | theirs.keys() if mine.get(n) != theirs.get(n))
            problems.append(f"{name}: properties differ: {[(n, mine.get(n), theirs.get(n)) for n in differ][:5]}")
        if {m.name for m in o.methods} != set(c.methods):
            problems.append(f"{name}: methods {sorted(m.name for m in o.methods)}, pywbem {sorted(c.methods)}")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    assert len([n for n in got if not n.startswith("__")]) == 1631


async def _load_files(client: Any, files: list[Path], namespace: str = "root\\cimv2", **kw: Any) -> Any:
    compiler = Compiler(namespace=namespace)
    for f in files:
        compiler.compile_file(f)
    return compiler.unit, await load(client, compiler.unit, **kw)


async def _cim_for(client: Any, cim_unit: Unit, needed: set[str], namespace: str = "root\\cimv2") -> None:
    """The CIM classes (and their parents) a provider MOF derives from: the machine's own schema."""
    by_name = {i.name.lower(): i for i in cim_unit.classes}
    chain: set[str] = set()
    for n in needed:
        c: str = n.lower()
        while c:
            chain.add(c)
            c = by_name[c].obj.superclass.lower()
    part = Unit(items=[i for i in cim_unit.items if i.kind == "class" and i.name.lower() in chain])
    for i, item in enumerate(part.items):
        item.namespace, item.index = namespace, i
    report = await load(client, part)
    assert report.ok, [str(f) for f in report.failures]
    for item in part.items:
        item.namespace = "root\\cim249"


WMI_PROVIDER_MOFS = [
    WIN7 / "vc/instprov/InstProv.Mof",
    WIN7 / "vc/methprov/MethProv.Mof",
    WIN7 / "vc/classprov/ClassProv.Mof",
    WIN7 / "vc/propprov/PropProv.Mof",
    WIN7 / "vc/eventprovider/EvProv.Mof",
    WIN7 / "vc/hiperfprovider/BasicHiPerf.Mof",
    WIN7 / "vc/decoupled/instance_provider/mof/ProvReg.mof",
    WIN7 / "vc/decoupled/event_provider/mof/ProvReg.mof",
    WIN7 / "vc/decoupled/event_consumer/mof/ProvReg.mof",
    WIN7 / "vc/eventconsumer/SampleViewer.Mof",
    WIN7 / "scripting/wsh/vbscript/registry/Registry.Mof",
    WIN7 / "scripting/wsh/vbscript/perfmon/PerfMon.Mof",
]


async def test_every_wmi_provider_mof_loads_unedited_with_its_registrations(
        client: Any, cim_unit: Unit) -> None:
    # What a Windows machine already has: CIM classes under Win32_* and the Win32_Perf classes.
    await _cim_for(client, cim_unit, {"CIM_Process", "CIM_StatisticalInformation", "CIM_Service",
                                      "CIM_ServiceProcess", "CIM_InstModification"})
    _, perf = await _load_files(client, [PERF])
    assert perf.ok, [str(f) for f in perf.failures]

    for mof in WMI_PROVIDER_MOFS:
        unit, report = await _load_files(client, [mof])
        assert report.ok, f"{mof.name}: " + "\n".join(str(f) for f in report.failures)
        assert report.classes + report.instances == len(unit.items) > 0

    # The registrations are there, as WMI would list them.
    providers = {o.system.relpath async for o in client.enum_instances("__Win32Provider", namespace="root\\cimv2")}
    for name in ("InstProvSamp", "MethProv", "ClassProvSamp", "PropProvSamp", "MyEventProvider", "BasicHiPerf_v1"):
        assert any(f'"{name}"'.lower() in p.lower() for p in providers), (name, providers)
    regs = [to_dict(o) async for o in client.enum_instances("__InstanceProviderRegistration",
                                                               namespace="root\\cimv2")]
    inst = [r for r in regs if "InstProvSamp" in str(r.get("provider"))]
    assert inst and inst[0]["SupportsGet"] is True and inst[0]["SupportsPut"] is False
    events = [to_dict(o) async for o in client.enum_instances("__EventProviderRegistration", namespace="root\\cimv2")]
    assert any(r.get("EventQueryList") == ["select * from MyEvent"] for r in events), events
    # The aliased association instance of the decoupled event consumer sample.
    bindings = [to_dict(o) async for o in client.enum_instances("__FilterToConsumerBinding",
                                                                   namespace="root\\cimv2")]
    assert len(bindings) == 1 and "__EventFilter" in str(bindings[0]["Filter"])
    # Namespaces the MOFs create and then use.
    sample = [o.class_name async for o in client.enum_classes("", WbemFlag.SHALLOW,
                                                                namespace="root\\cimv2\\SAMPLE_Office")]
    assert sample, "SampleViewer.Mof's namespace and class"
    derived = await client.get_object("Win32_ProcessEx", namespace="root\\cimv2")
    assert derived.superclass == "CIM_Process"

    # The MI sample includes a CIM schema it does not ship: with --skip-missing-includes it loads
    # over the classes the server already has.
    compiler = Compiler(namespace="root\\cimv2", skip_missing_includes=True)
    unit = compiler.compile_file(CLASSIC / "ManagementInfrastructure/cpp/Sample.mof")
    assert any("cim_schema_2.26.0.mof" in n for n in unit.notes)
    report = await load(client, unit)
    assert report.ok, [str(f) for f in report.failures]

    # Kernel-mode WMI classes (root\wmi in Windows), grouped as a driver package installs them.
    await client.create_namespace("wmi")
    drivers = [DRIVERS / "wmi/wmiacpi/acpimof.mof", DRIVERS / "wmi/wmisamp/wmisamp.mof",
               DRIVERS / "general/toaster/toastDrv/kmdf/func/featured/toaster.mof",
               DRIVERS / "storage/msdsm/src/msdsm.mof"]
    unit, report = await _load_files(client, drivers, namespace="root\\wmi")
    assert report.ok, "\n".join(str(f) for f in report.failures)
    assert report.classes == 24
    arrival = await client.get_object("ToasterNotifyDeviceArrival", namespace="root\\wmi")
    assert arrival.superclass == "WMIEvent"


MODES_BASE = """
class Mof_Base { [key] string Id; string Note; };
class Mof_Child : Mof_Base { uint32 Size; };
instance of Mof_Child { Id = "one"; Size = 1; };
"""


async def _mofcomp(client: Any, text: str, class_flags: int = 0, instance_flags: int = 0) -> Any:
    unit = Compiler(namespace="root\\cimv2", class_flags=class_flags, instance_flags=instance_flags).compile_text(
        text, "modes.mof")
    return await load(client, unit, keep_going=True)


async def test_reloading_with_update_only_safe_and_force_modes(client: Any) -> None:
    assert (await _mofcomp(client, MODES_BASE)).ok
    # Unchanged reload: update-only succeeds for classes that exist ...
    same = await _mofcomp(client, MODES_BASE, WbemFlag.UPDATE_ONLY, WbemFlag.UPDATE_ONLY)
    assert same.ok, [str(f) for f in same.failures]
    # ... and create-only refuses every one with WBEM_E_ALREADY_EXISTS.
    again = await _mofcomp(client, MODES_BASE, WbemFlag.CREATE_ONLY, WbemFlag.CREATE_ONLY)
    assert {f.name for f in again.failures} == {"WBEM_E_ALREADY_EXISTS"} and len(again.failures) == 3
    assert str(again.failures[0]).startswith("modes.mof:2: error: WBEM_E_ALREADY_EXISTS (0x80041019)")
    # update-only of a class that does not exist: WBEM_E_NOT_FOUND.
    new = await _mofcomp(client, "class Mof_New { [key] string Id; };", WbemFlag.UPDATE_ONLY)
    assert [f.name for f in new.failures] == ["WBEM_E_NOT_FOUND"]

    # A non-conflicting change to a class with a subclass (a new property on the base):
    changed = MODES_BASE.replace("string Note;", "string Note; string Added;").split("instance of")[0]
    compatible = await _mofcomp(client, changed)
    assert [f.name for f in compatible.failures] in (["WBEM_E_CLASS_HAS_CHILDREN"], ["WBEM_E_CLASS_HAS_INSTANCES"])
    safe = await _mofcomp(client, changed, WbemFlag.UPDATE_SAFE_MODE)
    # Mof_Child has an instance: a structural change fails in safe mode too (§9.2) ...
    assert [f.name for f in safe.failures] == ["WBEM_E_CLASS_HAS_INSTANCES"], [str(f) for f in safe.failures]
    # ... and force mode applies it, deleting the static instances of the changed classes.
    forced = await _mofcomp(client, changed, WbemFlag.UPDATE_FORCE_MODE)
    assert forced.ok, [str(f) for f in forced.failures]
    base = await client.get_object("Mof_Base", namespace="root\\cimv2")
    assert "Added" in {p.name for p in base.properties}
    left = [o async for o in client.enum_instances("Mof_Child", namespace="root\\cimv2")]
    assert left == []

    # Without instances, safe mode accepts a non-conflicting change that compatible mode refuses.
    changed2 = changed.replace("string Added;", "string Added; string Added2;")
    refused = await _mofcomp(client, changed2)
    assert [f.name for f in refused.failures] == ["WBEM_E_CLASS_HAS_CHILDREN"]
    accepted = await _mofcomp(client, changed2, WbemFlag.UPDATE_SAFE_MODE)
    assert accepted.ok, [str(f) for f in accepted.failures]


async def test_pragmas_aliases_and_errors_with_file_and_line(client: Any, tmp_path: Path) -> None:
    (tmp_path / "inc.mof").write_text('#pragma classflags("createonly")\nclass Inc_A { [key] string K; };\n')
    (tmp_path / "top.mof").write_text(
        '#pragma namespace("\\\\\\\\.\\\\root\\\\cimv2")\n'
        '#pragma include ("inc.mof")\n'
        'instance of Inc_A as $a { K = "x"; };\n'
        '[Association] class Inc_Link { [key] Inc_A ref A; };\n'
        'instance of Inc_Link { A = $a; };\n'
        'instance of Inc_A { K = "x"; Missing = 1; };\n')
    compiler = Compiler(namespace="root\\default")
    unit = compiler.compile_file(tmp_path / "top.mof")
    assert {i.namespace for i in unit.items} == {"root\\cimv2"}
    assert unit.classes[0].flags == WbemFlag.CREATE_ONLY
    report = await load(client, unit, keep_going=True)
    assert [(f.item.where.line, f.name) for f in report.failures] == [(6, "WBEM_E_NOT_FOUND")] or \
        [(f.item.where.line) for f in report.failures] == [6], [str(f) for f in report.failures]
    link = [to_dict(o) async for o in client.enum_instances("Inc_Link", namespace="root\\cimv2")]
    assert link and 'Inc_A.K="x"' in str(link[0]["A"])

    with pytest.raises(MofError) as e:
        Compiler().compile_text('class A { string x }\n;', "bad.mof")
    assert e.value.code == MofCode.EXPECTED_SEMI and str(e.value).startswith("bad.mof:1:")
    with pytest.raises(MofError) as e:
        Compiler().compile_file(tmp_path / "nope.mof")
    assert e.value.code == MofCode.INVALID_FILE
    (tmp_path / "inc_missing.mof").write_text('#pragma include ("absent.mof")\n')
    with pytest.raises(MofError) as e:
        Compiler().compile_file(tmp_path / "inc_missing.mof")
    assert e.value.code == MofCode.ERROR_INVALID_INCLUDE_FILE and "inc_missing.mof:1" in str(e.value)
    # A class name used as a type must exist: int32 is no CIM type (pywbem's parse_error02.mof).
    unit = Compiler(namespace="root\\cimv2").compile_text("class T_Bad { [key] string K; int32 weight; };", "t.mof")
    report = await load(client, unit)
    assert [f.name for f in report.failures] == ["WBEMMOF_E_UNRECOGNIZED_TYPE"]
    with pytest.raises(WbemError):
        await client.get_object("T_Bad", namespace="root\\cimv2")


def test_the_command_line_speaks_mofcomp(tmp_path: Path) -> None:
    """`wmiput mofcomp -check` compiles without a server; a syntax error exits 2 with file:line."""
    good = tmp_path / "good.mof"
    good.write_text("class Cli_A { [key] string K; };\n")
    bad = tmp_path / "bad.mof"
    bad.write_text("class Cli_B {\n  [key] string K\n};\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    ok = subprocess.run([sys.executable, "-m", "host.cli", "mofcomp", "-check", str(good)], capture_output=True,
                        text=True, timeout=60, env=env)
    assert ok.returncode == 0, ok.stderr
    assert "1 classes" in ok.stderr
    failed = subprocess.run([sys.executable, "-m", "host.cli", "mofcomp", "-check", str(bad)], capture_output=True,
                            text=True, timeout=60, env=env)
    assert failed.returncode == 2
    assert f"{bad}:3:1: error: WBEMMOF_E_EXPECTED_SEMI (0x80044002)" in failed.stderr, failed.stderr


async def test_keys_are_unique_within_a_keyed_hierarchy_not_across_the_dynasty(client: Any) -> None:
    """Under an abstract keyless root, each subclass that declares keys starts a keyed hierarchy of its
    own (as WMI's provider registrations do); below a keyed class the key stays unique."""
    text = """
    [Abstract] class KH_Root { string Note; };
    class KH_A : KH_Root { [key] string Id; };
    class KH_B : KH_Root { [key] string Id; };
    class KH_A1 : KH_A { };
    instance of KH_A { Id = "x"; Note = "a"; };
    instance of KH_B { Id = "x"; Note = "b"; };
    instance of KH_A1 { Id = "x"; };
    """
    unit = Compiler(namespace="root\\cimv2").compile_text(text, "kh.mof")
    report = await load(client, unit, keep_going=True)
    assert [(f.item.where.line, f.name) for f in report.failures] == [(8, "WBEM_E_ALREADY_EXISTS")]
    assert to_dict(await client.get_object('KH_A.Id="x"', namespace="root\\cimv2"))["Note"] == "a"
    assert to_dict(await client.get_object('KH_B.Id="x"', namespace="root\\cimv2"))["Note"] == "b"
    await client.delete_instance('KH_A.Id="x"', namespace="root\\cimv2")
    assert to_dict(await client.get_object('KH_B.Id="x"', namespace="root\\cimv2"))["Note"] == "b"
    with pytest.raises(WbemError) as e:
        await client.get_object('KH_A.Id="x"', namespace="root\\cimv2")
    assert e.value.name == "WBEM_E_NOT_FOUND"
