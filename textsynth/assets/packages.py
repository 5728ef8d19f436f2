"""Download packages by name and read files out of them.

Two registries are used, both reachable from locked-down build machines:
Debian (``apt-get download`` with a private package list, so the system's apt state is never
touched) and PyPI (``pip download --no-deps``). Archives are read in Python, so only the
members we need are ever written out.
"""

from __future__ import annotations

import fnmatch
import io
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path


class FetchError(RuntimeError):
    """A package could not be downloaded or read; the message names it and says why."""


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=1800)
    except FileNotFoundError as e:
        raise FetchError(f"{what}: `{cmd[0]}` is not installed ({e})") from e
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-6:]
        raise FetchError(
            f"{what} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail) +
            "\nIs the package registry reachable from this machine? You can also point the "
            "config at your own folders instead (see docs/guides/quickstart.md, 'Assets')."
        )


def _apt_options(apt_dir: Path) -> list[str]:
    # A private list/cache dir: works without touching /var/lib/apt and without a prior
    # system-wide `apt-get update`.
    return [
        f"-oDir::State::Lists={apt_dir / 'lists'}",
        f"-oDir::Cache={apt_dir / 'cache'}",
        "-oAPT::Sandbox::User=root",
        "-qq",
    ]


def download_deb(package: str, downloads: Path) -> Path:
    """Return the path of ``package``'s .deb in ``downloads``, downloading it if needed."""
    dest = downloads / "debian"
    found = sorted(dest.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    dest.mkdir(parents=True, exist_ok=True)
    apt_dir = downloads / "apt"
    opts = _apt_options(apt_dir)
    if not (apt_dir / "lists" / "lock").exists() and not any((apt_dir / "lists").glob("*Packages*")):
        (apt_dir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
        (apt_dir / "cache" / "archives" / "partial").mkdir(parents=True, exist_ok=True)
        _run(["apt-get", *opts, "update"], "apt-get update (Debian package lists)")
    _run(["apt-get", *opts, "download", package], f"apt-get download {package}", cwd=dest)
    found = sorted(dest.glob(f"{package}_*.deb"))
    if not found:
        raise FetchError(f"apt-get download {package} reported success but wrote no .deb")
    return found[-1]


def download_wheel(spec: str, downloads: Path) -> Path:
    """Return the wheel for a pinned ``name==version`` spec, downloading it if needed."""
    name, _, version = spec.partition("==")
    if not version:
        raise FetchError(f"PyPI source {spec!r} must be pinned as name==version")
    dest = downloads / "pypi"
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    if found:
        return found[-1]
    dest.mkdir(parents=True, exist_ok=True)
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
          "--dest", str(dest), spec], f"pip download {spec}")
    found = sorted(p for p in dest.glob("*.whl") if p.name.lower().startswith(stem.lower()))
    if not found:
        raise FetchError(f"pip download {spec} wrote no wheel into {dest}")
    return found[-1]


def _deb_data_tar(deb: Path) -> tarfile.TarFile:
    """Open the data.tar.* member of a .deb (an `ar` archive), without dpkg unless it is
    zstd-compressed and the zstandard package is missing."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise FetchError(f"{deb} is not a Debian package (bad ar magic)")
    pos = 8
    while pos + 60 <= len(raw):
        header = raw[pos:pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        body = raw[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            if name.endswith(".zst"):   # tarfile reads zstd only from Python 3.14
                return tarfile.open(fileobj=io.BytesIO(_unzstd(deb, body)), mode="r:")
            return tarfile.open(fileobj=io.BytesIO(body), mode="r:*")
        pos += 60 + size + (size & 1)
    raise FetchError(f"{deb} has no data.tar member")


def _unzstd(deb: Path, data_tar_zst: bytes) -> bytes:
    """The uncompressed data.tar of a .deb: with the zstandard package, else dpkg-deb."""
    try:
        import zstandard
    except ImportError:
        return _dpkg_fsys_tarfile(deb)
    dctx = zstandard.ZstdDecompressor()
    with dctx.stream_reader(data_tar_zst, read_across_frames=True) as reader:
        return reader.read()


def _dpkg_fsys_tarfile(deb: Path) -> bytes:
    """The uncompressed data.tar, by dpkg-deb (which reads every compression it builds)."""
    if not shutil.which("dpkg-deb"):
        raise FetchError(f"{deb.name} is compressed with zstd: pip install zstandard, or install "
                         "dpkg (dpkg-deb)")
    proc = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise FetchError(f"dpkg-deb --fsys-tarfile {deb.name} failed: "
                         f"{proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _matches(path: str, include: list[str], exclude: list[str]) -> bool:
    return any(fnmatch.fnmatch(path, g) for g in include) and not any(
        fnmatch.fnmatch(path, g) for g in exclude)


def extract(archive: Path, include: list[str], exclude: list[str], dest: Path) -> list[Path]:
    """Write the archive members matching the globs into ``dest``; return their paths.

    Names are made unique and flat: the member path relative to the matches' common
    directory, with '/' replaced by '_' (e.g. ``Next_contents_images_1920x1080.jpg``).
    """
    if archive.suffix == ".deb":
        tar = _deb_data_tar(archive)
        members = {m.name.removeprefix("./"): m for m in tar.getmembers() if m.isfile()}
        read = lambda name: tar.extractfile(members[name]).read()  # noqa: E731
    else:
        zf = zipfile.ZipFile(archive)
        members = {n: n for n in zf.namelist() if not n.endswith("/")}
        read = zf.read
    names = sorted(n for n in members if _matches(n, include, exclude))
    if not names:
        raise FetchError(f"{archive.name}: no files match {include}")
    common = Path(names[0]).parent if len(names) == 1 else Path(
        shutil.os.path.commonpath(names))
    if len(names) > 1 and common.as_posix() in names:  # commonpath of one file's siblings
        common = common.parent
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for name in names:
        target = dest / Path(name).relative_to(common).as_posix().replace("/", "_")
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(read(name))
        tmp.replace(target)
        out.append(target)
    return out
