"""`python -m g2core.data.prepare nyu` on a small archive of the fastdepth layout, served from 127.0.0.1:
download with a progress bar, resume after a dropped connection, refuse a bad checksum, one line offline,
and unpack to what `data=nyu` reads."""

from __future__ import annotations

import hashlib
import socket
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import numpy as np
import pytest

from g2core.config import compose
from g2core.data.build import build_datasets
from g2core.data.errors import DataError
from g2core.data.prepare import main, prepare
from g2core.validate import validate_train_config

FRAMES = {"train/kitchen_0001": 2, "train/office_0002": 2, "val/official": 2}


def make_archive(tmp: Path) -> Path:
    """nyudepthv2/{train,val}/<scene>/<n>.h5 with rgb uint8 [3,H,W] and depth float32 [H,W], as fast-depth's."""
    rng = np.random.default_rng(0)
    src = tmp / "src"
    for folder, n in FRAMES.items():
        scene = src / "nyudepthv2" / folder
        scene.mkdir(parents=True)
        for i in range(1, n + 1):
            with h5py.File(scene / f"{i:05d}.h5", "w") as f:
                f["rgb"] = rng.integers(0, 256, (3, 48, 64), dtype=np.uint8)
                f["depth"] = rng.uniform(0.5, 9.5, (48, 64)).astype(np.float32)
    archive = tmp / "nyudepthv2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(src / "nyudepthv2", arcname="nyudepthv2")
    return archive


class Server:
    """A static file server on 127.0.0.1 that honours Range and can drop its first answer halfway."""

    def __init__(self, payload: bytes, drop_first: bool = False) -> None:
        self.payload, self.drop_first, self.ranges = payload, drop_first, []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                start = 0
                if rng := self.headers.get("Range"):
                    start = int(rng.removeprefix("bytes=").split("-")[0])
                server.ranges.append(rng)
                body = server.payload[start:]
                self.send_response(206 if start else 200)
                self.send_header("Content-Length", str(len(body)))
                if start:
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(server.payload) - 1}/{len(server.payload)}"
                    )
                self.end_headers()
                if server.drop_first:
                    server.drop_first = False
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/nyudepthv2.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_archive(tmp_path_factory.mktemp("nyu_src"))


@pytest.fixture
def serve(archive: Path) -> Iterator:
    servers = []

    def start(drop_first: bool = False) -> Server:
        servers.append(Server(archive.read_bytes(), drop_first))
        return servers[-1]

    yield start
    for s in servers:
        s.httpd.shutdown()
        s.httpd.server_close()


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_prepare_downloads_verifies_and_unpacks_what_data_nyu_reads(serve, archive: Path, root: Path) -> None:
    server = serve()
    dest = root / "data" / "nyu"  # paths.root/data/nyu: where conf/data/nyu.yaml looks
    top = prepare("nyu", dest, url=server.url, sha256=sha(archive), progress=False)
    assert top == dest / "nyudepthv2" and len(list((top / "train").rglob("*.h5"))) == 4
    assert not (dest / "nyudepthv2.tar.gz").exists()  # the archive is removed once unpacked
    cfg = compose([f"paths.root={root}", "data=nyu", "data.height=48", "data.width=64"])
    validate_train_config(cfg)
    assert cfg.data.eigen_crop is True and cfg.data.max_depth == 10.0
    train, val, test = build_datasets(cfg.data, seed=0, sparse_input=False)
    assert (len(train), len(val), len(test)) == (3, 1, 2)  # val: a share of train; test: the official val
    assert test[0]["rgb"].shape == (3, 48, 64)
    # done once: the same command again downloads nothing
    assert prepare("nyu", dest, url=server.url, progress=False) == top and len(server.ranges) == 1


def test_an_interrupted_download_resumes_where_it_stopped(serve, archive: Path, tmp_path: Path) -> None:
    server = serve(drop_first=True)
    with pytest.raises(DataError, match="run the same command again to resume"):
        prepare("nyu", tmp_path, url=server.url, sha256=sha(archive), progress=False)
    part = tmp_path / "nyudepthv2.tar.gz.part"
    kept = part.stat().st_size
    assert 0 < kept < archive.stat().st_size
    top = prepare("nyu", tmp_path, url=server.url, sha256=sha(archive), progress=False)
    assert server.ranges == [None, f"bytes={kept}-"]  # the second request asked only for the rest
    assert (top / ".prepared").read_text().split()[2] == f"sha256:{sha(archive)}"


def test_a_bad_checksum_is_refused_and_nothing_is_unpacked(serve, tmp_path: Path) -> None:
    server = serve()
    with pytest.raises(DataError, match="SHA-256 .* is not the expected"):
        prepare("nyu", tmp_path, url=server.url, sha256="0" * 64, progress=False)
    assert not (tmp_path / "nyudepthv2").exists() and not (tmp_path / "nyudepthv2.tar.gz").exists()


def test_offline_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with socket.socket() as s:  # a port nothing listens on: what an offline machine answers
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = main(["nyu", "--root", str(tmp_path), "--url", f"http://127.0.0.1:{port}/nyudepthv2.tar.gz"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert err[0].startswith("error: cannot reach 127.0.0.1") and "--archive FILE" in err[0]


def test_an_archive_downloaded_elsewhere_is_verified_and_unpacked(archive: Path, tmp_path: Path) -> None:
    assert main(["nyu", "--root", str(tmp_path), "--archive", str(archive), "--sha256", sha(archive)]) == 0
    assert archive.exists() and len(list((tmp_path / "nyudepthv2" / "val").rglob("*.h5"))) == 2
