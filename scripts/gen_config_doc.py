"""Rewrite the settings table of docs/configuration.md from host.config.Settings."""

from __future__ import annotations

import sys
from dataclasses import MISSING, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from host.config import Settings, env_name  # noqa: E402


def main() -> None:
    doc = ROOT / "docs" / "configuration.md"
    text = doc.read_text()
    rows = [
        f"| `--{f.name.replace('_', '-')}` | `{env_name(f.name)}` | "
        f"{'`' + repr(f.default) + '`' if f.default is not MISSING else '(host name)'} | {f.metadata['help']} |"
        for f in fields(Settings)
    ]
    head = text[: text.index("| flag |")]
    tail = text[text.index("\nDurability") :]
    doc.write_text(head + "| flag | environment | default | meaning |\n|---|---|---|---|\n" + "\n".join(rows) + "\n" + tail)


if __name__ == "__main__":
    main()
