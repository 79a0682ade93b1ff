"""On-device VIN detection and recognition (opencv + onnxruntime)."""
