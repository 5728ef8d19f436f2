"""Backgrounds from webdataset shards (issue 15.4): folders of .tar shards and brace
patterns, lazy member reads, exact re-rendering, corrupt members as counted skips."""

from __future__ import annotations

import io
import tarfile

import numpy as np
from PIL import Image

from textsynth.config import load_config
from textsynth.shardio import expand_braces
from textsynth.synthesis.generate import Stats, make_sample
from textsynth.synthesis.render import render
from textsynth.synthesis.resources import Resources


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    img = (rng.random((300, 420, 3)) * 255).astype(np.uint8)
    img[:, : 100 + seed * 10] //= 2    # distinct photos
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def _shard(path, members: dict[str, bytes]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _write_shards(root):
    root.mkdir()
    for s in range(3):   # img2dataset-style members: KEY.jpg/png + KEY.json
        members = {}
        for k in range(4):
            members[f"{s:03d}{k:03d}.png"] = _png(s * 4 + k)
            members[f"{s:03d}{k:03d}.json"] = b'{"caption": "x"}'
        if s == 2:
            members["002999.png"] = b"\x89PNG\r\n\x1a\n" + b"broken" * 50   # corrupt member
        _shard(root / f"bg-{s:03d}.tar", members)
    (root / "bg-003.tar").write_bytes(b"not a tar at all" * 100)           # unreadable shard


def test_expand_braces():
    assert expand_braces("s3://b/x-{008..011}.tar") == [f"s3://b/x-{i:03d}.tar" for i in range(8, 12)]
    assert expand_braces("a{1,2}b{0..1}") == ["a1b0", "a1b1", "a2b0", "a2b1"]


def test_backgrounds_from_shards_render_exactly_and_skip_bad_members(assets, tmp_path):
    _write_shards(tmp_path / "shards")
    cfg = load_config(None, background={"dirs": [str(tmp_path / "shards")]})
    res, stats = Resources(cfg), Stats()
    assert len(res.backgrounds.shards) == 4 and not res.backgrounds.names
    samples = [make_sample(res, 1, i, stats) for i in range(40)]
    used = {m["recipe"]["background"]["file"] for _, m in samples}
    assert all("#" in u and u.split("#")[0].endswith(".tar") for u in used)
    assert len({u.split("#")[0] for u in used}) == 3 and len(used) > 6
    # the unreadable shard and the corrupt member are counted skips with their reasons
    assert stats.skips["bad_background:unreadable_shard"] > 0
    assert stats.skips["bad_background:corrupt_image"] > 0
    assert not any(u.endswith("002999.png") for u in used)
    # the recipe names shard + member: a fresh process re-renders the same pixels, and a
    # sample does not depend on which samples the process made before
    fresh = Resources(cfg)
    for i in (37, 3, 21):
        img, meta = samples[i]
        assert np.array_equal(render(fresh, meta["recipe"])[0], img)
        again, _ = make_sample(fresh, 1, i, Stats())
        assert np.array_equal(again, img)
    # a brace pattern over the same files names the same shards
    pattern = str(tmp_path / "shards" / "bg-{000..002}.tar")
    braced = Resources(load_config(None, background={"dirs": [pattern]}))
    assert braced.backgrounds.shards == sorted(res.backgrounds.shards)[:3]
    # ... and so do URIs on a pyarrow filesystem (file:// here; s3://, gs://, hdfs:// alike):
    # a brace pattern, or a folder whose .tar files are listed
    uri = (tmp_path / "shards").as_uri()
    for spec, n in ((uri + "/bg-{000..002}.tar", 3), (uri, 4)):
        remote = Resources(load_config(None, background={"dirs": [spec]}))
        assert len(remote.backgrounds.shards) == n and remote.backgrounds.shards[0].startswith("file://")
        img, meta = make_sample(remote, 1, 3, Stats())
        assert meta["recipe"]["background"]["file"].startswith("file://")
        assert np.array_equal(render(Resources(remote.cfg), meta["recipe"])[0], img)
