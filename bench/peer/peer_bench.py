#!/usr/bin/env python3
"""HpfDet vs torchvision on the same CPU, interleaved in one window.

torchvision 0.14's FCOS and RetinaNet (Debian's python3-torchvision, torch 1.13) run in this process;
HpfDet's ATSS, FCOS and RetinaNet each run warm in their own process (bench/HpfDet.Benchmarks
peer-worker). Every round times one training step (or one single-image inference) of every detector,
in a rotating order (A B C D E, B C D E A, ...), so load from elsewhere hits all of them alike; the
report gives medians and the ratio of medians ours / peer.

Install the peer once (never needed by the tests or CI):
    sudo apt-get install -y python3-torchvision
Run from the repository root:
    /usr/bin/python3 bench/peer/peer_bench.py --size 512x384 --batch 2 --rounds 15
(Debian's interpreter: a python3 earlier on PATH, e.g. from pyenv, does not see the apt packages.)

Matched configuration (both sides): ResNet-18 with the stem and layer1 frozen and every BatchNorm
frozen (torchvision: trainable_layers=3 and FrozenBatchNorm2d; HpfDet: frozen_stages 1, norm_eval),
FPN P3-P7 with 256 channels (P6/P7 from P5), heads of 4 convs with 256 channels (FCOS: GroupNorm 32;
RetinaNet: torchvision's v1 head, no norm; ATSS has no torchvision counterpart and is set against
torchvision's FCOS, the closest: same head shape with GroupNorm), 80 classes, random images of the
given size, the same three boxes per image, SGD with momentum, two torch threads. Where they differ:
torchvision's GeneralizedRCNNTransform normalises and 'resizes' inside the model (scale factor 1 at
this size: an interpolate call HpfDet does not make) and pads to 32; HpfDet takes normalised images.
"""
import argparse, os, random, statistics as st, subprocess, sys, time

# torch 1.13 warns on every CPU inference that NNPACK does not support this CPU (one line per conv); errors only.
os.environ.setdefault('TORCH_CPP_LOG_LEVEL', 'ERROR')
import torch
import torchvision
from torchvision.models.detection import FCOS, RetinaNet
from torchvision.models.detection.backbone_utils import _resnet_fpn_extractor
from torchvision.ops.feature_pyramid_network import LastLevelP6P7


def boxes(width, batch):
    s = width / 512.0
    b = torch.tensor([[30, 40, 200, 220], [250, 60, 330, 150], [100, 100, 140, 130]], dtype=torch.float32) * s
    return [{'boxes': b.clone(), 'labels': torch.tensor([1, 5, 17])} for _ in range(batch)]


def torchvision_model(kind, classes, height, width):
    backbone = torchvision.models.resnet18(weights=None, norm_layer=torchvision.ops.misc.FrozenBatchNorm2d)
    fpn = _resnet_fpn_extractor(backbone, 3, returned_layers=[2, 3, 4], extra_blocks=LastLevelP6P7(256, 256))
    common = dict(min_size=height, max_size=width)
    return FCOS(fpn, classes, **common) if kind == 'fcos' else RetinaNet(fpn, classes, **common)


class Peer:
    def __init__(self, kind, classes, width, height, batch):
        torch.manual_seed(0)
        self.name = f'torchvision {kind}-r18'
        self.model = torchvision_model(kind, classes, height, width)
        self.opt = torch.optim.SGD([p for p in self.model.parameters() if p.requires_grad], lr=0.001, momentum=0.9, weight_decay=1e-4)
        self.images = list(torch.rand(batch, 3, height, width))
        self.targets = boxes(width, batch)

    def train(self):
        self.model.train()
        t = time.perf_counter()
        losses = self.model(self.images, self.targets)
        self.opt.zero_grad()
        sum(losses.values()).backward()
        self.opt.step()
        return (time.perf_counter() - t) * 1000

    def infer(self):
        self.model.eval()
        t = time.perf_counter()
        with torch.no_grad():
            self.model(self.images[:1])
        return (time.perf_counter() - t) * 1000


class Ours:
    def __init__(self, exe, model, classes, width, height, batch):
        self.name = f'HpfDet {model}'
        self.p = subprocess.Popen(exe + ['peer-worker', model, str(width), str(height), str(batch), str(classes), '256'],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1)
        line = ''
        while line.strip() != 'ready':
            line = self.p.stdout.readline()
            if not line:
                sys.exit(f'{self.name}: the worker ended before it was ready')

    def ask(self, cmd):
        self.p.stdin.write(cmd + '\n')
        self.p.stdin.flush()
        return self.p.stdout.readline().split()

    def train(self):
        return float(self.ask('train 1')[0])

    def infer(self):
        return float(self.ask('infer 1')[0])

    def close(self):
        self.p.stdin.write('quit\n')
        self.p.stdin.flush()
        self.p.wait(timeout=60)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--size', default='512x384', help='WIDTHxHEIGHT of the input')
    ap.add_argument('--batch', type=int, default=2)
    ap.add_argument('--classes', type=int, default=80)
    ap.add_argument('--rounds', type=int, default=15)
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--modes', default='train,infer')
    ap.add_argument('--ours', default='atss-r18,fcos-r18,retinanet-r18',
                    help='HpfDet models; NAME@bf16 trains with train.precision bf16 (bfloat16 working copy, float32 masters) and infers with that copy')
    args = ap.parse_args()
    width, height = map(int, args.size.lower().split('x'))
    torch.set_num_threads(args.threads)
    os.environ['OMP_NUM_THREADS'] = str(args.threads)
    subprocess.run(['dotnet', 'build', '-c', 'Release', 'bench/HpfDet.Benchmarks', '-v', 'q', '-nologo'], check=True, stdout=subprocess.DEVNULL)
    exe = ['dotnet', 'bench/HpfDet.Benchmarks/bin/Release/net10.0/linux-x64/HpfDet.Benchmarks.dll']

    peers = {k: Peer(k, args.classes, width, height, args.batch) for k in ('fcos', 'retinanet')}
    ours = {m: Ours(exe, m, args.classes, width, height, args.batch) for m in args.ours.split(',') if m}
    against = {m: peers['retinanet' if m.startswith('retinanet') else 'fcos'] for m in ours}
    print(f'torch {torch.__version__}, torchvision {torchvision.__version__}, {args.threads} threads; '
          f'{width}x{height}, batch {args.batch}, {args.classes} classes, {args.rounds} rounds after {args.warmup} warm-up')
    everyone = list(peers.values()) + list(ours.values())
    for mode in args.modes.split(','):
        times = {d.name: [] for d in everyone}
        for r in range(args.warmup + args.rounds):
            order = everyone[r % len(everyone):] + everyone[:r % len(everyone)]
            for d in order:
                t = d.train() if mode == 'train' else d.infer()
                if r >= args.warmup:
                    times[d.name].append(t)
        times = {k: v for k, v in times.items() if v}
        med = {k: st.median(v) for k, v in times.items()}
        print(f'\n{mode} ({"one step, batch %d" % args.batch if mode == "train" else "one image"}): median ms [min-max]')
        for k, v in times.items():
            print(f'  {k:26s} {med[k]:8.1f}  [{min(v):.1f}-{max(v):.1f}]')
        for m, peer in against.items():
            if ours[m].name not in med:
                continue
            print(f'  ratio HpfDet {m} / {peer.name}: {med[ours[m].name] / med[peer.name]:.2f}')
    for o in ours.values():
        print(f'peak RSS {o.name}: {o.ask("rss")[0]} MiB')
        o.close()


if __name__ == '__main__':
    main()
