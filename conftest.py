"""pytest's collection: modules whose optional dependencies are missing are not imported
for their doctests."""

import importlib.util

collect_ignore = []
if any(importlib.util.find_spec(name) is None for name in ("onnx", "skl2onnx", "onnxruntime")):
    collect_ignore.append("skrnn/onnx.py")
