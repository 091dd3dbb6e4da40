"""The sandbox ``medkit grade`` runs each submission's kernel in: bubblewrap (``bwrap``) plus resource limits.

The kernel of a submission is started as::

    bwrap --unshare-all --die-with-parent --clearenv --setenv ... \\
          --dev /dev --proc /proc --tmpfs /tmp \\
          --ro-bind /usr /usr ... (system and Python directories, read-only) \\
          --ro-bind <venv> <venv> --ro-bind <medkit package> <medkit package> \\
          --bind <work root> <work root> --chdir <work dir> \\
      -- prlimit --as=<memory> --nproc=<processes> --fsize=<file size> --core=0 \\
      -- <kernel python> -m ipykernel_launcher -f <work root>/.kernel/kernel.json

so it sees a read-only Python environment, its own fresh work directory (the
data files the chapter's parameters name, nothing else), an empty ``/tmp``, no
network (a new network namespace; the kernel talks to the grader over Unix
sockets in its work root), no other process (a new PID namespace: everything it
starts dies with it), and none of the instructor notebooks, the other
submissions, the grades file or the grading user's home. What is bound is an
allow-list (:meth:`Sandbox.binds`): the system directories, the kernel's Python
installation and the packages on its ``sys.path``; a path on ``sys.path`` that
is not part of a Python installation (a checkout on ``PYTHONPATH``, an editable
install) contributes only its importable packages and modules, so a checkout's
``notebooks/`` never shows.

The limits come from ``prlimit`` (util-linux) and apply with or without the
sandbox: address space (``--memory-limit``), processes, file size and no core
files. ``RLIMIT_NPROC`` counts every process of the grading user and the kernel
ignores it for root; the PID namespace still ends every process a submission
starts when its kernel stops.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager

DEFAULT_MEMORY = 8 * 2**30  # address space of one kernel (TensorFlow alone maps about 2 GiB)
DEFAULT_PROCESSES = 512
DEFAULT_FILE_SIZE = 2 * 2**30
SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf",
             "hosts", "alternatives", "mime.types")
PASSED_ENV = ("PYTHONPATH", "LANG", "LC_ALL", "TF_CPP_MIN_LOG_LEVEL", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
              "MKL_NUM_THREADS", "PYTHONHASHSEED", "MPLBACKEND", "CUDA_VISIBLE_DEVICES", "KERAS_BACKEND")
INSTALL_HINT = ("install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: `sudo dnf install "
                "bubblewrap`), or grade in a container (book/instructors.md), or accept the risk with --no-sandbox")


class SandboxUnavailable(RuntimeError):
    """``bwrap`` is missing or not permitted here; the message says why and what to do."""


def parse_size(text: str) -> int:
    """``"8G"``, ``"512M"``, ``"2048K"`` or a number of bytes -> bytes.

    Examples
    --------
    >>> parse_size("8G"), parse_size("512m"), parse_size("1000")
    (8589934592, 536870912, 1000)
    """
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    raw = str(text).strip().upper().removesuffix("B").removesuffix("I")
    try:
        if raw and raw[-1] in units:
            value = float(raw[:-1]) * units[raw[-1]]
        else:
            value = float(raw)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (write e.g. 8G, 512M or a number of bytes)") from None
    if not value > 0:
        raise ValueError(f"a size must be positive, got {text!r}")
    return int(value)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one kernel (bytes of address space, processes, bytes per file)."""

    memory: int = DEFAULT_MEMORY
    processes: int = DEFAULT_PROCESSES
    file_size: int = DEFAULT_FILE_SIZE

    def prefix(self) -> list[str]:
        """``prlimit ... --`` before the kernel command, or ``[]`` where prlimit is missing.

        Examples
        --------
        >>> Limits(memory=2**30, processes=64, file_size=2**20).prefix()[1:]
        ['--as=1073741824', '--nproc=64', '--fsize=1048576', '--core=0', '--']
        """
        tool = shutil.which("prlimit") or ("/usr/bin/prlimit" if Path("/usr/bin/prlimit").exists() else None)
        if tool is None:
            return []
        return [tool, f"--as={self.memory}", f"--nproc={self.processes}", f"--fsize={self.file_size}", "--core=0",
                "--"]


@dataclass
class KernelPython:
    """What the kernel's Python needs to see: its installation, ``sys.path`` and the medkit package."""

    executable: str
    prefixes: list[str]
    path: list[str]
    packages: list[str]
    mpl_cache: str = ""

    @classmethod
    def inspect(cls, executable: str, env: dict[str, str] | None = None) -> "KernelPython":
        """Ask ``executable`` (the kernel spec's Python) where its files are (one short subprocess)."""
        code = ("import json, os, sys, importlib.util as u\n"
                "pk = []\n"
                "for name in ('medkit', 'ipykernel', 'IPython'):\n"
                "    s = u.find_spec(name)\n"
                "    pk += list(s.submodule_search_locations or []) if s else []\n"
                "c = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')\n"
                "mpl = os.environ.get('MPLCONFIGDIR') or os.path.join(c, 'matplotlib')\n"
                "print(json.dumps({'prefixes': sorted({sys.prefix, sys.base_prefix, sys.exec_prefix,"
                " sys.base_exec_prefix}), 'path': sys.path, 'packages': pk, 'mpl': mpl,"
                " 'exe': sys.executable}))")
        try:
            proc = subprocess.run([executable, "-c", code], capture_output=True, text=True, timeout=60,
                                  env=env, cwd="/")
            info = json.loads(proc.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired, ValueError, IndexError) as exc:
            raise SandboxUnavailable(f"cannot inspect the kernel's Python {executable} ({exc})") from None
        return cls(info["exe"], info["prefixes"], [p for p in info["path"] if p], info["packages"], info["mpl"])


@dataclass
class Sandbox:
    """A bubblewrap command line for grading kernels, checked to work once per run (:meth:`detect`)."""

    bwrap: str
    python: KernelPython
    protected: list[Path] = field(default_factory=list)

    @classmethod
    def detect(cls, kernel_argv: list[str], protected: list[Path]) -> "Sandbox":
        """A working sandbox for the kernel started by ``kernel_argv``, or :class:`SandboxUnavailable`.

        ``protected`` are paths no submission may see (the instructor notebooks, the
        submissions, the grades file and feedback directory); the sandbox refuses to
        start when one of its binds would show one of them.
        """
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            raise SandboxUnavailable(f"bwrap (bubblewrap) is not installed: {INSTALL_HINT}")
        python = KernelPython.inspect(kernel_argv[0])
        box = cls(bwrap, python, [Path(p).resolve() for p in protected])
        box.check_binds()
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="medkit-sandbox-check-"))
        try:
            cmd = box.command(root, root, [python.executable, "-c", "import sys; print('ok', sys.prefix)"])
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SandboxUnavailable(f"bwrap could not be run ({exc}): {INSTALL_HINT}") from None
        finally:
            shutil.rmtree(root, ignore_errors=True)
        if proc.returncode != 0 or not proc.stdout.startswith("ok"):
            why = " ".join((proc.stderr or proc.stdout).split())[:300]
            raise SandboxUnavailable(f"bwrap is installed but not permitted here ({why}); user namespaces may be "
                                     f"disabled (sysctl kernel.unprivileged_userns_clone=1) or blocked by the "
                                     f"container: {INSTALL_HINT}")
        return box

    # ------------------------------------------------------------ what the kernel sees
    def binds(self) -> list[tuple[str, str]]:
        """``(kind, path)`` read-only binds: ``("bind", p)`` or ``("symlink", p)``; an allow-list."""
        out: list[tuple[str, str]] = []
        seen: set[str] = set()

        def add(path: str) -> None:
            p = os.path.abspath(path)
            if p in seen or not os.path.lexists(p):
                return
            if any(k == "bind" and _inside(p, q) for k, q in out):
                return  # already inside a bound directory
            seen.add(p)
            out.append(("symlink" if os.path.islink(p) and os.path.dirname(p) == "/" else "bind", p))

        for d in SYSTEM_DIRS:
            add(d)
        for name in ETC_FILES:
            add(f"/etc/{name}")
        installs = list(dict.fromkeys(list(self.python.prefixes) + [os.path.realpath(p) for p in self.python.prefixes]))
        for p in installs:
            add(p)
        for p in self.python.path + self.python.packages:
            if p == "/" or not os.path.exists(p):
                continue
            if any(_inside(p, i) for i in installs) or p in self.python.packages or not os.path.isdir(p):
                add(p)  # part of a Python installation, a package the kernel imports, or a zip file
            else:
                for child in _importable_children(p):  # a checkout or PYTHONPATH dir: its packages only
                    add(child)
        # a path reached through a symlink (a venv linked into a checkout) needs its target too
        for _, p in list(out):
            real = os.path.realpath(p)
            if real != p:
                add(real)
        return out

    def check_binds(self) -> None:
        """Refuse a sandbox whose binds would show a protected path (raises SandboxUnavailable)."""
        for kind, p in self.binds():
            if kind != "bind":
                continue
            real = Path(os.path.realpath(p))
            for prot in self.protected:
                if prot == real or real in prot.parents:
                    raise SandboxUnavailable(f"the sandbox would have to show {real}, which holds {prot} (the "
                                             f"instructor notebooks, a submission or the grades): keep those "
                                             f"outside the Python installation and the medkit package")

    def command(self, root: Path, workdir: Path, argv: list[str], *, limits: Limits | None = None) -> list[str]:
        """The full command: bwrap with its binds, then ``limits``' prlimit, then ``argv``.

        ``root`` (a fresh directory holding ``workdir``) is the only writable path
        besides an empty ``/tmp``.
        """
        cmd = [self.bwrap, "--unshare-all", "--die-with-parent", "--clearenv"]
        env = {"PATH": f"{os.path.dirname(self.python.executable)}:/usr/local/bin:/usr/bin:/bin",
               "HOME": "/tmp", "TMPDIR": "/tmp", "MPLCONFIGDIR": str(root / ".mpl"), "LANG": "C.UTF-8",
               "PYTHONDONTWRITEBYTECODE": "1"}
        env.update({k: os.environ[k] for k in PASSED_ENV if k in os.environ})
        for key, value in env.items():
            cmd += ["--setenv", key, value]
        # The empty /tmp first: a checkout or virtual environment that lives under /tmp is then bound on
        # top of it instead of being hidden by it.
        cmd += ["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
        for kind, p in self.binds():
            if kind == "symlink":
                cmd += ["--symlink", os.readlink(p), p]
            else:
                cmd += ["--ro-bind", p, p]
        cmd += ["--bind", str(root), str(root), "--chdir", str(workdir), "--"]
        return cmd + (limits.prefix() if limits else []) + list(argv)

    name = "bwrap"  # what grades.csv's sandbox column says

    def describe(self) -> str:
        return f"bwrap ({self.bwrap})"


def _inside(path: str, parent: str) -> bool:
    path, parent = os.path.abspath(path), os.path.abspath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _importable_children(directory: str) -> list[str]:
    """The packages (directories with ``__init__.py``) and modules (``.py``, ``.so``) directly in ``directory``."""
    found = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return found
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and os.path.exists(os.path.join(entry.path, "__init__.py")):
            found.append(entry.path)
        elif entry.is_file() and entry.name.endswith((".py", ".so")) and entry.name != "setup.py":
            found.append(entry.path)
    return found


class WrappedKernelManager(AsyncKernelManager):
    """A kernel manager that starts the kernel under a command prefix (the sandbox and/or prlimit).

    With ``ipc_dir`` set, the kernel listens on Unix sockets there instead of TCP ports, which
    is how a kernel without a network (its own network namespace) still talks to the grader,
    and it is interrupted by a message on its control channel: a SIGINT sent to the process
    group would reach bwrap, which would end, taking the kernel with it.
    """

    def __init__(self, *args, prefix: list[str] | None = None, ipc_dir: Path | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.command_prefix = list(prefix or [])
        self.interrupt_by_message = ipc_dir is not None
        if ipc_dir is not None:
            ipc_dir.mkdir(parents=True, exist_ok=True)
            self.transport = "ipc"
            self.ip = str(ipc_dir / "k")
            self.connection_file = str(ipc_dir / "kernel.json")

    @property
    def kernel_spec(self):  # noqa: ANN201 - jupyter_client's KernelSpec
        spec = super().kernel_spec
        if spec is not None and self.interrupt_by_message:
            spec.interrupt_mode = "message"
        return spec

    def format_kernel_cmd(self, extra_arguments: list[str] | None = None) -> list[str]:
        return self.command_prefix + super().format_kernel_cmd(extra_arguments)


def main_check() -> int:  # pragma: no cover - a manual diagnosis: python -m medkit.classroom.sandbox
    """Print whether the sandbox works for the ``medkit`` kernel, and its binds."""
    from jupyter_client.kernelspec import KernelSpecManager

    from medkit import KERNEL_NAME

    argv = KernelSpecManager().get_kernel_spec(KERNEL_NAME).argv
    try:
        box = Sandbox.detect(argv, [])
    except SandboxUnavailable as exc:
        print(f"no sandbox: {exc}")
        return 1
    print(box.describe())
    for kind, p in box.binds():
        print(f"  {kind:7} {p}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main_check())
