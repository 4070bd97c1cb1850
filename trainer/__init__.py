"""Resonance trainer: metric learning, HPO and ONNX export (needs the ``train`` extra)."""
