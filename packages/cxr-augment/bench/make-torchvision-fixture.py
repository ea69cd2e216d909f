"""Writes src/fixtures/torchvision-rotate.json: torchvision's rotate / hflip of a small image, the
reference the geometry tests compare against. Run with /usr/bin/python3 (torch 1.13, torchvision 0.14)."""
import json, pathlib
import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

torch.manual_seed(0)
h, w = 12, 16
img = torch.rand(1, h, w)
cases = []
# fill=None: grid_sample's zero padding, i.e. a constant fill of 0 blended bilinearly at the edges.
# (fill=0.0 on tensors multiplies edge pixels by the in-bounds fraction a second time; PIL images,
# which MoCo-CXR rotated, do not.) RandomRotation's default interpolation is NEAREST.
for angle, flip, mode in [(7.5, False, "bilinear"), (-10.0, True, "bilinear"), (33.0, False, "bilinear"), (7.5, False, "nearest")]:
    x = F.hflip(img) if flip else img
    interp = InterpolationMode.BILINEAR if mode == "bilinear" else InterpolationMode.NEAREST
    y = F.rotate(x, angle, interpolation=interp, fill=None)
    cases.append({"angle": angle, "flip": flip, "interpolation": mode, "output": [round(v, 7) for v in y.flatten().tolist()]})
out = {"torch": torch.__version__, "height": h, "width": w, "input": [round(v, 7) for v in img.flatten().tolist()], "cases": cases}
path = pathlib.Path(__file__).resolve().parent.parent / "src" / "fixtures" / "torchvision-rotate.json"
path.write_text(json.dumps(out) + "\n")
print("wrote", path)
