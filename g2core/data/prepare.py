"""Download and unpack a public dataset into the layout its `conf/data/` preset reads.

    python -m g2core.data.prepare nyu [--root DIR] [--archive FILE] [--url URL] [--sha256 HEX]

`nyu` is NYU Depth V2 as fast-depth (and sparse-to-dense before it) publish it, the 'fastdepth' h5 release
that Depth Anything V2's and this project's NYU h5 layout come from: nyudepthv2.tar.gz holds
nyudepthv2/{train,val}/<scene>/<frame>.h5 with `rgb` uint8 [3,480,640] and `depth` float32 [480,640] metres.
It unpacks to DIR/nyudepthv2/{train,val} (DIR defaults to paths.root/data/nyu, where conf/data/nyu.yaml
reads it). The download resumes where it stopped (HTTP Range on a `.part` file; the same command again),
shows a progress bar, and is checked against the size the server announced and, when one is known or given,
a SHA-256 before anything is unpacked. Errors are one line (DataError), naming what to do.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from g2core.data.errors import DataError

_CHUNK = 1 << 20
_STAMP = ".prepared"  # written last: its presence means the unpacked folder is complete


@dataclass(frozen=True)
class Release:
    url: str
    archive: str  # the file name the archive is saved under
    folder: str  # the top folder inside the archive
    splits: tuple[str, ...]  # sub-folders of `folder` that must hold .h5 files once unpacked
    sha256: str | None  # None: not published; the size the server announces is still checked
    approx_size: str  # for messages only


RELEASES: dict[str, Release] = {
    # fast-depth's README: "The NYU dataset requires 32G of storage space". No checksum is published with
    # it: the download is checked against the server's Content-Length, and its SHA-256 is printed and kept
    # in the stamp file (pass --sha256 to pin one).
    "nyu": Release(
        url="http://datasets.lids.mit.edu/fastdepth/data/nyudepthv2.tar.gz",
        archive="nyudepthv2.tar.gz",
        folder="nyudepthv2",
        splits=("train", "val"),
        sha256=None,
        approx_size="about 32 GB",
    ),
}


def prepare_hint(missing: Path) -> str | None:
    """How to fetch a missing data folder inside a release's layout (.../nyudepthv2/train): the command,
    `--root` included where it is not the default, and the download's size; None for a folder no release
    makes."""
    parts = missing.expanduser().parts
    for name, release in RELEASES.items():
        if release.folder in parts:
            root = Path(*parts[: parts.index(release.folder)])
            command = f"python -m g2core.data.prepare {name}"
            if root.resolve() != default_root(name).resolve():
                command += f" --root {root}"
            return f"`{command}` ({release.approx_size})"
    return None


def default_root(name: str) -> Path:
    """paths.root/data/<name>, as the presets read it (G2_ROOT, else the project root)."""
    from g2core.config import project_root

    return Path(os.environ.get("G2_ROOT") or project_root()) / "data" / name


def _total_size(response: http.client.HTTPResponse) -> int | None:
    """The whole file's size from a 200's Content-Length or a 206's Content-Range."""
    if response.status == 206:
        total = response.headers.get("Content-Range", "").rpartition("/")[2]
        return int(total) if total.isdigit() else None
    length = response.headers.get("Content-Length")
    return int(length) if length and length.isdigit() else None


def download(url: str, dest: Path, *, progress: bool = True) -> tuple[Path, int]:
    """Fetch `url` to `dest`, resuming `dest.part`; returns (dest, size). The size is the server's."""
    part = dest.with_name(dest.name + ".part")
    offset = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as err:
        if err.code == 416 and offset:  # the part file is already whole
            return _finish(part, dest, offset, None)
        raise DataError(f"{url}: the server answered {err.code} {err.reason}; try again later") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DataError(
            f"cannot reach {urllib.parse.urlparse(url).netloc or url} ({reason}): this machine seems offline; "
            f"download {url} elsewhere and pass --archive FILE"
        ) from None
    with response:
        resumed = response.status == 206
        total = _total_size(response)
        if not resumed:
            offset = 0  # the server ignored the Range: start over
        bar = tqdm(
            total=total,
            initial=offset,
            unit="B",
            unit_scale=True,
            desc=dest.name,
            disable=not progress or None,
        )
        try:
            with open(part, "ab" if resumed else "wb") as out, bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
        except (OSError, http.client.HTTPException) as err:  # a dropped connection: keep the part file
            raise DataError(
                f"download of {url} interrupted at {part.stat().st_size:,} bytes ({err}); "
                "run the same command again to resume"
            ) from None
    return _finish(part, dest, part.stat().st_size, total)


def _finish(part: Path, dest: Path, size: int, total: int | None) -> tuple[Path, int]:
    if total is not None and size != total:
        raise DataError(
            f"{part}: {size:,} bytes of {total:,} (the connection closed early); run the same command again to resume"
        )
    part.replace(dest)
    return dest, size


def sha256_of(path: Path, *, progress: bool = True) -> str:
    digest = hashlib.sha256()
    with (
        open(path, "rb") as f,
        tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, desc="sha256", disable=not progress or None
        ) as bar,
    ):
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


def verify(archive: Path, expected_sha256: str | None, *, progress: bool = True) -> str:
    """The archive's SHA-256; a mismatch removes the archive (a resume cannot repair it) and refuses."""
    actual = sha256_of(archive, progress=progress)
    if expected_sha256 and actual != expected_sha256.lower():
        archive.unlink()
        raise DataError(
            f"{archive.name}: SHA-256 {actual} is not the expected {expected_sha256}; the file was removed, "
            "run the same command again to download it anew"
        )
    return actual


def unpack(archive: Path, root: Path, release: Release, *, progress: bool = True) -> Path:
    """Extract into `root` (tarfile's 'data' filter: no paths outside it, no links out) and check the splits."""
    try:
        with tarfile.open(archive) as tar:
            members = tar.getmembers()
            for member in tqdm(members, desc="unpack", unit="file", disable=not progress or None):
                tar.extract(member, root, filter="data")
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(
            f"{archive}: cannot be unpacked ({err}); remove it and run the same command again"
        ) from None
    top = root / release.folder
    for split in release.splits:
        if not any((top / split).rglob("*.h5")):
            raise DataError(
                f"{archive}: no {release.folder}/{split}/**/*.h5 inside; it is not the {release.archive} release"
            )
    return top


def prepare(
    name: str,
    root: Path | None = None,
    *,
    archive: Path | None = None,
    url: str | None = None,
    sha256: str | None = None,
    keep_archive: bool = False,
    progress: bool = True,
) -> Path:
    """Download (unless `archive` is given), verify and unpack dataset `name`; returns the unpacked folder."""
    if name not in RELEASES:
        raise DataError(
            f"unknown dataset {name!r}; python -m g2core.data.prepare knows: {', '.join(RELEASES)}"
        )
    release = RELEASES[name]
    root = Path(root or default_root(name)).expanduser()
    top = root / release.folder
    if (top / _STAMP).exists():
        print(f"{name}: already prepared in {top}")
        return top
    root.mkdir(parents=True, exist_ok=True)
    if archive is None:
        free = shutil.disk_usage(root).free
        print(
            f"{name}: downloading {release.approx_size} (twice that while unpacking) to {root}, {free / 1e9:.0f} GB free"
        )
        archive, _ = download(url or release.url, root / release.archive, progress=progress)
        downloaded = True
    else:
        archive, downloaded = Path(archive).expanduser(), False
        if not archive.is_file():
            raise DataError(f"--archive {archive}: no such file")
    digest = verify(archive, sha256 or release.sha256, progress=progress)
    size = archive.stat().st_size
    unpack(archive, root, release, progress=progress)
    (top / _STAMP).write_text(f"{release.archive} {size} sha256:{digest}\n")
    if downloaded and not keep_archive:
        archive.unlink()
    print(f"{name}: {size:,} bytes, sha256 {digest}; unpacked to {top}")
    return top


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m g2core.data.prepare", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("name", choices=sorted(RELEASES))
    parser.add_argument("--root", type=Path, help="where to unpack (default: paths.root/data/<name>)")
    parser.add_argument("--archive", type=Path, help="an archive already downloaded: verify and unpack it")
    parser.add_argument("--url", help="another mirror of the same archive")
    parser.add_argument("--sha256", help="the archive's expected SHA-256")
    parser.add_argument("--keep-archive", action="store_true", help="keep the downloaded archive")
    args = parser.parse_args(argv)
    try:
        prepare(
            args.name,
            args.root,
            archive=args.archive,
            url=args.url,
            sha256=args.sha256,
            keep_archive=args.keep_archive,
        )
    except DataError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
