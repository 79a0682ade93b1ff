"""On-device VIN detection and recognition (opencv + onnxruntime).

`VinReader().read(frame) -> VinRead` is what the lane calls. Importing this
package is light: no torch, and the models load only when a reader is made.
"""

from vision.reader import VinRead, VinReader

__all__ = ["VinRead", "VinReader"]
