#!/usr/bin/python3
"""Reference weights, inputs and torchvision outputs for @moco-cxr/backbones parity tests.

Run with Debian's torch (not the pyenv python3 on PATH):

  /usr/bin/python3 packages/backbones/tools/torch-fixtures.py            # small fixtures -> src/fixtures/
  /usr/bin/python3 packages/backbones/tools/torch-fixtures.py full DIR   # full-size resnet18/densenet121 -> DIR
  /usr/bin/python3 packages/backbones/tools/torch-fixtures.py check-export FILE NAME IO  # torch loads our export

Models are torchvision's own classes: the small ResNets reuse torchvision's ResNet, BasicBlock,
Bottleneck and _make_layer (only the stem and stage widths are narrowed), the small DenseNet is
torchvision's DenseNet with growth_rate/block_config/num_init_features/bn_size. So the key names
and the forward code are torchvision's. Tensors are written as .safetensors (written here by hand:
the safetensors package is not installed) and as .pth via torch.save.
"""
import collections
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, '..', 'src', 'fixtures')

DTYPES = {torch.float32: 'F32', torch.int64: 'I64', torch.int32: 'I32', torch.float16: 'F16', torch.float64: 'F64'}


def write_safetensors(path, tensors, metadata=None):
    header = {}
    if metadata:
        header['__metadata__'] = metadata
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {'dtype': DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    js = json.dumps(header, separators=(',', ':'))
    js += ' ' * ((8 - (8 + len(js)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(js)))
        f.write(js.encode())
        for b in blobs:
            f.write(b)


class NarrowResNet(ResNet):
    """torchvision's ResNet with a narrower stem and stages; same modules, names and forward."""

    def __init__(self, block, layers, widths, stem, num_classes=3):
        super().__init__(block, layers, num_classes=num_classes)
        self.inplanes = stem
        self.conv1 = nn.Conv2d(3, stem, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)


def randomise_bn(model, gen):
    """Non-trivial BN affine parameters and running statistics, so eval mode tests them."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = 1 + 0.2 * torch.randn(n, generator=gen)
            m.bias.data = 0.2 * torch.randn(n, generator=gen)
            m.running_mean.data = 0.2 * torch.randn(n, generator=gen)
            m.running_var.data = 0.5 + torch.rand(n, generator=gen)
            m.num_batches_tracked.data = torch.tensor(7)


def features_of(model):
    """Drop the classifier: the forward then returns pooled features (what embed() returns)."""
    if isinstance(model, ResNet):
        model.fc = nn.Identity()
    else:
        model.classifier = nn.Identity()
    return model


def nhwc(x):
    return x.permute(0, 2, 3, 1).contiguous()


def torch_state(model):
    return collections.OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())


def make_fixture(name, model, x, gen, grad_keys):
    """Writes <name>.safetensors / .pth (weights) and <name>-io.safetensors (input, outputs, stats, grads)."""
    state = torch_state(model)
    # Eval-mode features.
    feat_model = features_of(model)
    feat_model.eval()
    with torch.no_grad():
        eval_out = feat_model(x)
    # One training-mode step: batch statistics, running-stat update, gradient of a fixed projection.
    feat_model.train()
    proj = torch.randn(eval_out.shape[1], generator=gen)
    train_out = feat_model(x)
    loss = (train_out * proj).sum()
    loss.backward()
    params = dict(feat_model.named_parameters())
    io = collections.OrderedDict()
    io['input_nhwc'] = nhwc(x)
    io['eval_features'] = eval_out
    io['train_features'] = train_out.detach()
    io['projection'] = proj
    after = feat_model.state_dict()
    for k, v in after.items():
        if 'running_' in k or 'num_batches_tracked' in k:
            io['after_train.' + k] = v
    for k in grad_keys:
        g = params[k].grad
        io['grad.' + k] = g.permute(2, 3, 1, 0).contiguous() if g.dim() == 4 else g  # HWIO like our variables
    return state, io


def small_fixtures():
    os.makedirs(FIXTURES, exist_ok=True)
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)

    # BasicBlock ResNet with resnet18 naming: layer1 has a downsampled block 0 and a plain block 1.
    resnet = NarrowResNet(BasicBlock, [2, 1, 1, 1], widths=[8, 16, 16, 16], stem=16)
    randomise_bn(resnet, gen)
    x = torch.randn(3, 3, 33, 33, generator=gen)
    state, io = make_fixture('resnet-mini', resnet, x, gen,
                             ['conv1.weight', 'bn1.weight', 'bn1.bias', 'layer1.0.conv2.weight', 'layer1.0.downsample.1.weight', 'layer4.0.bn2.bias'])
    write_safetensors(os.path.join(FIXTURES, 'resnet-mini.safetensors'), state, {'format': 'pt'})
    torch.save(state, os.path.join(FIXTURES, 'resnet-mini.pth'))
    write_safetensors(os.path.join(FIXTURES, 'resnet-mini-io.safetensors'), io)

    # Bottleneck ResNet with resnet50 naming.
    bott = NarrowResNet(Bottleneck, [1, 1, 1, 1], widths=[4, 8, 8, 8], stem=8)
    randomise_bn(bott, gen)
    state, io = make_fixture('resnet-bottleneck-mini', bott, x, gen, ['conv1.weight', 'layer2.0.conv2.weight', 'layer4.0.bn3.weight'])
    write_safetensors(os.path.join(FIXTURES, 'resnet-bottleneck-mini.safetensors'), state)
    torch.save(state, os.path.join(FIXTURES, 'resnet-bottleneck-mini.pth'))
    write_safetensors(os.path.join(FIXTURES, 'resnet-bottleneck-mini-io.safetensors'), io)

    # Narrow DenseNet: torchvision's DenseNet class itself.
    dense = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 3, 2), num_init_features=8, bn_size=2, num_classes=3)
    randomise_bn(dense, gen)
    state, io = make_fixture('densenet-mini', dense, x, gen,
                             ['features.conv0.weight', 'features.norm0.weight', 'features.denseblock2.denselayer3.conv1.weight', 'features.transition1.conv.weight', 'features.norm5.bias'])
    write_safetensors(os.path.join(FIXTURES, 'densenet-mini.safetensors'), state)
    # The .pth is a MoCo-style checkpoint: prefixed query encoder, key encoder and queue, optimizer-like extras.
    ckpt = {
        'epoch': 3,
        'arch': 'densenet121',
        'best_metric': 0.5,
        'state_dict': collections.OrderedDict(
            [('module.encoder_q.' + k, v) for k, v in state.items()]
            + [('module.encoder_k.' + k, v.clone()) for k, v in list(state.items())[:4]]
            + [('module.queue', torch.randn(8, 4, generator=gen)), ('module.queue_ptr', torch.zeros(1, dtype=torch.long))]),
        'optimizer': {'state': {}, 'param_groups': [{'lr': 1e-4, 'betas': (0.9, 0.999), 'params': [0, 1, 2]}]},
    }
    torch.save(ckpt, os.path.join(FIXTURES, 'densenet-mini-moco.pth'))
    write_safetensors(os.path.join(FIXTURES, 'densenet-mini-io.safetensors'), io)

    # Pickle edge cases: a transposed (strided) view, float16, float64, int64, legacy (pre-1.6) format.
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    odd = collections.OrderedDict([
        ('strided', base.t()),
        ('offset', base[1]),
        ('half', torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16)),
        ('double', torch.tensor([1.25, -3.5], dtype=torch.float64)),
        ('long', torch.tensor([[1, -2], [3, 2**31 - 1]], dtype=torch.int64)),
    ])
    torch.save(odd, os.path.join(FIXTURES, 'odd-tensors.pth'))
    torch.save(odd, os.path.join(FIXTURES, 'odd-tensors-legacy.pth'), _use_new_zipfile_serialization=False)
    total = sum(os.path.getsize(os.path.join(FIXTURES, f)) for f in os.listdir(FIXTURES))
    print(f'fixtures written to {os.path.normpath(FIXTURES)}: {total} bytes')


def full_size(out_dir):
    """Full-size resnet18 and densenet121 with torchvision's random init and randomised BN stats."""
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(99)
    torch.manual_seed(99)
    x = torch.randn(2, 3, 224, 224, generator=gen)
    for name, ctor in [('resnet18', torchvision.models.resnet18), ('densenet121', torchvision.models.densenet121)]:
        model = ctor()
        randomise_bn(model, gen)
        state = torch_state(model)
        torch.save(state, os.path.join(out_dir, f'{name}.pth'))
        write_safetensors(os.path.join(out_dir, f'{name}.safetensors'), state)
        m = features_of(model).eval()
        with torch.no_grad():
            out = m(x)
        write_safetensors(os.path.join(out_dir, f'{name}-io.safetensors'), {'input_nhwc': nhwc(x), 'eval_features': out})
        print(f'{name}: {sum(p.numel() for p in m.parameters())} parameters without classifier')


def read_safetensors(path):
    dtypes = {'F32': torch.float32, 'I32': torch.int32, 'I64': torch.int64}
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = collections.OrderedDict()
    for k, v in header.items():
        if k == '__metadata__':
            continue
        a, b = v['data_offsets']
        out[k] = torch.frombuffer(bytearray(data[a:b]), dtype=dtypes[v['dtype']]).reshape(v['shape']).clone()
    return out


def check_export(path, name, io_path):
    """Loads a file written by saveBackbone (torch layout) into torchvision with strict=True; prints the feature diff."""
    model = features_of(getattr(torchvision.models, name)())
    state = read_safetensors(path)
    model.load_state_dict(state, strict=True)
    io = read_safetensors(io_path)
    with torch.no_grad():
        out = model.eval()(io['input_nhwc'].permute(0, 3, 1, 2).contiguous())
    print(json.dumps({'max_abs_diff': (out - io['eval_features']).abs().max().item()}))


if __name__ == '__main__':
    if len(sys.argv) >= 2 and sys.argv[1] == 'check-export':
        check_export(sys.argv[2], sys.argv[3], sys.argv[4])
    elif len(sys.argv) >= 2 and sys.argv[1] == 'full':
        full_size(sys.argv[2] if len(sys.argv) > 2 else '/tmp/moco-cxr-backbones-full')
    else:
        small_fixtures()
