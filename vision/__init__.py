"""On-device VIN detection and recognition (opencv + onnxruntime).

`VinReader().read(frame) -> VinRead` is what the lane calls. Importing this
package is light: no torch, no onnxruntime until a reader is made, and
`VinRead` (the read's one shape) needs only pydantic.
"""

from typing import Any

from vision.vin_read import VinRead

__all__ = ["VinRead", "VinReader"]


def __getattr__(name: str) -> Any:
    if name == "VinReader":  # loaded on first use: the reader pulls in numpy, OpenCV and ONNX Runtime
        from vision.reader import VinReader

        return VinReader
    raise AttributeError(name)
