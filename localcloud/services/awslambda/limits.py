"""Lambda's memory limit (and, on request, its CPU share) for the local runtime's workers.

On Lambda a function gets the memorySize it declares; a function that goes over it is killed
and the invocation fails with `Runtime.OutOfMemory`. Here every worker process gets a limit of
its own, in one of three ways, the first that this machine allows:

- `cgroup`: a cgroup v1 memory group per worker, a child of this process's own group, with
  `memory.limit_in_bytes` = memorySize. The kernel kills the worker as Lambda's sandbox does
  (SIGKILL), and `memory.oom_control` says it was the memory limit. The worker is moved into
  its group by the shell that starts it, before Python imports anything, so everything it
  allocates counts (memory used before a move stays charged to the old group). Linux with the
  v1 memory controller writable (root, as on developers' machines and CI here).
- `watchdog`: where no cgroup can be made (cgroup v2 only, no root), a thread reads the
  worker's resident memory from /proc every 10 ms and kills it over the limit. It can overshoot
  by what a process allocates in 10 ms (measured: up to ~20 MiB) before it acts.
- `off`: no /proc (macOS, Windows): no limit is enforced, and the runtime says so once.

`LOCALCLOUD_MEMORY=cgroup|watchdog|off` chooses one. Differences from Lambda that remain: v1
charges the page cache of files a worker writes (its /tmp files) to its group, which Lambda
does not count; the kernel reclaims that cache before it kills anything, so it can slow a
worker near its limit but not kill it. Lambda's limit also covers its runtime client and
extensions; here it covers the worker process (the Python runtime, the handler and its
libraries), which is most of it.

CPU: Lambda gives a function a share of a vCPU proportional to its memory (one vCPU at
1,769 MB). By default the local workers are not slowed down: the cost model
(localcloud/tools/cost.py) predicts Lambda durations from the CPU time they use. With
`LOCALCLOUD_CPU=lambda` (cgroup mode only) each worker's group also gets a CFS quota of
memorySize / 1769 of a core per period, so it runs at Lambda's pace, at most one core (a
single-threaded worker cannot use more) - on a busy machine that quota is a ceiling, not a
guarantee.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import signal
import sys
import threading
from pathlib import Path

from localcloud.tools.cost import cpu_share

CGROUP_ROOT = Path("/sys/fs/cgroup")
CFS_PERIOD_US = 100_000
_WATCHDOG_INTERVAL = 0.01
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_warned: set[str] = set()


def chosen_mode() -> str:
    """`cgroup`, `watchdog` or `off`: LOCALCLOUD_MEMORY if set, else the best this machine has."""
    wanted = os.environ.get("LOCALCLOUD_MEMORY", "").lower()
    if wanted in ("cgroup", "watchdog", "off"):
        return wanted
    if (group := _own_group("memory")) is not None and _writable(group):
        return "cgroup"
    return "watchdog" if Path("/proc/self/statm").exists() else "off"


def lambda_cpu() -> bool:
    return os.environ.get("LOCALCLOUD_CPU", "").lower() == "lambda"


def _own_group(controller: str) -> Path | None:
    """This process's cgroup v1 folder for `controller`, if that hierarchy is mounted."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            folder = CGROUP_ROOT / controller / path.lstrip("/")
            return folder if folder.is_dir() else None
    return None


def _writable(folder: Path) -> bool:
    probe = folder / f"localcloud-probe-{os.getpid()}"
    try:
        probe.mkdir()
        (probe / "memory.limit_in_bytes").write_text(str(64 << 20))
        return True
    except OSError:
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.rmdir()


class Limit:
    """One worker's memory limit (a cgroup, a watchdog, or nothing)."""

    def __init__(self, memory_mb: int) -> None:
        self.memory_mb = memory_mb
        self.bytes = memory_mb << 20

    def command(self, command: list[str]) -> list[str]:
        """The command that starts the worker inside its limit."""
        return command

    def started(self, pid: int) -> None:
        """The worker is running as `pid`."""

    def killed_for_memory(self) -> bool:
        """After the worker died: whether the limit killed it."""
        return False

    def close(self) -> None:
        """After the worker has exited."""


class CgroupLimit(Limit):
    def __init__(self, memory_mb: int, memory_group: Path, cpu_group: Path | None) -> None:
        super().__init__(memory_mb)
        self.memory_group, self.cpu_group = memory_group, cpu_group
        memory_group.mkdir()
        (memory_group / "memory.limit_in_bytes").write_text(str(self.bytes))
        with contextlib.suppress(OSError):  # no swap here; where there is, none for the worker
            (memory_group / "memory.swappiness").write_text("0")
        if cpu_group is not None:
            cpu_group.mkdir()
            (cpu_group / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
            # Lambda's share of a vCPU for this memory size, as the cost model takes it.
            share = cpu_share(memory_mb)
            (cpu_group / "cpu.cfs_quota_us").write_text(str(max(1000, int(CFS_PERIOD_US * share))))

    def command(self, command: list[str]) -> list[str]:
        # The shell writes its own pid into the groups, then becomes the worker (exec keeps
        # the pid), so the interpreter starts inside them.
        groups = [str(self.memory_group / "cgroup.procs")]
        if self.cpu_group is not None:
            groups.append(str(self.cpu_group / "cgroup.procs"))
        script = 'for group in $LOCALCLOUD_GROUPS; do echo $$ > "$group" || exit 70; done; exec "$@"'
        return ["/usr/bin/env", f"LOCALCLOUD_GROUPS={' '.join(groups)}", "/bin/sh", "-c", script, "worker", *command]

    def killed_for_memory(self) -> bool:
        try:
            text = (self.memory_group / "memory.oom_control").read_text()
        except OSError:
            return False
        found = re.search(r"oom_kill (\d+)", text)
        if found:
            return int(found.group(1)) > 0
        # Kernels before 4.13 have no counter: the group reached its limit.
        used = int((self.memory_group / "memory.max_usage_in_bytes").read_text())
        return used >= self.bytes

    def close(self) -> None:
        for group in (self.memory_group, self.cpu_group):
            if group is not None:
                with contextlib.suppress(OSError):
                    group.rmdir()


class WatchdogLimit(Limit):
    def __init__(self, memory_mb: int) -> None:
        super().__init__(memory_mb)
        self._killed = False
        self._stop = threading.Event()

    def started(self, pid: int) -> None:
        threading.Thread(target=self._watch, args=(pid,), name=f"memory-watchdog-{pid}", daemon=True).start()

    def _watch(self, pid: int) -> None:
        statm = Path(f"/proc/{pid}/statm")
        while not self._stop.wait(_WATCHDOG_INTERVAL):
            try:
                resident = int(statm.read_text().split()[1]) * _PAGE
            except (OSError, IndexError, ValueError):
                return
            if resident > self.bytes:
                self._killed = True
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                return

    def killed_for_memory(self) -> bool:
        return self._killed

    def close(self) -> None:
        self._stop.set()


class Limits:
    """Makes each worker's limit; one per local Lambda runtime."""

    _ids = itertools.count(1)

    def __init__(self, mode: str | None = None) -> None:
        self.mode = mode or chosen_mode()
        self.memory_root: Path | None = None
        self.cpu_root: Path | None = None
        if self.mode == "cgroup":
            own = _own_group("memory")
            if own is None:
                raise RuntimeError("LOCALCLOUD_MEMORY=cgroup, but there is no cgroup v1 memory hierarchy here")
            self.memory_root = own / f"localcloud-{os.getpid()}-{next(self._ids)}"
            self.memory_root.mkdir(exist_ok=True)
            cpu = _own_group("cpu") if lambda_cpu() else None
            if cpu is not None:
                self.cpu_root = cpu / self.memory_root.name
                self.cpu_root.mkdir(exist_ok=True)
        elif self.mode == "off":
            _warn_once("off", "localcloud: memory sizes are not enforced on this machine (no /proc)")
        if lambda_cpu() and self.cpu_root is None:
            _warn_once("cpu", "localcloud: LOCALCLOUD_CPU=lambda needs the cgroup v1 cpu controller; ignored")

    def limit(self, function_name: str, memory_mb: int) -> Limit:
        if self.mode == "cgroup":
            assert self.memory_root is not None
            name = f"{function_name}-{next(self._ids)}"
            cpu_group = self.cpu_root / name if self.cpu_root else None
            return CgroupLimit(memory_mb, self.memory_root / name, cpu_group)
        if self.mode == "watchdog":
            return WatchdogLimit(memory_mb)
        return Limit(memory_mb)

    def close(self) -> None:
        for root in (self.memory_root, self.cpu_root):
            if root is None:
                continue
            for child in root.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                root.rmdir()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        print(message, file=sys.stderr)
