"""Regenerate the Python code for proto/ into wmiput/ (generated, committed, never edited).

    python scripts/gen_protos.py          # rewrite wmiput/v1/*_pb2*.py(i)
    python scripts/gen_protos.py --check  # fail if the committed code is stale

The proto package `wmiput.v1` equals the Python package, so protoc's imports work as is.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PACKAGE = "wmiput/v1"
HEADER = "# Generated from proto/ by scripts/gen_protos.py. Do not edit.\n"


def generate(out: Path) -> None:
    protos = sorted(str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PACKAGE).glob("*.proto"))
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for init in (out / "wmiput" / "__init__.py", out / PACKAGE / "__init__.py"):
        init.write_text(HEADER)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / PACKAGE
        target = ROOT / PACKAGE
        names = sorted(p.name for p in fresh.iterdir() if p.is_file())
        if args.check:
            stale = [n for n in names if not (target / n).exists() or not filecmp.cmp(fresh / n, target / n, shallow=False)]
            extra = sorted(p.name for p in target.glob("*_pb2*") if p.name not in names)
            if stale or extra:
                print(f"generated code is stale: {stale + extra}; run python scripts/gen_protos.py")
                return 1
            return 0
        target.mkdir(parents=True, exist_ok=True)
        for old in target.glob("*_pb2*"):
            old.unlink()
        for n in names:
            shutil.copyfile(fresh / n, target / n)
        shutil.copyfile(Path(tmp) / "wmiput" / "__init__.py", ROOT / "wmiput" / "__init__.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
