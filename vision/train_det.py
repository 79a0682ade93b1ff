"""Train the VIN-line detector (tiny U-Net heat map) on the real CC BY 4.0 photos
(train split) plus synthetic scenes; export ONNX. Training only: imports torch.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from vision import hand_labels
from vision.det_data import DATASET, load_split
from vision.detector import GEOMETRY_KEY, Geometry
from vision.preprocess import DET_LONG

CROP = 256


def build_model(stride: int = 4):
    """The heat-map U-Net; `stride` 2 adds a decoder stage at half resolution, so lines a
    cell apart at stride 4 (small label lines in a 256 px photo) no longer merge."""
    import torch
    import torch.nn as nn

    def cbr(i, o, s=1, d=1, k=3):
        return nn.Sequential(
            nn.Conv2d(i, o, k, s, d * (k // 2), dilation=d, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)
        )

    class Det(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.s1 = cbr(3, 16, 2)  # /2
            self.s2 = cbr(16, 24, 2)  # /4
            self.s3 = nn.Sequential(cbr(24, 48, 2), cbr(48, 48))  # /8
            self.s4 = nn.Sequential(cbr(48, 64, 2), cbr(64, 64, d=2), cbr(64, 64, d=4))  # /16
            self.m3 = nn.Sequential(cbr(112, 48, k=1), cbr(48, 48))
            self.m2 = nn.Sequential(cbr(72, 16, k=1), cbr(16, 16))
            if stride == 2:
                self.m1 = nn.Sequential(cbr(32, 16, k=1), cbr(16, 16))
            self.head = nn.Conv2d(16, 1, 1)

        def forward(self, x):
            x1 = self.s1(x)
            x2 = self.s2(x1)
            x3 = self.s3(x2)
            x4 = self.s4(x3)
            y3 = self.m3(torch.cat([x3, nn.functional.interpolate(x4, scale_factor=2.0, mode="nearest")], 1))
            y2 = self.m2(torch.cat([x2, nn.functional.interpolate(y3, scale_factor=2.0, mode="nearest")], 1))
            if stride == 2:
                y2 = self.m1(torch.cat([x1, nn.functional.interpolate(y2, scale_factor=2.0, mode="nearest")], 1))
            return self.head(y2)

    return Det()


def _quad_target(quads: np.ndarray, size: int, geometry: Geometry = Geometry()) -> np.ndarray:
    """Shrunken line cores rasterised on the output grid."""
    g = geometry
    t = np.zeros((size // g.stride, size // g.stride), np.float32)
    for q in quads:
        c = q.mean(0)
        u = (q[1] - q[0] + q[2] - q[3]) / 2
        v = (q[3] - q[0] + q[2] - q[1]) / 2
        core = np.stack(
            [
                c - u * g.shrink_w / 2 - v * g.shrink_h / 2,
                c + u * g.shrink_w / 2 - v * g.shrink_h / 2,
                c + u * g.shrink_w / 2 + v * g.shrink_h / 2,
                c - u * g.shrink_w / 2 + v * g.shrink_h / 2,
            ]
        )
        cv2.fillPoly(t, [np.round(core / g.stride * 8).astype(np.int32)], 1.0, lineType=cv2.LINE_8, shift=3)
    return t


def augment(img: np.ndarray, quads: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random scale/rotation/crop to CROP x CROP at detector scale, plus photometric jitter."""
    h, w = img.shape[:2]
    f = DET_LONG / max(h, w) * rng.uniform(0.6, 1.5)
    ang = rng.normal(0, 6) if rng.random() < 0.8 else rng.uniform(-25, 25)
    M = cv2.getRotationMatrix2D((w / 2, h / 2), ang, f)
    # aim the crop so the line is usually inside
    if len(quads) and rng.random() < 0.85:
        c = cv2.transform(quads[int(rng.integers(len(quads)))].mean(0)[None, None], M)[0, 0]
        tx, ty = c[0] - rng.uniform(0.2, 0.8) * CROP, c[1] - rng.uniform(0.2, 0.8) * CROP
    else:
        tx, ty = rng.uniform(-40, max(-39, w * f - CROP + 40)), rng.uniform(-40, max(-39, h * f - CROP + 40))
    M[:, 2] -= [tx, ty]
    border = cv2.BORDER_REFLECT if rng.random() < 0.5 else cv2.BORDER_CONSTANT
    out = cv2.warpAffine(img, M, (CROP, CROP), flags=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR, borderMode=border)
    q = cv2.transform(quads.reshape(-1, 1, 2), M).reshape(-1, 4, 2) if len(quads) else quads
    o: np.ndarray = out.astype(np.float32)
    if rng.random() < 0.5:
        o = o[..., rng.permutation(3)]
    if rng.random() < 0.2:
        o = np.repeat(o.mean(2, keepdims=True), 3, 2)
    o = o * rng.uniform(0.6, 1.4) + rng.uniform(-40, 40)
    if rng.random() < 0.3:
        o = cv2.GaussianBlur(o, (0, 0), rng.uniform(0.3, 1.5))
    o = np.clip(o + rng.normal(0, rng.uniform(0, 8), o.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.4:
        decoded = cv2.imdecode(
            cv2.imencode(".jpg", o, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])[1], cv2.IMREAD_COLOR
        )
        assert decoded is not None, "a JPEG just encoded decodes"
        o = decoded
    return o, q


def _boxes_to_quads(b: np.ndarray) -> np.ndarray:
    return (
        np.stack([b[:, [0, 1]], b[:, [2, 1]], b[:, [2, 3]], b[:, [0, 3]]], 1).astype(np.float32)
        if len(b)
        else np.zeros((0, 4, 2), np.float32)
    )


def export_onnx(model, path: Path, geometry: Geometry | None = None) -> None:
    """Export with the sigmoid applied; a geometry other than the first detector's is
    stored in the file's metadata, where `vision.detector.Detector` reads it."""
    import torch

    class W(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, x):
            return torch.sigmoid(self.m(x))

    model.eval()
    torch.onnx.export(
        W(model),
        torch.zeros(1, 3, 256, 320),
        str(path),
        input_names=["frame"],
        output_names=["prob"],
        dynamic_axes={"frame": {2: "h", 3: "w"}, "prob": {2: "gh", 3: "gw"}},
        opset_version=17,
        dynamo=False,
    )
    if geometry is not None:
        write_geometry(path, geometry)


def write_geometry(path: Path, geometry: Geometry) -> None:
    """Store `geometry` in the ONNX file's metadata (replacing an earlier one)."""
    import onnx

    m = onnx.load(str(path))
    kept = [p for p in m.metadata_props if p.key != GEOMETRY_KEY]
    del m.metadata_props[:]
    m.metadata_props.extend(kept)
    m.metadata_props.add(key=GEOMETRY_KEY, value=geometry.model_dump_json())
    onnx.save(m, str(path))


def train(
    out_dir: Path,
    steps: int = 3000,
    batch: int = 16,
    seed: int = 0,
    lr: float = 3e-3,
    scenes: str | None = None,
    scene_frac: float = 0.3,
    progress: bool = True,
    eval_every: int = 500,
    stop_at: int | None = None,
    hold_out_dev: bool = False,
    init: str | None = None,
    geometry: Geometry = Geometry(),
) -> Path:
    """Train and export `out_dir/vin_det.onnx`. A `geometry` other than the default (stride 2,
    thinner cores) is written into the model file; its post-processing values are the
    defaults until `tune` chooses them."""
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from vision.evaluate import detection_pr

    torch.set_num_threads(1)
    cv2.setNumThreads(0)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    held = hand_labels.dev_photos() if hold_out_dev else set()
    real = [(img, _boxes_to_quads(b)) for p, img, b in load_split(DATASET, "train") if p.stem not in held]
    syn: list[tuple[np.ndarray, np.ndarray]] = []
    if scenes and Path(scenes).exists():
        z = np.load(scenes)
        imgs, quads = z["imgs"], z["quads"]  # each z[...] access decompresses the whole array
        syn = [(imgs[i], quads[i][None]) for i in range(len(imgs))]
    print(f"real {len(real)} synthetic {len(syn)}", flush=True)
    model = build_model(geometry.stride)
    if init:
        model.load_state_dict(torch.load(init, map_location="cpu"))
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    onnx_path = out_dir / "vin_det.onnx"
    t0 = time.time()
    for step in tqdm(range(1, steps + 1), disable=not progress, mininterval=30):
        xs, ts = [], []
        for _ in range(batch):
            img, q = (
                syn[int(rng.integers(len(syn)))]
                if syn and rng.random() < scene_frac
                else real[int(rng.integers(len(real)))]
            )
            o, qq = augment(img, q, rng)
            xs.append(((o.astype(np.float32) - 128.0) / 64.0).transpose(2, 0, 1))
            ts.append(_quad_target(qq, CROP, geometry))
        x, t = torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ts))[:, None]
        model.train()
        logit = model(x)
        p = torch.sigmoid(logit)
        dice = 1 - (2 * (p * t).sum((1, 2, 3)) + 1) / (p.sum((1, 2, 3)) + t.sum((1, 2, 3)) + 1)
        loss = F.binary_cross_entropy_with_logits(logit, t, pos_weight=torch.tensor(3.0)) + dice.mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        last = step == steps or step == stop_at
        if step % eval_every == 0 or last:
            export_onnx(model, onnx_path, None if geometry == Geometry() else geometry)
            torch.save(model.state_dict(), out_dir / "det.pt")
            r = detection_pr(str(onnx_path), DATASET, "valid")
            print(
                f"step {step} loss {loss.item():.4f} valid recall {r['recall']:.3f} precision {r['precision']:.3f} "
                f"elapsed {time.time() - t0:.0f}s",
                flush=True,
            )
        if last:
            break
    return onnx_path


def tune(onnx_path: Path, hold_out_dev: bool = False) -> Geometry:
    """Choose the post-processing (threshold, height scale, min score) with the best F1 at
    IoU >= 0.5 on every 9th train-split photo (never the valid split; without the dev
    photos when they were held out) and store it in the model file."""
    from vision.detector import Detector
    from vision.evaluate import tune_detector

    g = Detector(str(onnx_path)).geometry
    grid = tune_detector(str(onnx_path), DATASET, exclude=hand_labels.dev_photos() if hold_out_dev else set())
    thr, hs, ms, rec, prec = max(grid, key=lambda r: 2 * r[3] * r[4] / max(1e-9, r[3] + r[4]))
    g = g.model_copy(update={"threshold": thr, "height_scale": hs, "min_score": ms})
    write_geometry(onnx_path, g)
    print(
        f"tuned on train photos: threshold {thr}, height scale {hs}, min score {ms}: recall {rec:.3f} precision {prec:.3f}"
    )
    return g


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--scenes", default=None)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--init", default=None, help="det.pt to start from")
    ap.add_argument("--hold-out-dev", action="store_true", help="leave out the photos of the hand-labelled dev lines")
    ap.add_argument("--stride", type=int, choices=(2, 4), default=4, help="input pixels per heat-map cell")
    ap.add_argument(
        "--shrink-h", type=float, default=Geometry().shrink_h, help="share of a line's height its core marks"
    )
    ap.add_argument(
        "--tune", action="store_true", help="then choose the post-processing on train photos (stored in the file)"
    )
    a = ap.parse_args()
    path = train(
        a.out,
        a.steps,
        seed=a.seed,
        lr=a.lr,
        scenes=a.scenes,
        hold_out_dev=a.hold_out_dev,
        init=a.init,
        geometry=Geometry(stride=a.stride, shrink_h=a.shrink_h),
    )
    if a.tune:
        tune(path, a.hold_out_dev)
