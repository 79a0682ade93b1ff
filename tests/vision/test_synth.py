"""The synthetic line renderer and the training sampler built on it (numpy + opencv only)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from vision import synth
from vision.atlas import load_atlas
from vision.synth import CAP, MIN_CAP, STYLES, render_line, style_of


def test_every_atlas_face_is_drawn_at_least_min_cap_rows_tall():
    names, fonts = load_atlas()
    rng = np.random.default_rng(0)
    for name, font in zip(names, fonts):
        raw = synth._crop_rows(synth._text_mask("WVWZZZ1KZ5B159201", rng, font=font, spacing=0.1))
        drawn = synth._at_least_cap(raw)
        assert drawn.shape[0] >= MIN_CAP, name
        if raw.shape[0] >= MIN_CAP:
            assert drawn is raw, name  # faces of the usual size are left exactly as they were
    plain = fonts[names.index("hershey_plain")]
    raw = synth._crop_rows(synth._text_mask("WVWZZZ1KZ5B159201", rng, font=plain, spacing=0.1))
    assert raw.shape[0] < MIN_CAP  # the half-size face the rule is for
    scaled = synth._at_least_cap(raw)
    assert scaled.shape[0] == CAP
    assert abs(scaled.shape[1] / raw.shape[1] - CAP / raw.shape[0]) < 0.02  # aspect kept


def test_a_style_override_draws_that_style_and_the_default_is_the_seeds_own(monkeypatch):
    painted: list[str] = []
    real = synth.colorize
    monkeypatch.setattr(synth, "colorize", lambda mask, style, rng: painted.append(style) or real(mask, style, rng))
    vin = "LSVAU218XN2183294"
    for seed in range(5):
        own = style_of(seed)
        assert np.array_equal(render_line(vin, seed), render_line(vin, seed, style=own))
        other = next(s for s in STYLES if s != own)
        painted.clear()
        render_line(vin, seed, style=other)
        assert painted == [other]


def test_training_sampler_draws_synthetic_styles_at_the_given_weights(monkeypatch):
    from vision import train_rec

    drawn: Counter[str] = Counter()

    def fake_render(vin, seed, photo=False, style=None):
        drawn[style or "seed's own"] += 1
        return np.full((20, 200, 3), 128, np.uint8)

    monkeypatch.setattr(train_rec, "render_line", fake_render)
    weights = (0.1, 0.1, 0.5, 0.2, 0.1)
    for k in range(2000):
        train_rec._sample(10_000_000 + k, [], 0.0, width=256, style_p=weights)
    assert sum(drawn.values()) == 2000
    assert drawn["dotpeen"] / 2000 == pytest.approx(0.5, abs=0.05)
    assert drawn["printed"] / 2000 == pytest.approx(0.1, abs=0.03)
    drawn.clear()
    train_rec._sample(10_000_000, [], 0.0, width=256)
    assert drawn == {"seed's own": 1}  # without weights the renderer picks, as before


def test_strong_real_augmentation_keeps_a_legible_grey_line():
    from vision.train_rec import _augment_real_strong

    line = render_line("XTAGAB110L1243238", 700_001)
    sizes = []
    for k in range(200):
        out = _augment_real_strong(line, np.random.default_rng(k))
        assert out.dtype == np.uint8 and out.ndim == 2
        sizes.append(out.shape)
        assert out.std() > 5  # never washed out to a flat patch
    assert min(h for h, _ in sizes) >= 0.7 * line.shape[0]  # cuts trim the margin, not the text
    a = _augment_real_strong(line, np.random.default_rng(3))
    assert np.array_equal(a, _augment_real_strong(line, np.random.default_rng(3)))


def trained_like_v2(torch, seed: int):
    """A v2 recogniser whose BatchNorms are not identities, as in a trained one, so that
    folding them into the convs on export changes the weights."""
    from vision.train_rec import build_model

    torch.manual_seed(seed)
    model = build_model("v2")
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model


def test_a_recogniser_rebuilt_from_its_onnx_export_gives_the_same_probabilities(tmp_path):
    torch = pytest.importorskip("torch")  # training-only code: runs where the 'train' extra is installed
    from vision.recognizer import Recognizer
    from vision.train_rec import _sample, build_model, export_onnx, state_from_onnx

    model = trained_like_v2(torch, seed=0)
    path = tmp_path / "rec.onnx"
    export_onnx(model, path, 256)
    crops = np.stack([_sample(980_300_000 + k, [], 0.0, width=256)[0] for k in range(64)]).astype(np.float32)
    rebuilt = build_model("v2")
    rebuilt.load_state_dict(state_from_onnx(path, "v2", crops))
    rebuilt.eval()
    test = crops[:8]
    with torch.no_grad():
        ours = rebuilt(torch.from_numpy(test)).permute(0, 2, 1).softmax(-1).numpy()
    theirs = Recognizer(str(path)).sess.run(None, {"crop": test})[0]
    assert np.abs(ours - theirs).max() < 1e-4


def test_a_run_can_start_from_an_exported_v2_recogniser_grown_into_v3(tmp_path):
    torch = pytest.importorskip("torch")  # training-only code
    from vision.recognizer import Recognizer
    from vision.train_rec import _initial_state, _sample, build_model, export_onnx

    source = trained_like_v2(torch, seed=2)
    export_onnx(source, tmp_path / "v2.onnx", 256)
    model = build_model("v3")
    missing = model.load_state_dict(_initial_state(str(tmp_path / "v2.onnx"), "v3"), strict=False).missing_keys
    assert missing and all(k.split(".")[0] in ("res64", "res128", "seq4", "seq5") for k in missing)
    model.eval()
    crops = np.stack([_sample(980_400_000 + k, [], 0.0, width=256)[0] for k in range(8)]).astype(np.float32)
    with torch.no_grad():
        ours = model(torch.from_numpy(crops)).permute(0, 2, 1).softmax(-1).numpy()
    exported = Recognizer(str(tmp_path / "v2.onnx")).sess.run(None, {"crop": crops})[0]
    assert np.abs(ours - exported).max() < 1e-3  # the new blocks start as identities: the same model, grown


def test_a_run_cannot_start_from_an_int8_or_into_a_v1_recogniser():
    pytest.importorskip("torch")
    from vision.reader import MODEL_DIR
    from vision.train_rec import _initial_state

    with pytest.raises(SystemExit, match="quantised"):
        _initial_state(str(MODEL_DIR / "vin_rec.onnx"), "v3")  # the shipped recogniser is int8
    with pytest.raises(SystemExit, match="32x256"):
        _initial_state(str(MODEL_DIR / "vin_rec.onnx"), "v1")


def test_averaged_checkpoints_keep_shared_weights_and_measure_batchnorm_again(tmp_path):
    torch = pytest.importorskip("torch")  # training-only code
    from vision.train_rec import average_checkpoints, build_model

    torch.manual_seed(1)
    a, b = build_model("v2").state_dict(), build_model("v2").state_dict()
    b["f.0.weight"] = a["f.0.weight"] + 2.0  # one layer differs, the rest is shared
    for k in b:
        if k != "f.0.weight" and not k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            b[k] = a[k].clone()
    torch.save(a, tmp_path / "a.pt")
    torch.save(b, tmp_path / "b.pt")
    mean = average_checkpoints([tmp_path / "a.pt", tmp_path / "b.pt"], "v2", bn_batches=2)
    assert torch.allclose(mean["f.0.weight"], a["f.0.weight"] + 1.0)
    assert torch.equal(mean["seq1.0.weight"], a["seq1.0.weight"])
    assert int(mean["f.1.num_batches_tracked"]) == 2  # statistics measured on the fresh batches
    assert not torch.allclose(mean["f.1.running_var"], torch.ones_like(mean["f.1.running_var"]))
