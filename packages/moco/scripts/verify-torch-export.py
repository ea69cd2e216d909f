"""Loads an exported backbone-torchvision.safetensors into torchvision's resnet18 with strict=True.

  /usr/bin/python3 packages/moco/scripts/verify-torch-export.py OUT/backbone-torchvision.safetensors [input.f32 N H W]

The classifier is removed (fc = Identity), so the state dict must hold exactly the backbone's
keys. With an input file (float32 NCHW, little-endian) it prints the eval-mode features as JSON.
Reads safetensors with numpy (the safetensors package is not needed).
"""
import json
import struct
import sys

import numpy as np
import torch
import torchvision

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64, "F16": np.float16, "U8": np.uint8}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n :]
    out = {}
    for name, e in header.items():
        a, b = e["data_offsets"]
        arr = np.frombuffer(data[a:b], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out, meta


state, meta = read_safetensors(sys.argv[1])
model = torchvision.models.resnet18()
model.fc = torch.nn.Identity()
result = model.load_state_dict(state, strict=True)
report = {"loaded": len(state), "missing": list(result.missing_keys), "unexpected": list(result.unexpected_keys), "layout": meta.get("layout")}
if len(sys.argv) > 2:
    n, h, w = (int(v) for v in sys.argv[3:6])
    x = torch.from_numpy(np.fromfile(sys.argv[2], dtype="<f4").reshape(n, 3, h, w))
    model.eval()
    with torch.no_grad():
        report["features"] = model(x).tolist()
print(json.dumps(report))
