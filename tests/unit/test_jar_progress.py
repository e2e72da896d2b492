"""`make jars` says how far Maven's downloads are (stack.jars._follow_downloads), and keeps the output for errors."""
from __future__ import annotations

from stack.jars import _follow_downloads


def maven_output(jars: int) -> list[str]:
    lines = ["[INFO] Scanning for projects...\n"]
    for i in range(jars):
        lines.append(f"Downloading from central: https://repo.example/g/a{i}/1/a{i}-1.jar\n")
        lines.append(f"Downloaded from central: https://repo.example/g/a{i}/1/a{i}-1.jar (12 kB at 40 kB/s)\n")
        lines.append(f"Downloaded from central: https://repo.example/g/a{i}/1/a{i}-1.pom (2 kB at 9 kB/s)\n")
    return lines + ["[ERROR] something\n"]


def test_progress_counts_downloaded_jars_only(capsys):
    kept = _follow_downloads(iter(maven_output(60)), "spark", 60)
    out = capsys.readouterr().out.splitlines()  # not a terminal: a line every 25 jars, then the total
    assert out == ["  spark: downloaded 25 jars of ~60 in 0 s", "  spark: downloaded 50 jars of ~60 in 0 s",
                   "  spark: downloaded 60 jars in 0 s"]
    assert kept[-1] == "[ERROR] something" and len(kept) == 2 + 3 * 60


def test_nothing_downloaded_says_nothing(capsys):
    assert _follow_downloads(iter(["[INFO] BUILD SUCCESS\n"]), "kafka", 10) == ["[INFO] BUILD SUCCESS"]
    assert capsys.readouterr().out == ""
