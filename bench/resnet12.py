"""ResNet-12 forward + backward, images per second: metaswift beside PyTorch.

The network is the few-shot backbone of Lee et al. (CVPR 2019) and Tian et al.
(ECCV 2020): four residual blocks (three 3x3 convolutions with batch norm and
leaky ReLU 0.1, a 1x1 projection shortcut, a 2x2 max-pool), widths
64-160-320-640 times `width`, global average pooling, a 5-way linear head.
One step is a forward pass over a batch of images, the cross-entropy loss and
its gradient with respect to every parameter (batch norm with the batch's
statistics, as in meta-training).

- metaswift: `ms.nn.ResNet12`, the gradient from `meta_loss_and_grad` of a
  MAML learner with no inner steps (the loss of the batch at the current
  parameters: one native forward and backward pass).
- PyTorch: the same network in `torch.nn`, channels-last memory format,
  `torch.set_num_threads` equal to the cores metaswift uses.

Both run in this one process, alternately, for the same number of steps; the
rate is the median over rounds and the ratio the median of per-round ratios.
PyTorch is optional (`pip install torch --index-url https://download.pytorch.org/whl/cpu`).

    python bench/resnet12.py [--rounds 3] [--only 84,28] [--widths 1.0,0.25]
"""
import argparse
import os
import time

import numpy as np

import metaswift as ms

WAYS = 5
# (image side, batch): miniImageNet-sized 84x84 batches of 5-way 5-shot + 15
# queries would be 100 images; 20 keeps a width-1.0 step within seconds here.
CASES = {84: 20, 28: 100}


def metaswift_step(side, batch, width):
    model = ms.nn.ResNet12(in_channels=3, width=width, outputs=WAYS, seed=0)
    learner = ms.MAML(model, inner_lr=0.0, inner_steps=0, loss="cross_entropy")
    g = np.random.default_rng(0)
    x = g.normal(size=(batch, 3, side, side)).astype(np.float32)
    y = np.arange(batch) % WAYS
    task = [(x[:WAYS], y[:WAYS], x, y)]

    def step():
        learner.meta_loss_and_grad(task)

    return step


def torch_step(side, batch, width):
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count() or 1)

    def widths():
        return [max(1, int(np.floor(float(np.float32(w) * np.float32(width)) + 0.5))) for w in (64, 160, 320, 640)]

    class Block(nn.Module):
        def __init__(self, c_in, c_out):
            super().__init__()
            conv = lambda a, b, k: nn.Conv2d(a, b, k, padding=k // 2, bias=False)  # noqa: E731
            self.body = nn.Sequential(conv(c_in, c_out, 3), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1),
                                      conv(c_out, c_out, 3), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.1),
                                      conv(c_out, c_out, 3), nn.BatchNorm2d(c_out))
            self.shortcut = nn.Sequential(conv(c_in, c_out, 1), nn.BatchNorm2d(c_out))
            self.out = nn.Sequential(nn.LeakyReLU(0.1), nn.MaxPool2d(2))

        def forward(self, x):
            return self.out(self.body(x) + self.shortcut(x))

    blocks, c = [], 3
    for w in widths():
        blocks.append(Block(c, w))
        c = w
    net = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, WAYS))
    net = net.to(memory_format=torch.channels_last).train()
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, side, side, generator=g).contiguous(memory_format=torch.channels_last)
    y = torch.arange(batch) % WAYS

    def step():
        net.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(net(x), y).backward()

    return step


def rate(step, steps, batch):
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="84,28", help="image sides among 84, 28")
    parser.add_argument("--widths", default="1.0,0.25", help="ResNet-12 width multipliers")
    args = parser.parse_args()
    try:
        import torch
        peer = f"PyTorch {torch.__version__} (channels-last, {os.cpu_count()} threads)"
    except ImportError:
        peer = None
        print("PyTorch: not installed; metaswift alone")
    for side in (int(s) for s in args.only.split(",")):
        batch = CASES[side]
        for width in (float(w) for w in args.widths.split(",")):
            steps = 2 if width >= 1 and side == 84 else 5
            runners = {f"metaswift {ms.__version__}": metaswift_step(side, batch, width)}
            if peer:
                runners[peer] = torch_step(side, batch, width)
            for step in runners.values():
                step()  # warm-up
            rates = {name: [] for name in runners}
            for _ in range(args.rounds):
                for name, step in runners.items():
                    rates[name].append(rate(step, steps, batch))
            print(f"\nResNet-12 width {width}, {batch} images of {side}x{side}, forward + backward: images/s "
                  f"({args.rounds} rounds of {steps} steps)")
            ours = next(iter(rates))
            print(f"  {ours:<44} {np.median(rates[ours]):8.1f}")
            for name in list(rates)[1:]:
                ratio = np.median(np.array(rates[ours]) / np.array(rates[name]))
                print(f"  {name:<44} {np.median(rates[name]):8.1f}   -> metaswift is {ratio:.2f}x", flush=True)


if __name__ == "__main__":
    main()
