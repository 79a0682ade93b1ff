"""Several recognisers as one ONNX file that averages their per-frame probabilities.

Why: recognisers from one lineage (v3s grown from one v2 and trained on) place
each symbol on the same CTC frames (97% of frames agree on their best class), so the
mean of their probabilities is a CTC output like any other, and confident mistakes of
one member are outvoted where the other reads the symbol. One file keeps the reader,
the decoder and the calibration unchanged: it is just a `vin_rec.onnx`.

Training time only (needs the `onnx` package); the result runs on onnxruntime alone.

    python -m vision.ensemble OUT.onnx MEMBER.onnx MEMBER.onnx [...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnx

METADATA_KEY = "passlane.ensemble"


def _width(model: onnx.ModelProto) -> int:
    return int(model.graph.input[0].type.tensor_type.shape.dim[3].dim_value)


def merge(members: list[Path], out: Path) -> Path:
    """Write `out`: one graph that feeds its input to every member and outputs the mean of
    their probabilities. Members must share input width (the crop they are fed)."""
    import onnx
    from onnx import compose, helper, numpy_helper

    if len(members) < 2:
        raise ValueError("an ensemble needs at least two recognisers")
    models = [onnx.load(str(p)) for p in members]
    widths = {_width(m) for m in models}
    if len(widths) != 1:
        raise ValueError(f"members read crops of different widths: {sorted(widths)}")
    first = models[0].graph
    nodes, inits, outs = [], [], []
    for k, model in enumerate(models):
        g = compose.add_prefix(model, f"m{k}_").graph
        source = g.input[0].name
        for node in g.node:
            for i, name in enumerate(node.input):
                if name == source:
                    node.input[i] = first.input[0].name
            nodes.append(node)
        inits.extend(g.initializer)
        outs.append(g.output[0].name)
    inits.append(numpy_helper.from_array(np.array(1.0 / len(models), dtype=np.float32), "ensemble_weight"))
    nodes += [
        helper.make_node("Sum", outs, ["ensemble_sum"]),
        helper.make_node("Mul", ["ensemble_sum", "ensemble_weight"], [first.output[0].name]),
    ]
    graph = helper.make_graph(nodes, "vin_rec_ensemble", [first.input[0]], [first.output[0]], inits)
    opsets: dict[str, int] = {}
    for model in models:
        for o in model.opset_import:
            opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    merged = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())])
    merged.ir_version = max(m.ir_version for m in models)
    helper.set_model_props(merged, {METADATA_KEY: json.dumps([p.name for p in members])})
    onnx.checker.check_model(merged)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(merged, str(out))
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("members", type=Path, nargs="+")
    a = ap.parse_args()
    path = merge(a.members, a.out)
    print(f"{path} ({path.stat().st_size / 1e6:.2f} MB): mean of {', '.join(str(m) for m in a.members)}")
