"""Train the VIN-line recogniser (small CNN + CTC) on synthetic lines; export ONNX.

Training only: imports torch. Reproducible from `seed`: every training image
is `render_line(random_vin(rng), seed')` with seeds derived from the step.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import cv2
import numpy as np

from vision.preprocess import REC_H, REC_W, prep_crop
from vision.rules import ALPHABET
from vision.synth import STYLES, random_vin, render_line

TRAIN_SEED_BASE = 10_000_000  # training seeds live above this; bench/fixtures below
EVAL_SEED_BASE = 500_000
STATE_SEED_BASE = 961_000_000  # lines that set a rebuilt model's BatchNorm statistics (no other use)


ARCH_WIDTH = {"v1": 160, "v2": 256, "v3": 256, "v4": 256}  # recogniser input width per architecture


V2_WIDTHS = (16, 32, 64, 64, 128, 128, 160)  # v2's channels per conv layer; v4 has 1.5x each


def build_model(arch: str = "v1"):
    """v1: 244 k params, 32x160 in, 40 CTC frames (shipped until 2026-11-28).
    v2: 32x256 in, 64 frames, wider channels, dilated sequence head: ~15 px per
    symbol instead of ~9 so dot-peen dots and narrow fonts stop aliasing.
    """
    import torch.nn as nn

    def cbr(i, o, k=3, p=1, d=1):
        return [nn.Conv2d(i, o, k, 1, p, dilation=d, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)]

    if arch in ("v2", "v3", "v4"):
        w = tuple(c * 3 // 2 for c in V2_WIDTHS) if arch == "v4" else V2_WIDTHS
        deep = arch == "v3"

        class RecV2(nn.Module):
            """v3 is v2 plus one residual 3x3 block at 64 and at 128 channels and two more
            dilated sequence layers (~1.6x the compute and weights; vision/quantize.py makes it
            small). Each new block's last BatchNorm starts at zero, so v2 weights load into v3
            (strict=False) and the network starts as exactly that v2 model."""

            def __init__(self) -> None:
                super().__init__()
                c16, c32, c64, c64b, c128, c128b, c160 = w
                self.f = nn.Sequential(
                    *cbr(1, c16),
                    nn.MaxPool2d(2),  # 16 x 128
                    *cbr(c16, c32),
                    nn.MaxPool2d(2),  # 8 x 64
                    *cbr(c32, c64),
                    *cbr(c64, c64b),
                    nn.MaxPool2d((2, 1)),  # 4 x 64
                    *cbr(c64b, c128),
                    *cbr(c128, c128b),
                    nn.MaxPool2d((2, 1)),  # 2 x 64
                    *cbr(c128b, c160, (2, 1), 0),  # 1 x 64
                )

                def c1(d):
                    return nn.Sequential(
                        nn.Conv1d(c160, c160, 3, 1, d, dilation=d, bias=False),
                        nn.BatchNorm1d(c160),
                        nn.ReLU(inplace=True),
                    )

                self.seq1 = c1(1)
                self.seq2 = c1(2)
                self.seq3 = c1(4)
                self.out = nn.Conv1d(c160, len(ALPHABET) + 1, 1)
                if deep:

                    def res2d(c):
                        return nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

                    self.res64, self.res128 = res2d(c64b), res2d(c128b)
                    self.seq4, self.seq5 = c1(8), c1(1)
                    for bn in (self.res64[1], self.res128[1], self.seq4[1], self.seq5[1]):
                        nn.init.zeros_(bn.weight)

            def forward(self, x):  # (N,1,32,256) -> logits (N, 34, 64)
                layers: tuple[nn.Module, ...]
                if deep:
                    import torch

                    y = self.f[:14](x)  # 8 x 64
                    y = torch.relu(y + self.res64(y))
                    y = self.f[14:21](y)  # 4 x 64
                    y = torch.relu(y + self.res128(y))
                    y = self.f[21:](y).squeeze(2)
                    layers = (self.seq1, self.seq2, self.seq3, self.seq4, self.seq5)
                else:
                    y = self.f(x).squeeze(2)
                    layers = (self.seq1, self.seq2, self.seq3)
                for layer in layers:
                    y = y + layer(y)
                return self.out(y)

        return RecV2()

    class Rec(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.f = nn.Sequential(
                *cbr(1, 16),
                nn.MaxPool2d(2),  # 16 x 80
                *cbr(16, 32),
                nn.MaxPool2d(2),  # 8 x 40
                *cbr(32, 64),
                *cbr(64, 64),
                nn.MaxPool2d((2, 1)),  # 4 x 40
                *cbr(64, 96),
                nn.MaxPool2d((2, 1)),  # 2 x 40
                *cbr(96, 128, (2, 1), 0),  # 1 x 40
            )
            self.seq = nn.Sequential(
                nn.Conv1d(128, 128, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv1d(128, 128, 3, 1, 1), nn.ReLU(inplace=True)
            )
            self.out = nn.Conv1d(128, len(ALPHABET) + 1, 1)

        def forward(self, x):  # (N,1,32,160) -> logits (N, 34, 40)
            y = self.f(x).squeeze(2)
            return self.out(y + self.seq(y))

    return Rec()


class _Softmaxed:
    @staticmethod
    def wrap(model):
        import torch.nn as nn

        class W(nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, x):  # (N, T, C) probabilities
                return self.m(x).permute(0, 2, 1).softmax(-1)

        return W(model)


def state_from_onnx(onnx_path: Path, arch: str, crops: np.ndarray) -> dict:
    """A torch state dict for `arch` rebuilt from an exported recogniser, so training can go
    on from a shipped model (checkpoints are not shipped). The exporter folded every
    BatchNorm into its conv; each BatchNorm is set back so that it passes its input through
    on data like `crops` (N, 1, H, W): its statistics are the folded conv's output
    statistics on them and its scale and shift undo them. Eval-mode output is the ONNX
    model's exactly; in training the batch statistics stay close to these."""
    import onnx
    import torch
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_path)).graph
    init = {i.name: numpy_helper.to_array(i).copy() for i in graph.initializer}
    convs = [(n.input[1], n.input[2] if len(n.input) > 2 else None) for n in graph.node if n.op_type == "Conv"]
    model = build_model(arch)
    pairs = [
        (m, bn)
        for m, bn in zip(model.modules(), list(model.modules())[1:])
        if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))
        and isinstance(bn, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))
    ]
    assert len(pairs) + 1 == len(convs), (len(pairs), len(convs))
    captured: dict[int, torch.Tensor] = {}
    hooks = []
    with torch.no_grad():
        for k, ((conv, bn), (w, b)) in enumerate(zip(pairs, convs)):
            conv.weight.copy_(torch.from_numpy(init[w]))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(init[b]))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
            hooks.append(conv.register_forward_hook(lambda _m, _i, out, k=k: captured.__setitem__(k, out)))
        model.out.weight.copy_(torch.from_numpy(init[convs[-1][0]]))
        model.out.bias.copy_(torch.from_numpy(init[convs[-1][1]]))
        model.eval()
        model(torch.from_numpy(crops))
        for h in hooks:
            h.remove()
        for k, (_conv, bn) in enumerate(pairs):
            dims = [0] + list(range(2, captured[k].dim()))
            mean, var = captured[k].mean(dims), captured[k].var(dims, unbiased=False)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.add_(mean)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)
    return model.state_dict()


def average_checkpoints(
    paths: list[Path],
    arch: str,
    bn_seed: int = 960_000_000,
    bn_batches: int = 20,
    extra: list[tuple[np.ndarray, str]] | None = None,
    extra_frac: float = 0.0,
) -> dict:
    """The mean of several checkpoints' weights (late snapshots of one run lie in one basin,
    and their mean is often better than each), with the BatchNorm statistics measured again
    on `bn_batches` fresh batches, since the mean of statistics is not the statistic of the
    mean network. Batches come from seeds `bn_seed`+ (no training, bench or choosing set)."""
    import torch

    states = [torch.load(p, map_location="cpu") for p in paths]
    mean = {k: (sum(s[k].float() for s in states) / len(states)).to(states[0][k].dtype) for k in states[0]}
    model = build_model(arch)
    model.load_state_dict(mean)
    bns = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # a plain average over the batches below
    model.train()
    width = ARCH_WIDTH[arch]
    with torch.no_grad():
        for b in range(bn_batches):
            x = np.stack([_sample(bn_seed + b * 64 + k, extra or [], extra_frac, 0.3, width)[0] for k in range(64)])
            model(torch.from_numpy(x))
    return model.state_dict()


def widen_v2(state: dict, target: dict, seed: int, noise: float = 1e-3) -> dict:
    """A v2 state dict widened to the shapes of `target` (v4) without changing the function
    (Net2WiderNet): each new channel copies an old one, and a layer reading a copied channel
    divides that input's weights by the number of copies. The residual sequence stream keeps
    one mapping from the last conv through every sequence layer. A little noise on the copies
    lets them part during training."""
    import torch

    g = torch.Generator().manual_seed(seed)
    convs = [k for k in state if k.startswith("f.") and k.endswith(".weight") and state[k].dim() == 4]

    def mapping(old: int, new: int) -> torch.Tensor:
        extra = torch.randint(0, old, (new - old,), generator=g)
        return torch.cat([torch.arange(old), extra])

    prev: torch.Tensor | None = None
    out: dict = {}

    def put(conv_key: str, bn_prefix: str | None, m_out: torch.Tensor | None, m_in: torch.Tensor | None) -> None:
        wgt = state[conv_key]
        if m_in is not None:
            counts = torch.bincount(m_in, minlength=wgt.shape[1]).float()
            wgt = wgt[:, m_in] / counts[m_in].view(1, -1, *([1] * (wgt.dim() - 2)))
        if m_out is not None:
            copies = (torch.arange(len(m_out)) >= state[conv_key].shape[0]).float()  # rows past the originals
            wgt = wgt[m_out]
            wgt = wgt + noise * wgt.std() * torch.randn(wgt.shape, generator=g) * copies.view(
                -1, *([1] * (wgt.dim() - 1))
            )
        out[conv_key] = wgt
        if bn_prefix is not None and m_out is not None:
            for name in ("weight", "bias", "running_mean", "running_var"):
                out[f"{bn_prefix}.{name}"] = state[f"{bn_prefix}.{name}"][m_out]
            out[f"{bn_prefix}.num_batches_tracked"] = state[f"{bn_prefix}.num_batches_tracked"]

    for k in convs:  # f.0, f.4, f.8, f.11, f.15, f.18, f.22: conv then its BatchNorm at index + 1
        idx = int(k.split(".")[1])
        m = mapping(state[k].shape[0], target[k].shape[0])
        put(k, f"f.{idx + 1}", m, prev)
        prev = m
    stream = prev
    for s in ("seq1", "seq2", "seq3"):
        put(f"{s}.0.weight", f"{s}.1", stream, stream)
    put("out.weight", None, None, stream)
    out["out.bias"] = state["out.bias"]
    assert set(out) == set(target) and all(out[k].shape == target[k].shape for k in target)
    return out


def _initial_state(init: str, arch: str) -> dict:
    """The weights a run starts from: a checkpoint (.pt), or a float v2 recogniser exported
    by `export_onnx` (earlier shipped float models are in git history: vision/MODEL_CARD.md names
    the commits), rebuilt by `state_from_onnx`; `train` grows it into v3 or v4 like a
    v2 checkpoint. Checkpoints are not shipped, so this is how a run starts from a model that was."""
    import onnx
    import torch

    if not init.endswith(".onnx"):
        return torch.load(init, map_location="cpu")
    if arch == "v1":
        raise SystemExit("--init FILE.onnx rebuilds a 32x256 recogniser: use --arch v2, v3 or v4")
    if any(n.op_type == "DequantizeLinear" for n in onnx.load(init).graph.node):
        raise SystemExit(
            f"{init} is quantised (int8): start from a float export (a run's vin_rec.onnx, "
            "or an earlier shipped float model from git history: see vision/MODEL_CARD.md)"
        )
    crops = np.stack([_sample(STATE_SEED_BASE + k, [], 0.0, 0.3, ARCH_WIDTH["v2"])[0] for k in range(256)])
    return state_from_onnx(Path(init), "v2", crops)


def export_onnx(model, path: Path, width: int = REC_W) -> None:
    import torch

    model.eval()
    w = _Softmaxed.wrap(model)
    x = torch.zeros(1, 1, REC_H, width)
    torch.onnx.export(
        w,
        x,
        str(path),
        input_names=["crop"],
        output_names=["probs"],
        dynamic_axes={"crop": {0: "n"}, "probs": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )


def _sample(
    seed: int,
    extra: list[tuple[np.ndarray, str]],
    extra_frac: float,
    photo_frac: float = 0.0,
    width: int = REC_W,
    style_p: tuple[float, ...] | None = None,
    strong_aug: bool = False,
) -> tuple[np.ndarray, str]:
    rng = np.random.default_rng(seed)
    if extra and rng.random() < extra_frac:
        img, vin = extra[int(rng.integers(len(extra)))]
        img = _augment_real_strong(img, rng) if strong_aug else _augment_real(img, rng)
        return prep_crop(img, width), vin
    vin = random_vin(rng)
    photo = photo_frac > 0 and (seed * 2654435761 % 1000) / 1000 < photo_frac  # no draw from rng: stage 1 unchanged
    style = str(rng.choice(STYLES, p=style_p)) if style_p is not None and not photo else None
    return prep_crop(render_line(vin, seed, photo=photo, style=style), width), vin


def _augment_real(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Light jitter for pseudo-labelled real crops: margins, blur, contrast."""
    h, w = img.shape[:2]
    dx0, dx1 = rng.integers(0, max(1, w // 20), 2)
    dy0, dy1 = rng.integers(0, max(1, h // 6), 2)
    img = img[dy0 : h - dy1 or h, dx0 : w - dx1 or w]
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.3, 1.0))
    if rng.random() < 0.3:
        img = 255 - img
    return img


def _augment_real_strong(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What another photo of the same plate would change: a looser or tighter cut, a small
    turn and shear, fewer pixels or a little blur (never both, and scaled to the crop, so
    the line stays legible), other light, noise and JPEG. A long run sees each real line
    hundreds of times; this keeps it from learning them by heart."""
    g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    h, w = g.shape[:2]
    if rng.random() < 0.4:  # looser cut: the surroundings are not known, so repeat the edge
        px, py = (rng.uniform(0, 0.08) * w), (rng.uniform(0, 0.15) * h)
        g = cv2.copyMakeBorder(g, int(py), int(py), int(px), int(px), cv2.BORDER_REPLICATE)
        h, w = g.shape[:2]
    dx0, dx1 = rng.integers(0, max(1, w // 20), 2)  # tighter cut
    dy0, dy1 = rng.integers(0, max(1, h // 6), 2)
    g = g[dy0 : h - dy1 or h, dx0 : w - dx1 or w]
    h, w = g.shape[:2]
    if rng.random() < 0.5:
        ang, shear = rng.normal(0, 1.2), rng.normal(0, 0.06)
        m = cv2.getRotationMatrix2D((w / 2, h / 2), ang, 1.0)
        m[0, 1] += shear
        m[0, 2] -= shear * h / 2
        g = cv2.warpAffine(g, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    soften = rng.random()
    if soften < 0.2:
        g = cv2.GaussianBlur(g, (0, 0), rng.uniform(0.3, max(0.35, 0.03 * h)))
    elif soften < 0.45 and h >= 20:  # the same plate from further away, the crop kept >= 16 rows
        f = rng.uniform(max(0.6, 16 / h), 0.95)
        g = cv2.resize(
            cv2.resize(g, (max(8, int(w * f)), max(6, int(h * f))), interpolation=cv2.INTER_AREA),
            (w, h),
            interpolation=cv2.INTER_LINEAR,
        )
    if rng.random() < 0.5:
        gamma = np.exp(rng.normal(0, 0.2))
        lo, hi = rng.uniform(0, 40), rng.uniform(215, 255)
        g = (lo + (hi - lo) * (g.astype(np.float32) / 255.0) ** gamma).astype(np.uint8)
    if rng.random() < 0.3:
        g = np.clip(g.astype(np.float32) + rng.normal(0, rng.uniform(2, 8), g.shape), 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        _, buf = cv2.imencode(".jpg", g, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(45, 90))])
        decoded = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        assert decoded is not None, "a JPEG just encoded decodes"
        g = decoded
    if rng.random() < 0.3:
        g = 255 - g
    return g


def load_extra(csv_path: str | None) -> list[tuple[np.ndarray, str]]:
    """Pseudo-labelled real crops: CSV with columns file, vin (file relative to the CSV)."""
    if not csv_path:
        return []
    base = Path(csv_path).parent
    out = []
    with open(csv_path) as fh:
        for row in csv.DictReader(fh):
            img = cv2.imread(str(base / row["file"]))
            if img is not None:
                out.append((img, row["vin"]))
    return out


def train(
    out_dir: Path,
    steps: int = 6000,
    batch: int = 64,
    seed: int = 0,
    lr: float = 2e-3,
    extra_csv: str | None = None,
    extra_frac: float = 0.25,
    init: str | None = None,
    export_every: int = 500,
    progress: bool = True,
    stop_at: int | None = None,
    photo_frac: float = 0.0,
    arch: str = "v1",
    style_p: tuple[float, ...] | None = None,
    strong_aug: bool = False,
    keep_every: int | None = None,
) -> Path:
    """Train and export `out_dir/vin_rec.onnx`; returns its path.

    `stop_at` ends the run early (the learning-rate schedule still spans
    `steps`): that is how the shipped stage-1 model was cut short on a busy
    machine before its pseudo-label fine-tune, which anneals the rate.
    `style_p` weights the synthetic styles (default: the renderer's own mix),
    `strong_aug` jitters the real crops harder (long runs), and `keep_every`
    keeps a copy of the weights every so many steps (`rec_{step}.pt`).
    """
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, IterableDataset
    from tqdm import tqdm

    torch.set_num_threads(1)
    cv2.setNumThreads(0)  # an OpenCV thread pool does not survive the DataLoader's fork
    torch.manual_seed(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    extra = load_extra(extra_csv)
    width = ARCH_WIDTH[arch]

    class Stream(IterableDataset):
        def __iter__(self):
            torch.set_num_threads(1)
            base = TRAIN_SEED_BASE * (1 + seed)
            for k in range(steps * batch):
                yield _sample(base + k, extra, extra_frac, photo_frac, width, style_p, strong_aug)

    def collate(items):
        x = torch.from_numpy(np.stack([i[0] for i in items]))
        tg = torch.tensor([ALPHABET.index(c) + 1 for _, v in items for c in v], dtype=torch.long)
        return x, tg, [v for _, v in items]

    model = build_model(arch)
    if init:
        state = _initial_state(init, arch)
        if arch == "v4" and state["f.0.weight"].shape[0] == V2_WIDTHS[0]:
            state = widen_v2(state, model.state_dict(), seed)  # v2 -> v4: the same function, 1.5x the channels
        if arch == "v3" and not any(k.startswith("res64.") for k in state):
            missing = model.load_state_dict(
                state, strict=False
            ).missing_keys  # v2 -> v3: the new blocks start as identity
            assert all(k.split(".")[0] in ("res64", "res128", "seq4", "seq5") for k in missing), missing
        else:
            model.load_state_dict(state)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.05)
    loader = DataLoader(Stream(), batch_size=batch, collate_fn=collate, num_workers=1, prefetch_factor=4)
    # fixed eval set (seeds never used in training)
    ev = [_sample(EVAL_SEED_BASE + k, [], 0.0, width=width) for k in range(300)]
    ex = torch.from_numpy(np.stack([e[0] for e in ev]))
    onnx_path = out_dir / "vin_rec.onnx"
    t0 = time.time()
    bar = tqdm(loader, total=steps, disable=not progress, mininterval=10)
    for step, (x, tg, _vins) in enumerate(bar, 1):
        model.train()
        logits = model(x)  # N, C, T
        lp = logits.permute(2, 0, 1).log_softmax(-1)
        T = lp.shape[0]
        loss = F.ctc_loss(
            lp,
            tg,
            torch.full((x.shape[0],), T, dtype=torch.long),
            torch.full((x.shape[0],), 17, dtype=torch.long),
            zero_infinity=True,
        )
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
        last = step == steps or step == stop_at
        if step % export_every == 0 or last:
            model.eval()
            with torch.no_grad():
                p = model(ex).argmax(1).numpy()
            ok = sum(_greedy(p[i]) == ev[i][1] for i in range(len(ev)))
            print(
                f"step {step} loss {loss.item():.4f} eval_exact {ok / len(ev):.4f} elapsed {time.time() - t0:.0f}s",
                flush=True,
            )
            torch.save(model.state_dict(), out_dir / "rec.pt")
            if keep_every and step % keep_every == 0:
                torch.save(model.state_dict(), out_dir / f"rec_{step}.pt")
            export_onnx(model, onnx_path, width)
        if last:
            break
    return onnx_path


def _greedy(ids: np.ndarray) -> str:
    out, prev = [], 0
    for i in ids:
        if i != prev and i != 0:
            out.append(ALPHABET[i - 1])
        prev = i
    return "".join(out)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("out", type=Path)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--extra", default=None)
    ap.add_argument("--init", default=None)
    ap.add_argument("--extra-frac", type=float, default=0.3)
    ap.add_argument("--stop-at", type=int, default=None)
    ap.add_argument("--photo-frac", type=float, default=0.0)
    ap.add_argument("--arch", choices=sorted(ARCH_WIDTH), default="v1")
    ap.add_argument(
        "--style-p",
        type=lambda t: tuple(float(v) for v in t.split(",")),
        default=None,
        help=f"weights of the synthetic styles {','.join(STYLES)} (default: the renderer's)",
    )
    ap.add_argument("--strong-aug", action="store_true", help="jitter the real crops harder (long runs)")
    ap.add_argument("--keep-every", type=int, default=None, help="keep rec_{step}.pt every so many steps")
    a = ap.parse_args()
    train(
        a.out,
        a.steps,
        a.batch,
        a.seed,
        a.lr,
        a.extra,
        a.extra_frac,
        init=a.init,
        stop_at=a.stop_at,
        photo_frac=a.photo_frac,
        arch=a.arch,
        style_p=a.style_p,
        strong_aug=a.strong_aug,
        keep_every=a.keep_every,
    )
