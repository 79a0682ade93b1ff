"""One way to open a shipped model: ONNX Runtime on the CPU, a fixed number of threads, sequential execution."""

from __future__ import annotations

from typing import Any


def cpu_session(model_path: str, threads: int = 1) -> Any:
    """An `onnxruntime.InferenceSession` on the CPU with `threads` intra-op threads (1 on a lane: the camera thread owns a core)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # The arena keeps the largest activations ever needed (a full 1280x960 frame) for good: ~11 MB RSS of the
    # lane's budget on a 2 GB Pi. Without it, buffers go back to malloc; a read measured no slower (bench lane).
    so.enable_cpu_mem_arena = False
    return ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
