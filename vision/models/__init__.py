"""Shipped ONNX models and their calibration (see vision/MODEL_CARD.md)."""
