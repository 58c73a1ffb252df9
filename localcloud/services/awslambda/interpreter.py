"""The Lambda runtime's own Python for the local workers: CPython 3.13 from Debian packages.

Lambda's `python3.13` runtime is CPython 3.13 on Amazon Linux 2023. This machine has no
container engine to run Lambda's image, but Debian 13 ("trixie") ships CPython 3.13, for
x86_64 and arm64. The first time a worker needs it, the interpreter and the ~20 libraries it
links are fetched as trixie packages with `apt-get download` (an apt state of our own: the
machine's apt configuration, lists and installed packages stay untouched), unpacked with
`dpkg-deb -x` into the cache, and run through the unpacked dynamic loader (trixie's glibc is
newer than this machine's, so the host's loader cannot run it). arm64 runs the same way under
`qemu-aarch64-static` (Debian's qemu-user-static): the parity check (tests/test_parity.py).

Like Lambda's image, the runtime brings boto3 (`var/runtime`, last on a function's path); a
function gets everything else from its package and its layers (localcloud/services/awslambda/runtime.py).

The mirror is the Debian archive this machine's own apt configuration names: nothing here
knows a registry's host. The cache is `~/.cache/image-converter/runtime/` (XDG_CACHE_HOME):
per user and machine, shared by every clone and worktree, kept by `make clean`; it is built
once (~15 MB of packages per architecture, ~20 s) under a lock, so parallel test runs wait
for one fetch instead of racing.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RUNTIME = "python3.13"  # the Lambda runtime this interpreter is (serverless.yml: provider.runtime)
VERSION = "3.13"
SUITE = "trixie"  # the Debian release that ships CPython 3.13
# The interpreter, its standard library and the shared libraries they link (measured enough
# for ssl, sqlite3, json, zlib, hashlib, ctypes, subprocess; Pillow and pillow-heif's wheels
# bring their own libraries).
PACKAGES = (
    *("python3.13-minimal", "libpython3.13-minimal", "libpython3.13-stdlib", "libc6", "libssl3t64", "libffi8"),
    *("zlib1g", "libexpat1", "libbz2-1.0", "liblzma5", "libzstd1", "libsqlite3-0", "libmpdec4", "libuuid1"),
    *("libncursesw6", "libtinfo6", "libreadline8t64", "libgcc-s1", "libstdc++6", "libcrypt1"),
)
# Debian's architecture names, and the loader and library folder of each.
ARCHITECTURES = {
    "x86_64": ("amd64", "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", "x86_64-linux-gnu"),
    "arm64": ("arm64", "lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu"),
}
QEMU = "qemu-aarch64-static"


class RuntimeUnavailable(RuntimeError):
    """The runtime's interpreter cannot be fetched or run here (one line says why)."""


def machine_architecture() -> str:
    """This machine's CPU as Lambda names it (x86_64 or arm64)."""
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "image-converter" / "runtime"


@dataclass(frozen=True)
class Interpreter:
    """One unpacked interpreter: `command` starts it (natively or under emulation)."""

    root: Path
    architecture: str

    @property
    def python(self) -> Path:
        return self.root / "usr" / "bin" / f"python{VERSION}"

    @property
    def runtime_dir(self) -> Path:
        """What Lambda's image adds to the path after the function's own code: boto3."""
        return self.root / "var" / "runtime"

    @property
    def command(self) -> list[str]:
        _, loader, triplet = ARCHITECTURES[self.architecture]
        if self.architecture == machine_architecture():
            library_path = f"{self.root}/usr/lib/{triplet}:{self.root}/usr/lib"
            return [str(self.root / "usr" / loader), "--library-path", library_path, str(self.python)]
        qemu = shutil.which(QEMU)
        if qemu is None:
            raise RuntimeUnavailable(f"{QEMU} is not installed (Debian: apt-get install qemu-user-static)")
        return [qemu, "-L", str(self.root), str(self.python)]


def interpreter(architecture: str | None = None) -> Interpreter:
    """The runtime's interpreter for `architecture` (this machine's by default), fetched and
    unpacked the first time."""
    architecture = architecture or machine_architecture()
    root = cache_root() / f"{RUNTIME}-{architecture}"
    found = Interpreter(root, architecture)
    if (root / ".complete").exists():
        return found
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be fetching it: wait for that one
        if not (root / ".complete").exists():
            _build(found)
    return found


def _build(target: Interpreter) -> None:
    arch, _, _ = ARCHITECTURES[target.architecture]
    staging = target.root.with_name(target.root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    debs = _download(arch)
    for deb in debs:
        _run(["dpkg-deb", "-x", str(deb), str(staging)], f"cannot unpack {deb.name}")
    # trixie is merged-/usr: base-files would make these links.
    for link in ("lib", "bin", "sbin") + (("lib64",) if arch == "amd64" else ()):
        if not (staging / link).exists():
            (staging / link).symlink_to(f"usr/{link}")
    unpacked = Interpreter(staging, target.architecture)
    _install_boto3(unpacked)
    # Byte-compile once: otherwise every start recompiles what it imports (this machine sets
    # PYTHONDONTWRITEBYTECODE). Bytecode does not depend on the CPU, so the native interpreter
    # compiles the emulated one's library too. One process (no -j): a child process would start
    # sys.executable without the unpacked loader, which this machine's glibc cannot run.
    native = unpacked if target.architecture == machine_architecture() else interpreter()
    for folder in (staging / "usr" / "lib" / f"python{VERSION}", unpacked.runtime_dir):
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C.UTF-8"}
        compile_all = [*native.command, "-I", "-m", "compileall", "-q", "-x", "test/", str(folder)]
        subprocess.run(compile_all, env=env, capture_output=True, check=False)
    (staging / ".complete").write_text(f"{RUNTIME} {target.architecture}\n")
    shutil.rmtree(target.root, ignore_errors=True)
    staging.rename(target.root)


def _download(arch: str) -> list[Path]:
    """`apt-get download` of PACKAGES for `arch`, with an apt state of our own."""
    mirror, keyring = debian_mirror()
    state = cache_root() / "apt"
    lists, archives = state / "lists", state / "cache"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    (archives / "archives" / "partial").mkdir(parents=True, exist_ok=True)
    sources = state / "sources.list"
    sources.write_text(f"deb [arch=amd64,arm64 signed-by={keyring}] {mirror} {SUITE} main\n")
    options = [
        f"-oDir::Etc::SourceList={sources}",
        "-oDir::Etc::SourceParts=/dev/null",
        f"-oDir::State::Lists={lists}",
        f"-oDir::Cache={archives}",
        "-oDir::State::status=/dev/null",  # nothing is installed in our state: download all
        "-oAPT::Architectures::=amd64",
        "-oAPT::Architectures::=arm64",
        "-oDebug::NoLocking=1",
        "-qq",
    ]
    update = ["apt-get", *options, "update"]
    if not any(lists.glob(f"*_dists_{SUITE}_*Packages*")):
        _run(update, f"cannot read the Debian {SUITE} package lists from {mirror}")
    folder = state / "debs" / arch
    folder.mkdir(parents=True, exist_ok=True)
    download = ["apt-get", *options, "download", *(f"{name}:{arch}" for name in PACKAGES)]
    if len(list(folder.glob("*.deb"))) < len(PACKAGES):
        try:
            _run(download, f"cannot download {RUNTIME} ({arch}) from {mirror}", folder)
        except RuntimeUnavailable:  # lists older than the archive's point release: read them again
            _run(update, f"cannot read the Debian {SUITE} package lists from {mirror}")
            _run(download, f"cannot download {RUNTIME} ({arch}) from {mirror}", folder)
    return sorted(folder.glob("*.deb"))


def debian_mirror(apt: Path = Path("/etc/apt")) -> tuple[str, str]:
    """The Debian archive (URI and keyring) this machine's apt configuration uses: its first
    `deb` source for a release's main suite (not -security or -updates)."""
    entries: list[tuple[str, list[str], str]] = []
    for file in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", file.read_text()):
            fields = dict(
                (key.strip().lower(), value.strip())
                for key, _, value in (line.partition(":") for line in stanza.splitlines())
                if value and not key.startswith("#")
            )
            if "deb" in fields.get("types", "").split() and fields.get("uris"):
                keyring = fields.get("signed-by", "")
                entries += [(uri, fields.get("suites", "").split(), keyring) for uri in fields["uris"].split()]
    for file in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        with contextlib.suppress(OSError):
            for line in file.read_text().splitlines():
                found = re.match(r"\s*deb\s+(?:\[(?P<options>[^\]]*)\]\s+)?(?P<uri>\S+)\s+(?P<suite>\S+)", line)
                if found:
                    keyring = re.search(r"signed-by=(\S+)", found["options"] or "")
                    entries.append((found["uri"], [found["suite"]], keyring[1] if keyring else ""))
    for uri, suites, keyring in entries:
        if any("-" not in suite and "/" not in suite for suite in suites) and "security" not in uri:
            default = "/usr/share/keyrings/debian-archive-keyring.gpg"
            return uri, keyring if keyring.startswith("/") else default
    raise RuntimeUnavailable("cannot fetch Python 3.13: this machine's apt configuration names no Debian archive")


def _install_boto3(target: Interpreter) -> None:
    """boto3 as Lambda's image brings it (the venv's pinned version: requirements-dev.txt)."""
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in ("boto3", "botocore")]
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--disable-pip-version-check",
        "--target", str(target.runtime_dir), "--python-version", VERSION, "--only-binary=:all:",
        *pins,
    ]  # fmt: skip
    _run(command, f"cannot install {' '.join(pins)} for the runtime")


def _run(command: list[str], failure: str, cwd: Path | None = None) -> None:
    try:
        result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    except FileNotFoundError as error:
        raise RuntimeUnavailable(f"{failure}: {error.filename} is not installed") from None
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise RuntimeUnavailable(f"{failure}: {last}")


def describe(architecture: str | None = None) -> str:
    """Which interpreter the workers of `architecture` run on, and where (fetched the first time):
    `python -m localcloud runtime [arm64]`."""
    found = interpreter(architecture)
    version = subprocess.run([*found.command, "-I", "-c", "import sys; print(sys.version)"],
                             capture_output=True, text=True, check=True).stdout.split()[0]  # fmt: skip
    return f"{RUNTIME} ({found.architecture}): CPython {version} in {found.root}"
