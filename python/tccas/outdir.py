"""Output folders that never mislead: checked before the work, locked while written, and
holding only the files of the last run.

The rule (docs/guide/outputs.md):

- a folder that holds the files of an earlier tccas run (a manifest ``.tccas-files``, or
  any of tccas's fixed output names, :data:`KNOWN_OUTPUTS`) is refused unless the caller
  asks to overwrite it;
- the folder is created and a file is written into it before any model work, so a path that
  cannot be created or written fails at once with one line naming it;
- while a command writes into a folder it holds the lock file ``.tccas-lock`` (created
  exclusively, holding host and process id), so a second command into the same folder is
  refused; a lock left by a process that no longer exists on this host is taken over;
- when the run has written its files, the manifest ``.tccas-files`` lists them (paths
  relative to the folder), and on overwrite the files of the earlier run that the new one
  did not write are removed: those listed in the earlier manifest and those matching
  :data:`KNOWN_OUTPUTS`. Other files (a user's notes, their own figures) are never touched.
"""
from __future__ import annotations

import errno
import logging
import os
import socket
import tempfile
import threading
from pathlib import Path
from typing import Iterable

from .errors import ConfigError

__all__ = ["KNOWN_OUTPUTS", "LOCK_NAME", "MANIFEST_NAME", "OutputDir", "config_inputs",
           "earlier_run_files", "note_interrupt", "clear_interrupt", "raise_if_interrupted"]

log = logging.getLogger("tccas")

MANIFEST_NAME = ".tccas-files"

# A Ctrl-C that lands while a C extension calls back into Python can be swallowed there
# (netCDF4 prints nothing and drops the KeyboardInterrupt raised inside its error check), and
# the command would then run to its end. The command line's SIGINT handler records it here
# as well, and writers call raise_if_interrupted() before moving files into place.
_INTERRUPT = threading.Event()


def note_interrupt() -> None:
    """Record a Ctrl-C (SIGINT), so that :func:`raise_if_interrupted` stops the work even if
    the KeyboardInterrupt raised for it was swallowed by an extension module."""
    _INTERRUPT.set()


def clear_interrupt() -> None:
    """Forget a recorded Ctrl-C (at the start of a command)."""
    _INTERRUPT.clear()


def raise_if_interrupted() -> None:
    """Raise KeyboardInterrupt if a Ctrl-C was recorded by :func:`note_interrupt`."""
    if _INTERRUPT.is_set():
        raise KeyboardInterrupt
LOCK_NAME = ".tccas-lock"

#: glob patterns (relative to an output folder) of the files tccas writes there:
#: ``tccas run`` (``daily.nc``, ``hourly.nc``, ``obs/*.nc``, ``summary.txt``), ``tccas plot``
#: (``daily.png``, ``obs.png``) and ``tccas assimilate`` (``prior/`` and ``posterior/`` as
#: run folders, ``assimilation.nc``, ``validation.*``, ``checkpoint.npz``,
#: ``figures/*.png``).
KNOWN_OUTPUTS: tuple[str, ...] = tuple(
    f"{sub}{name}" for sub in ("", "prior/", "posterior/")
    for name in ("daily.nc", "hourly.nc", "summary.txt", "obs/*.nc", "daily.png", "obs.png")
) + ("assimilation.nc", "validation.txt", "validation.csv", "validation_files.txt",
     "checkpoint.npz", "figures/*.png")


def earlier_run_files(folder: str | os.PathLike) -> list[Path]:
    """Files of an earlier tccas run in ``folder``: those its manifest lists that exist and
    those matching :data:`KNOWN_OUTPUTS` (sorted, no duplicates)."""
    folder = Path(folder)
    found: set[Path] = set()
    manifest = folder / MANIFEST_NAME
    if manifest.is_file():
        for line in manifest.read_text(errors="replace").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            p = (folder / line)
            # only files inside the folder: a hand-edited manifest cannot reach outside it
            try:
                p.resolve().relative_to(folder.resolve())
            except ValueError:
                continue
            if p.is_file():
                found.add(p)
    for pattern in KNOWN_OUTPUTS:
        found.update(p for p in folder.glob(pattern) if p.is_file())
    return sorted(found)


def config_inputs(cfg) -> list[Path]:
    """The input files a configuration (:class:`tccas.config.Config`) names: its own file,
    the static and forcing files (the domain and gridded forcing of a ``[region]``) and every
    observation file."""
    region = getattr(cfg, "region", None)
    paths = [p for p in (cfg.path, getattr(cfg.site, "static", None),
                         getattr(cfg.site, "forcing", None), getattr(region, "domain", None),
                         getattr(region, "forcing", None)) if p is not None]
    for v in (cfg.observations or {}).values():
        paths.extend(v if isinstance(v, tuple) else (v,))
    return [Path(p) for p in paths]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:       # exists, owned by another user
        return True
    return True


class OutputDir:
    """The output folder of one command, used as a context manager.

    ``with OutputDir(path, overwrite=..., command="tccas run") as od:`` checks the folder
    (creatable, writable, no earlier run unless ``overwrite``, not locked) and takes the
    lock; the caller writes its files and calls :meth:`commit` with their paths, which
    removes the earlier run's other files and writes the manifest. Leaving the block releases
    the lock; a folder this object created and that is still empty is removed again when the
    block fails.

    Parameters
    ----------
    path : the output folder.
    overwrite : replace an earlier run's files in the folder (else ConfigError).
    command : the command, for messages and the manifest header.
    resume : the folder is the command's own (``tccas assimilate --resume``): its earlier
        files are expected and kept until :meth:`commit`.
    inputs : the command's input files (configuration, static, forcing, observations): a
        folder that holds any of them is refused, so that a run never writes over or
        removes its own inputs (``-o`` naming the case folder by mistake).
    """

    def __init__(self, path: str | os.PathLike, overwrite: bool = False,
                 command: str = "tccas", resume: bool = False,
                 inputs: Iterable[str | os.PathLike] = ()) -> None:
        self.path = Path(path)
        self.inputs = [Path(p) for p in inputs]
        self.overwrite = bool(overwrite)
        self.command = command
        self.resume = bool(resume)
        self._created = False
        self._locked = False
        self._earlier: list[Path] = []

    # ---- checks before the work ---------------------------------------------------------
    def _fail(self, problem: str) -> ConfigError:
        return ConfigError(f"output folder {self.path}: {problem}")

    def _create(self) -> None:
        p = self.path
        if p.exists() and not p.is_dir():
            raise self._fail("exists and is not a folder")
        if not p.exists():
            try:
                p.mkdir(parents=True)
                self._created = True
            except FileExistsError:          # created concurrently: fine if a folder
                if not p.is_dir():
                    raise self._fail("exists and is not a folder") from None
            except OSError as exc:
                raise self._fail(f"cannot be created ({exc.strerror or exc})") from None
        try:
            fd, probe = tempfile.mkstemp(prefix=".tccas-probe.", dir=p)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise self._fail(f"is not writable ({exc.strerror or exc})") from None

    def _lock(self) -> None:
        lock = self.path / LOCK_NAME
        me = f"{socket.gethostname()} {os.getpid()}\n"
        for _ in range(2):
            try:
                fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    host, pid = lock.read_text().split()[:2]
                    pid = int(pid)
                except (OSError, ValueError):
                    host, pid = "?", -1
                if host == socket.gethostname() and pid > 0 and not _pid_alive(pid):
                    log.warning("%s: removing the lock of process %d, which has ended", lock, pid)
                    lock.unlink(missing_ok=True)
                    continue
                raise self._fail(f"another tccas command (process {pid} on {host}) is writing "
                                 f"into it; wait for it to finish or, if it is gone, delete "
                                 f"{lock}") from None
            except OSError as exc:
                raise self._fail(f"cannot write the lock file ({exc.strerror or exc})") from None
            with os.fdopen(fd, "w") as f:
                f.write(me)
            self._locked = True
            return
        raise self._fail(f"cannot take the lock {lock}")

    def __enter__(self) -> "OutputDir":
        self._create()
        self._lock()
        try:
            root = self.path.resolve()
            for p in self.inputs:
                try:
                    rel = p.resolve().relative_to(root)
                except ValueError:
                    continue
                raise self._fail(f"holds the input file {rel} of the configuration; write the "
                                 "outputs into another folder (e.g. a new subfolder)")
            self._earlier = earlier_run_files(self.path)
            if self._earlier and not (self.overwrite or self.resume):
                names = ", ".join(str(p.relative_to(self.path)) for p in self._earlier[:4])
                more = f" and {len(self._earlier) - 4} more" if len(self._earlier) > 4 else ""
                raise self._fail(f"holds an earlier run ({names}{more}); choose another "
                                 "folder or overwrite it (--overwrite, overwrite=True)")
        except BaseException:
            self._release(failed=True)
            raise
        return self

    # ---- after the work -----------------------------------------------------------------
    def commit(self, files: Iterable[str | os.PathLike]) -> Path:
        """Record ``files`` (paths inside the folder) as the run's files: remove the earlier
        run's files that are not among them (and tccas subfolders left empty), then write
        the manifest. Returns the manifest's path."""
        raise_if_interrupted()
        root = self.path.resolve()
        keep = set()
        for f in files:
            f = Path(f)
            keep.add((f if f.is_absolute() else Path.cwd() / f).resolve().relative_to(root))
        # the earlier run's files found at the start and any that appeared since (e.g. a
        # figure an earlier tccas plot drew while this run was going is not a new file)
        stale = [p for p in set(self._earlier) | set(earlier_run_files(self.path))
                 if p.resolve().relative_to(root) not in keep]
        for p in sorted(stale):
            p.unlink(missing_ok=True)
            log.info("removed %s of the earlier run", p)
        self._remove_empty_subfolders()
        lines = [f"# files written by {self.command} (tccas); tccas removes them when the "
                 "folder is overwritten"] + sorted(str(k) for k in keep)
        manifest = self.path / MANIFEST_NAME
        fd, tmp = tempfile.mkstemp(prefix=f"{MANIFEST_NAME}.", suffix=".part", dir=self.path)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, manifest)
        return manifest

    def _remove_empty_subfolders(self) -> None:
        for sub in ("prior/obs", "posterior/obs", "obs", "figures", "validation", "prior",
                    "posterior"):
            try:
                (self.path / sub).rmdir()           # only when empty
            except OSError:
                pass

    def _release(self, failed: bool) -> None:
        if self._locked:
            (self.path / LOCK_NAME).unlink(missing_ok=True)
            self._locked = False
        if failed and self._created:
            self._remove_empty_subfolders()
            try:
                self.path.rmdir()       # only when nothing was written
            except OSError as exc:
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
                    log.debug("could not remove %s: %s", self.path, exc)

    def __exit__(self, exc_type, exc, tb) -> None:
        self._release(failed=exc_type is not None)
