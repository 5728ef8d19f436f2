"""The bundled VAE trainer (issue 6): model, losses, staged data, loop, resume, Ray Train.

Everything runs on CPU with the tiny config at 32x32 and tiny random LPIPS/DINOv2 nets
built through the same code as the real ones. Shards are made by the engine in-process:
synth shards by the shard writer, doc shards from pages of the ci profile's PDFs packed into
the same shard format, and the ci profile's photos as the general source.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from textsynth.vae.config import ConfigError, checked, load_train_config
from textsynth.vae.losses import (
    AlignProjection,
    Objective,
    margin_at,
    mcos_loss,
    mdms_loss,
)
from textsynth.vae.model import (
    PRESETS,
    REPORT_PARAMS,
    VAE,
    channel_to_space,
    model_config,
    param_counts,
    space_to_channel,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny CPU tensors run ~10x faster on one thread than on two busy cores."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ------------------------------------------------------------------------------ model

@pytest.mark.parametrize("name", ["f16c64", "f16c128", "f32c128", "f32c192"])
def test_report_configs_shapes_and_parameter_counts(name):
    cfg = PRESETS[name]
    assert (cfg.d_enc, cfg.d_dec) == (96, 144)
    assert cfg.n_layer == {16: 5, 32: 6}[cfg.f]                      # Table 1 n_layer
    enc, dec = param_counts(cfg)
    want_enc, want_dec = REPORT_PARAMS[name]
    assert abs(enc / want_enc - 1) < 0.15 and abs(dec / want_dec - 1) < 0.15, (enc, dec)
    assert dec > 3 * enc                                               # asymmetric
    with torch.device("meta"):                                         # shapes, nothing allocated
        vae = VAE(cfg)
        z = vae.encode(torch.empty(2, 3, 256, 512))
        assert tuple(z.shape) == (2, cfg.latent_channels, 256 // cfg.f, 512 // cfg.f)
        assert tuple(vae.decode(z).shape) == (2, 3, 256, 512)
    # attention-free: convolutions and norms only
    kinds = {type(m).__name__ for m in vae.modules()}
    assert not any("Attention" in k or "Linear" in k for k in kinds), kinds


def test_tiny_config_runs_and_rejects_bad_sizes():
    torch.manual_seed(0)
    vae = VAE(PRESETS["tiny"])
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    recon, z = vae(x)
    assert recon.shape == x.shape and z.shape == (2, 8, 4, 6)
    with pytest.raises(ValueError, match="multiple of f=8"):
        vae.encode(torch.zeros(1, 3, 30, 32))
    with pytest.raises(ValueError, match="levels"):
        model_config("tiny", enc_mult=[1, 2, 2])
    # gradient checkpointing recomputes activations: same gradients
    torch.manual_seed(0)
    ckpt = VAE(model_config("tiny", grad_checkpointing=True))
    ckpt.load_state_dict(vae.state_dict())
    grads = []
    for m in (vae, ckpt):
        m.zero_grad()
        m(x)[0].square().mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


def test_gsc_carries_the_image_with_every_learned_weight_zeroed():
    torch.manual_seed(0)
    vae = VAE(PRESETS["tiny"])
    with torch.no_grad():
        for p in vae.parameters():
            p.zero_()
    a = torch.rand(1, 3, 32, 32) * 2 - 1
    b = torch.rand(1, 3, 32, 32) * 2 - 1
    ra, rb = vae(a)[0], vae(b)[0]
    assert (ra - rb).abs().mean() > 0.05                    # output depends on the input
    # and it is exactly the GSC round trip: fold, group-average, repeat, unfold
    f, c = vae.cfg.f, vae.cfg.latent_channels
    assert torch.allclose(ra, channel_to_space(space_to_channel(a, f, c), f), atol=1e-6)
    # the fold keeps block averages: a constant image comes back exactly
    const = torch.full((1, 3, 32, 32), 0.3)
    assert torch.allclose(vae(const)[0], const, atol=1e-6)
    # control: without GSC the zeroed model's output is constant (zero)
    nogsc = VAE(model_config("tiny", gsc=False))
    with torch.no_grad():
        for p in nogsc.parameters():
            p.zero_()
    assert nogsc(a)[0].abs().max() == 0 and nogsc(b)[0].abs().max() == 0


# ------------------------------------------------------------------------------ losses

def test_alignment_losses_match_a_hand_computed_example():
    # 2 positions (h=1, w=2), width 2. z' = [(1,0), (0,1)], f = [(1,0), (1,1)/sqrt2]
    zp = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)
    f = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).T.reshape(1, 2, 1, 2)
    s = 1 / math.sqrt(2)
    # eq. 2: mean over p of ReLU(1 - cos - m): cos = 1 and 1/sqrt2
    assert mcos_loss(zp, f, 0.0).item() == pytest.approx((0 + (1 - s)) / 2, abs=1e-6)
    assert mcos_loss(zp, f, 0.2).item() == pytest.approx((0 + (1 - s - 0.2)) / 2, abs=1e-6)
    assert mcos_loss(zp, f, 0.5).item() == pytest.approx(0.0, abs=1e-7)   # loose margin: no loss
    # eq. 3: cos matrices [[1,0],[0,1]] vs [[1,s],[s,1]]: off-diagonal |diff| = s, N^2 = 4
    assert mdms_loss(zp, f, 0.0).item() == pytest.approx(2 * s / 4, abs=1e-6)
    assert mdms_loss(zp, f, 0.1).item() == pytest.approx(2 * (s - 0.1) / 4, abs=1e-6)
    # scale invariance: cosines ignore the vectors' lengths
    assert mcos_loss(3 * zp, 0.5 * f, 0.0).item() == pytest.approx((1 - s) / 2, abs=1e-6)
    # margins: strict -> loose, cosine and linear schedules
    assert margin_at(0, [0.1, 0.5], [0, 100]) == pytest.approx(0.1)
    assert margin_at(50, [0.1, 0.5], [0, 100]) == pytest.approx(0.3)
    assert margin_at(25, [0.1, 0.5], [0, 100], "linear") == pytest.approx(0.2)
    assert margin_at(25, [0.1, 0.5], [0, 100]) == pytest.approx(0.1 + 0.4 * (1 - math.cos(math.pi / 4)) / 2)
    assert margin_at(1000, [0.1, 0.5], [0, 100]) == pytest.approx(0.5)


class _FixedTeacher(torch.nn.Module):
    """Returns given features (tests the objective's arithmetic, not DINOv2)."""
    pretrained, width = True, 2

    def __init__(self, feats):
        super().__init__()
        self.feats = feats

    def forward(self, x, grid):
        return self.feats


def test_total_objective_is_the_weighted_sum_of_eq_1():
    from textsynth.vae.lpips import LPIPS

    # LPIPS with an identity "backbone": one map, the image itself, unit heads, no scaling.
    lp = LPIPS(_ListOf(), [torch.ones(3)], scaling=False)
    x = torch.zeros(1, 3, 1, 2)
    x[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.0])
    x[0, :, 0, 1] = torch.tensor([0.0, 1.0, 0.0])
    recon = x.clone()
    recon[0, :, 0, 1] = torch.tensor([0.0, 0.0, 2.0])
    # L1: |diff| sums to 1 + 2 = 3 over 6 values
    # LPIPS: position 0 equal; position 1 unit vectors (0,1,0) vs (0,0,1): squared diff 2; mean over 2 = 1
    zp = torch.tensor([[1.0, 0.0], [0.0, 1.0]]).T.reshape(1, 2, 1, 2)
    f = torch.tensor([[1.0, 0.0], [1.0, 1.0]]).T.reshape(1, 2, 1, 2)
    cfg = checked(_tiny_cfg({"general": {"paths": ["."]}}))["loss"]
    cfg["l1"], cfg["lpips"]["weight"], cfg["align"]["weight"] = 1.0, 0.1, 0.5
    cfg["align"].update(m_cos=[0.0, 0.0], m_dist=[0.0, 0.0], max_positions=0)
    total, parts = Objective(cfg, lp, _FixedTeacher(f))(x, recon, zp, step=0)
    s = 1 / math.sqrt(2)
    want = 3 / 6 + 0.1 * 1.0 + 0.5 * ((1 - s) / 2 + 2 * s / 4)
    assert parts["l1"] == pytest.approx(0.5) and parts["lpips"] == pytest.approx(1.0, abs=1e-6)
    assert total.item() == pytest.approx(want, abs=1e-6)
    # the projection is a learnable linear map C -> teacher width
    proj = AlignProjection(8, 32)
    assert proj(torch.zeros(1, 8, 4, 4)).shape == (1, 32, 4, 4)
    assert sum(p.numel() for p in proj.parameters() if p.requires_grad) == 8 * 32


class _ListOf(torch.nn.Module):
    def forward(self, x):
        return [x]


def test_lpips_and_teacher_weights_load_from_local_files_or_say_why_not(tmp_path, caplog):
    from textsynth.vae import load_lpips
    from textsynth.vae.lpips import VGGFeatures, build, pretrained
    from textsynth.vae.semantic import Teacher

    # no weights: evaluation gets None, and the reason
    assert load_lpips(str(tmp_path / "nothing")) is None
    # a torchvision-format VGG16 state dict + LPIPS heads load through the real code path
    vgg = VGGFeatures()
    torch.save({**vgg.state_dict(), "classifier.0.weight": torch.zeros(1)}, tmp_path / "vgg16-test.pth")
    torch.save({f"lin{k}.model.1.weight": torch.rand(1, c, 1, 1) for k, c in enumerate(vgg.channels)},
               tmp_path / "vgg.pth")
    net = pretrained(tmp_path)
    assert net.pretrained and torch.equal(net.backbone.features[0].weight, vgg.features[0].weight)
    metric = load_lpips(str(tmp_path))
    img = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    assert metric(img, img) == pytest.approx(0.0, abs=1e-7) and metric(img, 255 - img) > 0
    with caplog.at_level("WARNING"):
        rnd = build("random")
        Teacher("random-tiny", 2, 32)
    assert not rnd.pretrained
    assert "LPIPS RUNS ON A TINY RANDOM NETWORK" in caplog.text
    assert "TINY RANDOM DINOv2" in caplog.text
    # a DINOv2 saved with save_pretrained loads from its directory
    from transformers import Dinov2Config, Dinov2Model

    Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                             intermediate_size=32, patch_size=4, image_size=16)).save_pretrained(tmp_path / "dino")
    t = Teacher(str(tmp_path / "dino"), layer=1, resolution=16)
    assert t.pretrained and t(torch.zeros(2, 3, 64, 64), (8, 8)).shape == (2, 16, 8, 8)
    with pytest.raises(FileNotFoundError, match="loss.align.model"):
        Teacher(str(tmp_path / "no-such-dino"), 1, 16)



# torchvision's VGG16 feature layout (its cfg "D"), written out here rather than taken from
# textsynth so the parity test below does not check our layout against itself.
_TV_VGG16_D = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]


def _torchvision_models(monkeypatch):
    """``torchvision.models`` for the lpips package: the real one when it imports; else (as on
    machines whose only torchvision wheel is built for CUDA torch and fails to import on a
    CPU torch) a module holding just ``vgg16``'s feature stack in torchvision's layout."""
    try:
        import torchvision.models as tv

        return tv
    except Exception:
        import types

        from torch import nn

        def vgg16(pretrained=False, **_):
            assert not pretrained, "the parity test uses a random backbone"
            layers, c = [], 3
            for v in _TV_VGG16_D:
                layers += ([nn.MaxPool2d(2, 2)] if v == "M"
                           else [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)])
                c = v if v != "M" else c
            return types.SimpleNamespace(features=nn.Sequential(*layers))

        tv = types.ModuleType("torchvision.models")
        tv.vgg16 = vgg16
        package = types.ModuleType("torchvision")
        package.models = tv
        monkeypatch.setitem(sys.modules, "torchvision", package)
        monkeypatch.setitem(sys.modules, "torchvision.models", tv)
        monkeypatch.delitem(sys.modules, "lpips", raising=False)
        return tv


def test_lpips_matches_the_lpips_package_on_a_random_backbone(tmp_path, monkeypatch):
    """Issue 14.8: our LPIPS equals the ``lpips`` package's (v0.1 VGG heads shipped in it:
    its input scaling, feature normalisation, heads and spatial average) when both run the
    same random-weight VGG16 backbone."""
    _torchvision_models(monkeypatch)
    import lpips as reference

    from textsynth.vae.lpips import pretrained

    torch.manual_seed(0)
    ref = reference.LPIPS(net="vgg", pretrained=True, pnet_rand=True, verbose=False).eval()
    # the package keeps torchvision's layer numbers inside its slices: net.sliceK.N.weight
    backbone = {f"features.{k.split('.', 1)[1]}": v for k, v in ref.net.state_dict().items()}
    torch.save(backbone, tmp_path / "vgg16-random.pth")
    heads = Path(reference.__file__).parent / "weights" / "v0.1" / "vgg.pth"
    (tmp_path / "vgg.pth").write_bytes(heads.read_bytes())
    ours = pretrained(tmp_path)

    g = torch.Generator().manual_seed(1)
    x = torch.rand(4, 3, 64, 64, generator=g) * 2 - 1
    y = (x + 0.3 * torch.randn(4, 3, 64, 64, generator=g)).clamp(-1, 1)
    y[0] = x[0]                                   # one identical pair: distance 0
    with torch.no_grad():
        want = ref(x, y).flatten()
        got = ours(x, y)
    assert want[0] == 0 and (want[1:] > 0).all()
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-7)


# ------------------------------------------------------------------------------ data

def _make_synth(root: Path, shards: int, per_shard: int) -> Path:
    from textsynth.config import load_config
    from textsynth.synthesis.resources import Resources
    from textsynth.shards import ShardSpec, filesystem, write_shard

    cfg = load_config(None, seed=0, canvas={"width": 64, "height": 64},
                      layout={"lines": [1, 3], "margin": 2})
    res = Resources(cfg)
    fs, r = filesystem(str(root))
    for d in ("shards", "_completions"):
        fs.create_dir(f"{r}/{d}")
    for i in range(shards):
        write_shard(res, ShardSpec("synth", i, 0, per_shard, i * per_shard), fs, r)
    return root


def _make_doc(root: Path, assets: Path, shards: int, per_shard: int) -> Path:
    """Doc shards: 64x64 tiles of real PDF pages (the ci profile's documents) with ink on
    them, packed in the shard format with doc metadata."""
    import pypdfium2 as pdfium

    from textsynth.shards import filesystem, pack, publish

    tiles = []
    for pdf_path in sorted((assets / "documents").rglob("*.pdf")):
        pdf = pdfium.PdfDocument(str(pdf_path))
        for p in range(min(3, len(pdf))):
            page = pdf[p].render(scale=1.0).to_numpy()[:, :, :3]
            for y in range(0, page.shape[0] - 64, 64):
                for x in range(0, page.shape[1] - 64, 64):
                    tile = np.ascontiguousarray(page[y:y + 64, x:x + 64])
                    if (tile.mean(axis=2) < 128).mean() > 0.04:
                        tiles.append(tile)
        pdf.close()
        if len(tiles) >= shards * per_shard:
            break
    assert len(tiles) >= shards * per_shard
    from textsynth.synthesis.render import encode

    fs, r = filesystem(str(root))
    for d in ("shards", "_completions"):
        fs.create_dir(f"{r}/{d}")
    for i in range(shards):
        name = f"doc-{i:06d}"
        samples = [(f"{name}-{j:06d}", f"{name}-{j:06d}.png", encode(tiles[i * per_shard + j], "png", 1, 95),
                    {"source": "doc", "lang": "mixed", "width": 64, "height": 64, "size_bucket": "9-12"})
                   for j in range(per_shard)]
        tar, pq = pack(samples)
        publish(fs, r, name, tar, pq, per_shard)
    return root


@pytest.fixture(scope="module")
def shard_dirs(assets, tmp_path_factory):
    base = tmp_path_factory.mktemp("vae-data")
    return {"synth": _make_synth(base / "synth", 4, 30),
            "doc": _make_doc(base / "doc", assets, 2, 30),
            "general": assets / "backgrounds"}


def _tiny_cfg(sources: dict, stages: list | None = None, **train) -> dict:
    return {
        "seed": 0,
        "model": {"name": "tiny"},
        "loss": {"lpips": {"weight": 0.1, "net": "random"},
                 "align": {"weight": 0.1, "model": "random-tiny", "layer": 2, "resolution": 32,
                           "margin_steps": [0, 100]}},
        "data": {"resolution": 32, "batch_size": 4, "num_workers": 0, "shuffle_buffer": 20,
                 "sources": sources,
                 "stages": stages or [{"name": "all", "start": 0, "mix": {k: 1.0 for k in sources}}]},
        "train": {"max_steps": 100, "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5, "log_every": 10,
                  "sample_every": 50, "ckpt_every": 50, "cpu_threads": 1, **train},
    }


def _sources(dirs: dict) -> dict:
    return {"general": {"paths": [str(dirs["general"])]},
            "doc": {"paths": [str(dirs["doc"])]},
            "synth": {"paths": [str(dirs["synth"])]}}


STAGES = [
    {"name": "general", "start": 0, "mix": {"general": 1.0}},
    {"name": "real-text", "start": 40, "mix": {"general": 1.0, "doc": 1.0}},
    {"name": "synthetic-text", "start": 80, "mix": {"general": 2.0, "doc": 1.0, "synth": 1.0},
     "size_buckets": [{"start": 80, "buckets": ["17-20"]}, {"start": 120, "buckets": ["5-8", "9-12"]}]},
]


def test_config_errors_name_the_bad_key(shard_dirs):
    good = _tiny_cfg(_sources(shard_dirs), STAGES)
    checked(good)
    for mutate, key in [
        (lambda c: c["train"].update(lr_warmup=3), "train.lr_warmup"),
        (lambda c: c["model"].update(name="f64"), "unknown model 'f64'"),
        (lambda c: c["data"]["stages"][1]["mix"].update(web=1.0), r"stages\[1\].mix names source 'web'"),
        (lambda c: c["data"]["stages"][2].update(size_buckets=[{"start": 80, "buckets": ["1-4"]}]),
         r"stages\[2\].size_buckets\[0\].buckets"),
        (lambda c: c["data"]["sources"]["doc"].update(path="x"), "data.sources.doc.path"),
        (lambda c: c["data"].update(resolution=36), "multiple of the model's f=8"),
        (lambda c: c["data"]["stages"][0].update(start=5), "begin at 0"),
    ]:
        import copy

        c = copy.deepcopy(good)
        mutate(c)
        with pytest.raises(ConfigError, match=key):
            checked(c)
    with pytest.raises(ConfigError, match="not found"):
        load_train_config(REPO / "no-such.yaml")


def test_observed_source_mix_per_stage_matches_the_configured_probabilities(shard_dirs):
    from textsynth.vae.data import StagedData

    cfg = checked(_tiny_cfg(_sources(shard_dirs), STAGES, max_steps=160))
    cfg["data"]["general_share"] = 0.5          # general:text 50:50 in stages with text
    cfg["data"]["num_workers"] = 2
    cfg["data"]["batch_size"] = 8
    data = StagedData(cfg)
    assert [(p.name, p.start, p.buckets) for p in data.phases] == [
        ("general", 0, None), ("real-text", 40, None),
        ("synthetic-text", 80, ("17-20",)), ("synthetic-text", 120, ("5-8", "9-12"))]
    seen: dict[int, Counter] = {i: Counter() for i in range(4)}
    names = data.source_names
    for step, ph, x, src in data.batches(0):
        if step >= 160:
            break
        assert x.dtype == torch.uint8 and tuple(x.shape) == (8, 3, 32, 32)
        seen[ph.index].update(names[i] for i in src.tolist())
    expected = {0: {"general": 1.0}, 1: {"general": 0.5, "doc": 0.5},
                2: {"general": 0.5, "doc": 0.25, "synth": 0.25}, 3: {"general": 0.5, "doc": 0.25, "synth": 0.25}}
    for i, want in expected.items():
        assert data.phases[i].mix == pytest.approx(want)
        n = sum(seen[i].values())
        assert n == 40 * 8
        for name in names:
            p = want.get(name, 0.0)
            k = seen[i][name]
            if p == 0:
                assert k == 0, (i, name, seen[i])
            else:  # binomial, 4 standard deviations
                assert abs(k - n * p) <= 4 * math.sqrt(n * p * (1 - p)) + 1, (i, name, seen[i])
    # size-bucket filter: the synth samples each phase sees are from its buckets only
    from textsynth.vae.data import list_items, source_samples

    items = list_items("synth", [str(shard_dirs["synth"])])
    for want in (("17-20",), ("5-8", "9-12")):
        got = Counter()
        for s, _ in zip(source_samples("synth", items, 0, want), range(60)):
            got[s["meta"]["size_bucket"]] += 1
        assert set(got) <= set(want) and sum(got.values()) == 60


def _losses(path: Path) -> dict[int, float]:
    with path.open() as f:
        return {int(r["step"]): float(r["loss"]) for r in csv.DictReader(f)}


def test_tiny_model_trains_on_engine_shards_and_its_loss_falls(shard_dirs, tmp_path, capsys):
    from textsynth.vae import load_reconstructor
    from textsynth.vae.train import run

    cfg = checked(_tiny_cfg(_sources(shard_dirs), STAGES, max_steps=100, log_every=10))
    result = run(cfg, tmp_path / "run", progress=True)
    bar = capsys.readouterr().err.split("\r")[-1]  # the bar counts images, with total and ETA
    total = 100 * cfg["data"]["batch_size"]
    assert "train: 100%" in bar and f"{total}/{total} [" in bar and "img/s" in bar, bar
    hist = result["history"]
    assert len(hist) == 100 and result["step"] == 100
    first = np.mean([h["loss"] for h in hist[:10]])
    last = np.mean([h["loss"] for h in hist[-10:]])
    assert last < 0.8 * first, (first, last)
    assert {h["stage"] for h in hist} == {1, 2, 3}
    log = (tmp_path / "run" / "train.log").read_text()
    assert "stage 2 'real-text' from step 40" in log and "synth buckets 17-20" in log
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert len(rows) == 10 and float(rows[-1]["n_synth"]) > 0 and float(rows[0]["n_doc"]) == 0
    assert (tmp_path / "run" / "samples" / "step_00000050.png").exists()
    assert (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    # the exported weights reconstruct any image size (padded to f, cropped back)
    rec = load_reconstructor(result["weights"])
    img = (np.random.default_rng(0).random((37, 50, 3)) * 255).astype(np.uint8)
    out = rec(img)
    assert out.shape == img.shape and out.dtype == np.uint8
    # and textsynth eval takes the file as a model spec
    from textsynth.evaluation.references import load

    assert np.array_equal(load(result["weights"])(img), out)
    # batched (mixed shapes, more than one batch) gives each image its own reconstruction,
    # in order, equal to one at a time up to float summation order
    imgs = [img, np.ascontiguousarray(img[:32, :40]), *[np.roll(img, k, 1) for k in range(9)]]
    for one, many in zip([rec(i) for i in imgs], rec.many(imgs)):
        assert one.shape == many.shape and np.abs(one.astype(int) - many).max() <= 1
    assert np.abs(out.astype(int) - img).mean() < np.abs(255 - img.astype(int) - img).mean()


def test_resume_gives_the_same_next_step_loss_as_an_unbroken_run(shard_dirs, tmp_path):
    from textsynth.vae.train import run

    stages = [{"name": "general", "start": 0, "mix": {"general": 1.0}},
              {"name": "real-text", "start": 4, "mix": {"general": 1.0, "doc": 1.0}},
              {"name": "synthetic-text", "start": 8, "mix": {"general": 2.0, "doc": 1.0, "synth": 1.0},
               "size_buckets": [{"start": 8, "buckets": ["17-20"]}, {"start": 10, "buckets": ["5-8", "9-12"]}]}]
    cfg = checked(_tiny_cfg(_sources(shard_dirs), stages, max_steps=12, log_every=1,
                            ckpt_every=100, sample_every=0, ema=0.9))
    cfg["data"]["num_workers"] = 2       # exact resume across the loaders' round robin
    unbroken = run(cfg, tmp_path / "a")["history"]
    run(cfg, tmp_path / "b", stop_at=7)                       # "interrupted" after 7 steps
    with pytest.raises(FileExistsError, match="--resume"):
        run(cfg, tmp_path / "b")
    resumed = run(cfg, tmp_path / "b", resume=True)["history"]
    assert [h["step"] for h in resumed] == list(range(7, 12))
    for a, b in zip(unbroken[7:], resumed):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-6, abs=1e-7), (a, b)
    assert unbroken[7]["loss"] != unbroken[6]["loss"]
    # the CSV of the resumed run reads like an unbroken one
    assert _losses(tmp_path / "b" / "log.csv") == pytest.approx(_losses(tmp_path / "a" / "log.csv"), rel=1e-6)


def test_two_gloo_workers_through_ray_train(shard_dirs, tmp_path):
    import ray

    from textsynth.vae.train import run

    cfg = checked(_tiny_cfg(_sources(shard_dirs), STAGES, max_steps=6, log_every=2,
                            ckpt_every=3, sample_every=0))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        result = run(cfg, tmp_path / "ddp", workers=2, use_gpu=False)
    finally:
        ray.shutdown()
    ranks = [json.loads((tmp_path / "ddp" / "ranks" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert [r["world"] for r in ranks] == [2, 2] and [r["step"] for r in ranks] == [6, 6]
    # DDP kept the replicas identical, while each rank read its own data
    assert ranks[0]["param_checksum"] == pytest.approx(ranks[1]["param_checksum"], rel=1e-9)
    assert result["step"] == 6 and Path(result["weights"]).exists()
    rows = list(csv.DictReader((tmp_path / "ddp" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [1, 3, 5]


def test_bundled_configs_load():
    tiny = load_train_config(REPO / "pipelines" / "configs" / "vae_tiny_cpu.yaml")
    real = load_train_config(REPO / "pipelines" / "configs" / "vae_f16c64_text_infusion.yaml",
                             {"data": {"sources": {"synth": {"paths": ["/data/synth"]}}}})
    assert tiny["model"]["name"] == "tiny" and real["model"]["name"] == "f16c64"
    assert real["data"]["sources"]["synth"]["paths"] == ["/data/synth"]
    assert [s["name"] for s in real["data"]["stages"]] == ["general", "real-text", "synthetic-text"]
    assert real["data"]["stages"][2]["size_buckets"][0]["buckets"] == ["17-20", "13-16"]


def test_cli_train_with_the_tiny_config_and_resume(shard_dirs, tmp_path, capsys):
    from textsynth.cli import main

    out = tmp_path / "cli"
    sets = ["--set", f"data.sources.general.paths=[{shard_dirs['general']}]",
            "--set", f"data.sources.doc.paths=[{shard_dirs['doc']}]",
            "--set", f"data.sources.synth.paths=[{shard_dirs['synth']}]",
            "--set", "data.resolution=32", "--set", "train.ckpt_every=3", "--set", "data.num_workers=0"]
    args = ["train", "--config", str(REPO / "pipelines/configs/vae_tiny_cpu.yaml"), "--out", str(out),
            "--max-steps", "6", *sets]
    assert main(args) == 0
    assert "trained to step 6" in capsys.readouterr().out
    assert main(args) == 2                                         # would overwrite: refused
    assert "--resume" in capsys.readouterr().err
    assert main(args[:-len(sets)] + ["--resume", "--max-steps", "8", *sets]) == 0
    assert "trained to step 8" in capsys.readouterr().out
    assert (out / "vae.pt").exists() and (out / "config.yaml").exists()
    assert main(["train", "--config", str(REPO / "pipelines/configs/vae_tiny_cpu.yaml"),
                 "--out", str(tmp_path / "bad"), "--set", "data.batchsize=4"]) == 2
    assert "unknown config key 'data.batchsize'" in capsys.readouterr().err


def _train_elsewhere(cwd: Path, *args: str):
    """``textsynth train`` with the tiny config named as the README does, run from ``cwd``."""
    import subprocess

    return subprocess.run([str(Path(sys.executable).parent / "textsynth"), "train", "--config",
                           "pipelines/configs/vae_tiny_cpu.yaml", "--quiet", *args],
                          capture_output=True, text=True, timeout=600, cwd=cwd)


def test_tiny_config_outside_the_checkout_names_the_missing_sources(tmp_path):
    """Its out/demo/... paths are relative to the current directory: elsewhere the error names
    every missing source and the --set that fixes it, before anything is written."""
    proc = _train_elsewhere(tmp_path, "--out", "run")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    for name, path in (("doc", "out/demo/curate"), ("synth", "out/demo/synth")):
        assert f"data.sources.{name}.paths: {path} ({tmp_path.resolve() / path}) does not exist" in proc.stderr
        assert f"--set data.sources.{name}.paths='[DIR]'" in proc.stderr
    assert f"relative paths are read from the current directory ({tmp_path.resolve()})" in proc.stderr
    assert not (tmp_path / "run").exists()


def test_tiny_config_outside_the_checkout_trains_with_the_documented_set(shard_dirs, tmp_path):
    """The README's form for running elsewhere: name the shards with --set."""
    proc = _train_elsewhere(tmp_path, "--out", "run", "--max-steps", "2",
                            "--set", f"data.sources.doc.paths=['{shard_dirs['doc']}']",
                            "--set", f"data.sources.synth.paths=['{shard_dirs['synth']}']",
                            "--set", "data.num_workers=0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "trained to step 2" in proc.stdout and (tmp_path / "run" / "vae.pt").exists()
