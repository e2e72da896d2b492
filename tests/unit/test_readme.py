"""The README is the manual: every `make` target and every `CDC_*` variable the code reads is in it."""
from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")
# What users run and configure: the job, the stack, the entry points, configs, compose, the benchmarks, CI.
READ_BY_USERS = ["cdc_pipeline", "stack", "jobs", "conf", "docker", "bench", "postgres-dw-init", "mysql-init", ".ci",
                 "docker-compose.yml", "Makefile"]
SUFFIXES = {".py", ".yaml", ".yml", ".json", ".properties", ".sql", ".sh", ""}
VARIABLE = re.compile(r"\bCDC_[A-Z0-9_]*[A-Z0-9]\b")  # a name ending in "_" is a prefix, not a variable


def _files():
    for name in READ_BY_USERS:
        path = REPO / name
        for file in ([path] if path.is_file() else sorted(path.rglob("*"))):
            if file.is_file() and (file.suffix in SUFFIXES or file.name == "run") and "__pycache__" not in file.parts:
                yield file


def test_every_cdc_variable_the_code_reads_is_documented():
    found = {}
    for file in _files():
        for name in VARIABLE.findall(file.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(name, file.relative_to(REPO))
    assert len(found) > 30, f"the scan found too few variables to be right: {sorted(found)}"
    missing = {name: str(where) for name, where in found.items() if not re.search(rf"\b{name}\b", README)}
    assert not missing, f"CDC_* variables read by the code but not in the README: {missing}"


def test_every_make_target_is_documented():
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = sorted(set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE)))
    assert "submit" in targets and "verify" in targets, targets
    missing = [t for t in targets if not re.search(rf"`(make )?{re.escape(t)}(\s[^`]*)?`", README)]
    assert not missing, f"make targets not in the README: {missing}"
