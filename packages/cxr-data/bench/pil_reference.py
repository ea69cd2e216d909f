"""The same job as buildImageCache, done the PyTorch way: decode, grey, resize short side, centre crop, into uint8.

Usage: /usr/bin/python3 bench/pil_reference.py <file-list.txt> <size> [--methods pil_1proc,pil_dataloader_2workers,torchvision_io_1proc]
Prints JSON: images/s for PIL in one process, PIL in a 2-worker torch DataLoader, and torchvision.io (all three by default).
"""
import json, sys, time
import numpy as np
import torch
import torchvision
from PIL import Image
from torchvision.io import ImageReadMode, read_image
import torchvision.transforms.functional as TF

torch.set_num_threads(2)
files = [l.strip() for l in open(sys.argv[1]) if l.strip()]
size = int(sys.argv[2])
methods = sys.argv[sys.argv.index('--methods') + 1].split(',') if '--methods' in sys.argv else ['pil_1proc', 'pil_dataloader_2workers', 'torchvision_io_1proc']


def pil_one(path):
    im = Image.open(path).convert('L')
    w, h = im.size
    s = min(w, h)
    im = im.resize((max(size, round(w * size / s)), max(size, round(h * size / s))), Image.BILINEAR)
    w, h = im.size
    left, top = (w - size) // 2, (h - size) // 2
    return np.asarray(im.crop((left, top, left + size, top + size)), dtype=np.uint8)


class Files(torch.utils.data.Dataset):
    def __len__(self):
        return len(files)

    def __getitem__(self, i):
        return torch.from_numpy(pil_one(files[i]).copy())


out = {'images': len(files), 'size': size, 'torch': torch.__version__, 'torchvision': torchvision.__version__}
cache = np.empty((len(files), size, size), dtype=np.uint8)

for f in files[:32]:
    pil_one(f)  # warm-up: imports, PIL's plugin registry
if 'pil_1proc' in methods:
    t = time.perf_counter()
    for i, f in enumerate(files):
        cache[i] = pil_one(f)
    out['pil_1proc'] = len(files) / (time.perf_counter() - t)

if 'pil_dataloader_2workers' in methods:
    t = time.perf_counter()
    loader = torch.utils.data.DataLoader(Files(), batch_size=64, num_workers=2)
    i = 0
    for batch in loader:
        cache[i:i + len(batch)] = batch.numpy()
        i += len(batch)
    out['pil_dataloader_2workers'] = len(files) / (time.perf_counter() - t)

if 'torchvision_io_1proc' in methods:
    t = time.perf_counter()
    for i, f in enumerate(files):
        x = read_image(f, ImageReadMode.GRAY)
        x = TF.resize(x, size, antialias=True)
        cache[i] = TF.center_crop(x, size)[0].numpy()
    out['torchvision_io_1proc'] = len(files) / (time.perf_counter() - t)
print(json.dumps(out))
