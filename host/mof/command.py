"""`wmiput mofcomp`: compile MOF files and load them through the front door, like mofcomp.exe.

mofcomp's own switches are accepted as it spells them (-check, -N:ns, -class:safeupdate,
-instance:createonly, -autorecover), besides the usual --long options.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from host.mof.compiler import CLASS_FLAG_WORDS, INSTANCE_FLAG_WORDS, Compiler, Unit
from host.mof.errors import MofError
from host.mof.loader import LoadReport, load

DESCRIPTION = """\
Compile MOF files and put their classes and instances through the gRPC front door, in dependency
order (parents before children, providers before their registrations), many at a time.

  wmiput mofcomp schema/cim_schema_2.49.0.mof -n root\\cim249
  wmiput mofcomp -class:safeupdate MyProvider.mof       # mofcomp's own switches work too
  wmiput mofcomp -check MyProvider.mof                  # syntax only, no server

#pragma include, namespace, classflags, instanceflags, deleteclass and deleteinstance are
honoured; autorecover, locale and amendment are accepted and have no effect. Errors are printed as
FILE:LINE: error: HRESULT (0x...): message. Exit status: 0 loaded, 1 a put failed,
2 the MOF does not compile.
"""

_MOFCOMP_SWITCHES = {"-check": "--check", "-autorecover": "--autorecover", "-wmi": "--autorecover"}


def translate_mofcomp_argv(argv: list[str]) -> list[str]:
    """mofcomp's spelling (-class:createonly, -N:root\\x, -check) into ours."""
    out = []
    for arg in argv:
        low = arg.lower()
        if low in _MOFCOMP_SWITCHES:
            out.append(_MOFCOMP_SWITCHES[low])
        elif low.startswith("-class:"):
            out += ["--class", arg[7:]]
        elif low.startswith("-instance:"):
            out += ["--instance", arg[10:]]
        elif low.startswith("-n:"):
            out += ["--namespace", arg[3:]]
        elif low.startswith("-i:"):
            out += ["--include-dir", arg[3:]]
        else:
            out.append(arg)
    return out


def add_parser(sub: Any, target: Callable[[argparse.ArgumentParser], None]) -> None:
    m = sub.add_parser("mofcomp", help="compile MOF files and load them through the front door (like mofcomp)",
                       description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("files", nargs="+", metavar="FILE.mof")
    m.add_argument("--check", action="store_true", help="check the syntax only; talk to no server")
    m.add_argument("--class", dest="class_mode", choices=sorted(CLASS_FLAG_WORDS), default=None,
                   help="class puts: createonly (WBEM_FLAG_CREATE_ONLY), updateonly (UPDATE_ONLY), safeupdate "
                   "(UPDATE_SAFE_MODE), forceupdate (UPDATE_FORCE_MODE); default create or update")
    m.add_argument("--instance", dest="instance_mode", choices=sorted(INSTANCE_FLAG_WORDS), default=None,
                   help="instance puts: createonly or updateonly; default create or update")
    m.add_argument("-I", "--include-dir", action="append", default=[], metavar="DIR",
                   help="where #pragma include looks after the including file's folder (repeatable)")
    m.add_argument("--skip-missing-includes", action="store_true",
                   help="an include that is not found is noted and skipped (e.g. a schema the server already has)")
    m.add_argument("--keep-going", action="store_true",
                   help="after a failure, load everything that does not depend on it (default: stop, as mofcomp)")
    m.add_argument("--concurrency", type=int, default=16, metavar="N",
                   help="puts in flight at once (default 16); 1 loads strictly in file order")
    m.add_argument("--progress", choices=["auto", "always", "never"], default="auto",
                   help="progress bar on stderr (auto: when stderr is a terminal)")
    m.add_argument("--strict-abstract", action="store_true",
                   help="refuse an Abstract class under a concrete parent, as WMI does (default: put it as "
                   "concrete and say so; DSP0004 allows it and the CIM schema has one)")
    m.add_argument("--report", metavar="FILE", help="write a JSON report (counts, failures, seconds) to FILE")
    m.add_argument("--autorecover", action="store_true", help=argparse.SUPPRESS)
    target(m)


def compile_files(a: argparse.Namespace) -> Unit:
    class_flags = int(CLASS_FLAG_WORDS[a.class_mode]) if a.class_mode else 0
    instance_flags = int(INSTANCE_FLAG_WORDS[a.instance_mode]) if a.instance_mode else 0
    compiler = Compiler(namespace=a.namespace, search_paths=a.include_dir, class_flags=class_flags,
                        instance_flags=instance_flags, skip_missing_includes=a.skip_missing_includes)
    for f in a.files:
        compiler.compile_file(f)
    return compiler.unit


def _report_json(unit: Unit, report: LoadReport | None, compile_s: float) -> dict[str, Any]:
    out: dict[str, Any] = {"files": len(unit.files), "classes": len(unit.classes), "instances": len(unit.instances),
                           "compile_seconds": round(compile_s, 3)}
    if report is not None:
        out.update(classes_put=report.classes, instances_put=report.instances, deleted=report.deleted,
                   not_attempted=report.not_attempted, load_seconds=round(report.seconds, 3), notes=report.notes,
                   failures=[{"file": f.item.where.file, "line": f.item.where.line, "hresult": f.name,
                              "code": f"0x{f.code:08X}", "message": f.message, "kind": f.item.kind,
                              "name": f.item.name, "namespace": f.item.namespace} for f in report.failures])
    return out


async def run(a: argparse.Namespace, connect: Callable[[], Awaitable[Any]]) -> int:
    err = sys.stderr
    started = time.monotonic()
    try:
        unit = compile_files(a)
    except MofError as e:
        print(str(e).replace(": WBEMMOF", ": error: WBEMMOF", 1), file=err)
        return 2
    compile_s = time.monotonic() - started
    for note in unit.notes:
        print(f"{note}", file=err)
    print(f"compiled {len(unit.files)} file(s): {len(unit.classes)} classes, {len(unit.instances)} instances "
          f"({compile_s:.1f} s)", file=err)
    if a.check:
        if a.report:
            _write(a.report, _report_json(unit, None, compile_s))
        return 0
    show = a.progress == "always" or (a.progress == "auto" and err.isatty())
    bar = _progress_bar(len(unit.items)) if show else None
    async with await connect() as client:
        try:
            report = await load(client, unit, concurrency=a.concurrency, keep_going=a.keep_going,
                                demote_abstract=not a.strict_abstract,
                                on_progress=(lambda item, outcome: bar.update(1)) if bar else None)
        except MofError as e:
            print(str(e).replace(": WBEMMOF", ": error: WBEMMOF", 1), file=err)
            return 2
        finally:
            if bar is not None:
                bar.close()
    for note in report.notes:
        print(f"{note}", file=err)
    for f in report.failures:
        print(str(f), file=err)
    print(f"loaded {report.classes} classes and {report.instances} instances in {report.seconds:.1f} s"
          + (f"; {len(report.failures)} failed, {report.not_attempted} not attempted" if not report.ok else ""),
          file=err)
    if a.report:
        _write(a.report, _report_json(unit, report, compile_s))
    return 0 if report.ok else 1


def _write(path: str, data: dict[str, Any]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="put", desc="mofcomp", file=sys.stderr, dynamic_ncols=True)


__all__ = ["add_parser", "run", "translate_mofcomp_argv"]
