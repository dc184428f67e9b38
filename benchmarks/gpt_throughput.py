"""Training throughput of the package's GPT: tokens per second, and model FLOPs utilization (MFU) on a GPU.

Times the training step of ``dlhist.tools.train_gpt`` (forward, backward, AdamW) on random windows of bytes, after
warm-up steps (which include ``torch.compile``'s compilation), and prints one line per setting plus the ratios a
reader wants: the fused attention kernel against the from-scratch one, and on a GPU bf16 + compile against float32.

    python benchmarks/gpt_throughput.py                        # the 04-gpt notebook's configurations, on CPU
    python benchmarks/gpt_throughput.py --device cuda --d-model 768 --layers 12 --heads 12 --context 1024 \\
        --batch-size 16 --peak-tflops 989                       # GPT-2 small on one H100/H200 (bf16 dense peak)

MFU is the model's training FLOPs per token (Kaplan et al. 2020: 6 per weight, plus the attention scores; see
``train_gpt.flops_per_token``) times tokens per second, divided by the accelerator's peak (``--peak-tflops``, from
its data sheet: dense bf16, without sparsity).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from dlhist.device import get_device
from dlhist.models.gpt import GPT
from dlhist.tools.train_gpt import flops_per_token


def step_time(model, batch: int, context: int, device, *, dtype, compile_: bool, steps: int, warmup: int) -> float:
    net = torch.compile(model) if compile_ else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=device.type == "cuda" or None)
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (batch, context + 1), generator=g).to(device)
    times = []
    for i in range(warmup + steps):
        start = time.perf_counter()
        with torch.autocast(device.type, dtype=dtype) if dtype else torch.autocast(device.type, enabled=False):
            loss = net(x[:, :-1], targets=x[:, 1:])["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    p.add_argument("--d-model", type=int, nargs="+", default=[32, 64, 128])
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads)")
    p.add_argument("--peak-tflops", type=float, help="the accelerator's dense peak, for MFU")
    args = p.parse_args(argv)
    device = get_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    settings = [("fused attention, float32", dict(fused=True, dtype=None, compile_=False)),
                ("from-scratch attention, float32", dict(fused=False, dtype=None, compile_=False))]
    if cuda:
        settings += [("fused attention, bf16 autocast", dict(fused=True, dtype=torch.bfloat16, compile_=False)),
                     ("fused attention, bf16 + torch.compile", dict(fused=True, dtype=torch.bfloat16, compile_=True))]
    tokens = args.batch_size * args.context
    print(f"{device} ({torch.cuda.get_device_name() if cuda else f'{torch.get_num_threads()} threads'}), batch "
          f"{args.batch_size} x {args.context} tokens, {args.layers} layers")
    for d in args.d_model:
        rates = {}
        for name, s in settings:
            torch.manual_seed(0)
            model = GPT(256, args.context, d, args.heads, args.layers).to(device)
            for block in model.blocks:
                block.attn.fused = s["fused"]
            seconds = step_time(model, args.batch_size, args.context, device, dtype=s["dtype"],
                                compile_=s["compile_"], steps=args.steps, warmup=args.warmup)
            rates[name] = tokens / seconds
            mfu = ""
            if args.peak_tflops:
                mfu = f", MFU {rates[name] * flops_per_token(model) / (args.peak_tflops * 1e12):.1%}"
            print(f"d_model {d:>4} ({model.non_embedding_parameters():>11,} non-embedding parameters)  {name:<38} "
                  f"{rates[name]:>12,.0f} tokens/s  ({seconds * 1e3:.1f} ms/step{mfu})")
        base = rates["fused attention, float32"]
        print(f"  ratios: fused / from-scratch attention {base / rates['from-scratch attention, float32']:.2f}x"
              + (f"; bf16 + compile / float32 {rates['fused attention, bf16 + torch.compile'] / base:.2f}x"
                 if cuda else ""))


if __name__ == "__main__":
    main()
