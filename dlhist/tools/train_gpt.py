"""Train the package's GPT outside a notebook: one CPU, one GPU, or many GPUs and nodes with ``torchrun``.

    python -m dlhist.tools.train_gpt --out runs/wp                                   # one process (CPU, CUDA or MPS)
    torchrun --standalone --nproc_per_node 8 -m dlhist.tools.train_gpt --out runs/wp --d-model 512 --layers 8
    python -m dlhist.tools.train_gpt --out runs/wp --resume                          # continue from runs/wp/ckpt.pt

The model is ``dlhist.models.gpt.GPT`` on the bytes of a registered corpus (``--data``, fetched, checksummed and
cached like every dataset in the package; byte-level: 256 token ids, no unknown characters) or of any UTF-8 file
(``--text-file``). The last ``--val-fraction`` of the text is held out.

What makes it a real training script, after nanoGPT:

- **Data parallelism** with ``DistributedDataParallel`` when launched by ``torchrun`` (NCCL on GPUs, gloo on CPUs).
  ``--batch-size`` is the *global* batch in sequences; it is split evenly over the processes and over
  ``--grad-accum`` micro-batches each, so the same command with 1, 2 or 8 processes takes the same optimizer steps
  on the same data (``tests/tools/test_train_gpt.py`` checks two processes against one).
- **Deterministic batches**: step ``s`` draws its windows from a generator seeded with ``(seed, s)``, identical in
  every process, so a run resumed from a checkpoint continues exactly where it stopped (also tested).
- AdamW (weight decay on matrices only), linear warm-up then a cosine decay to ``--min-lr``, gradient clipping.
- On CUDA: bf16 autocast and ``torch.compile`` (``--no-compile`` to skip it), TF32 matmuls.
- A checkpoint (``ckpt.pt``: model, optimizer, step, model config, tokenizer) every ``--ckpt-every`` steps and at the
  end, written atomically and read back with ``torch.load(weights_only=True)``; resuming with another model
  configuration is an error that names the differing settings.
- A progress bar and ``log.jsonl``: loss, learning rate and tokens per second per logged step, validation loss at
  every ``--eval-every`` steps, and the model FLOPs utilization when ``--peak-tflops`` is given.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from ..data.text import load_text, random_windows
from ..device import get_device
from ..models.gpt import GPT
from ..train import adamw

VAL_SEED = 987_654  # the validation windows: the same for every run


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m dlhist.tools.train_gpt", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", default="war-and-peace", help="a registered corpus (dlhist.data.text.TEXT_FILES)")
    d.add_argument("--text-file", help="train on this UTF-8 file instead of --data")
    d.add_argument("--val-fraction", type=float, default=0.1)
    m = p.add_argument_group("model")
    m.add_argument("--context", type=int, default=128)
    m.add_argument("--d-model", type=int, default=128)
    m.add_argument("--heads", type=int, default=4)
    m.add_argument("--layers", type=int, default=4)
    m.add_argument("--dropout", type=float, default=0.0)
    o = p.add_argument_group("optimization")
    o.add_argument("--steps", type=int, default=2000, help="optimizer steps (the schedule's length)")
    o.add_argument("--batch-size", type=int, default=64, help="global batch, in sequences of --context tokens")
    o.add_argument("--grad-accum", type=int, default=1, help="micro-batches per process per step")
    o.add_argument("--lr", type=float, default=1e-3)
    o.add_argument("--min-lr", type=float, default=1e-4)
    o.add_argument("--warmup", type=int, default=100)
    o.add_argument("--weight-decay", type=float, default=0.1)
    o.add_argument("--clip", type=float, default=1.0, help="gradient-norm clipping (0: none)")
    o.add_argument("--seed", type=int, default=0)
    r = p.add_argument_group("run")
    r.add_argument("--out", default="runs/gpt", help="folder for ckpt.pt and log.jsonl")
    r.add_argument("--resume", action="store_true", help="continue from --out/ckpt.pt")
    r.add_argument("--stop-at", type=int, help="stop after this step (the schedule still runs to --steps)")
    r.add_argument("--eval-every", type=int, default=250)
    r.add_argument("--eval-batches", type=int, default=20)
    r.add_argument("--ckpt-every", type=int, default=500)
    r.add_argument("--log-every", type=int, default=10)
    r.add_argument("--device", help="cpu, cuda or mps (default: the best available)")
    r.add_argument("--no-compile", action="store_true", help="skip torch.compile on CUDA")
    r.add_argument("--dtype", choices=("auto", "float32", "bfloat16"), default="auto",
                   help="autocast dtype (auto: bfloat16 on CUDA, float32 elsewhere)")
    r.add_argument("--peak-tflops", type=float, help="the accelerator's peak, to report model FLOPs utilization")
    r.add_argument("--sample", type=int, default=200, help="bytes to sample at the end (0: none)")
    r.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "grad_accum", "context", "log_every", "eval_every", "ckpt_every"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


# ------------------------------------------------------------------------------------------------------------ data
def load_bytes(args) -> torch.Tensor:
    text = Path(args.text_file).read_text(encoding="utf-8") if args.text_file else load_text(args.data)
    return torch.frombuffer(bytearray(text.encode("utf-8")), dtype=torch.uint8).long()


def split(ids: torch.Tensor, val_fraction: float, context: int) -> tuple[torch.Tensor, torch.Tensor]:
    n_val = int(len(ids) * val_fraction)
    train, val = ids[: len(ids) - n_val], ids[len(ids) - n_val:]
    for name, part in (("training", train), ("validation", val)):
        if len(part) <= context + 1:
            raise ValueError(f"the {name} text has {len(part):,} tokens, too few for windows of {context} + 1; "
                             "use a longer text, a shorter --context or another --val-fraction")
    return train, val


def global_batch(ids: torch.Tensor, step: int, batch: int, context: int, seed: int) -> tuple[torch.Tensor, ...]:
    """The ``batch`` windows of step ``step``: the same in every process and on every resume."""
    return random_windows(ids, batch, context, torch.Generator().manual_seed(seed * 1_000_003 + step))


# ------------------------------------------------------------------------------------------------ optimization
def lr_at(step: int, args) -> float:
    """Linear warm-up over ``warmup`` steps to ``lr``, then a cosine decay to ``min_lr`` at ``steps``."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))


def make_optimizer(model: GPT, args, fused: bool) -> torch.optim.AdamW:
    # weight decay on matrices and embeddings; not on biases or LayerNorm gains
    return adamw(model, args.lr, weight_decay=args.weight_decay, betas=(0.9, 0.95), eps=1e-8, fused=fused or None)


def flops_per_token(model: GPT) -> float:
    """Training FLOPs per token, 6N for the weights plus the attention scores (Kaplan et al. 2020, Table 1)."""
    n = model.non_embedding_parameters() + model.tok.weight.numel()  # the tied output layer is a matmul too
    attn = 12 * len(model.blocks) * model.tok.weight.shape[1] * model.context
    return 6 * n + attn


# ------------------------------------------------------------------------------------------------- checkpoints
def model_config(args) -> dict:
    return dict(vocab_size=256, context=args.context, d_model=args.d_model, n_heads=args.heads, layers=args.layers,
                dropout=args.dropout)


def save(path: Path, model: GPT, optimizer, step: int, config: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "step": step, "config": config,
                "tokenizer": "utf-8 bytes"}, tmp)
    os.replace(tmp, path)  # never a half-written checkpoint


def load(path: Path, model: GPT, optimizer, config: dict, device) -> int:
    """Restore model and optimizer from ``path``; returns the step it was written after."""
    if not path.exists():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}; train without --resume first")
    state = torch.load(path, map_location=device, weights_only=True)
    differ = {k: (state["config"].get(k), config[k]) for k in config if state["config"].get(k) != config[k]}
    if differ:
        raise ValueError(f"the checkpoint {path} was trained with another model configuration: "
                         + ", ".join(f"{k}={old} there, {new} here" for k, (old, new) in differ.items()))
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    return int(state["step"])


# --------------------------------------------------------------------------------------------------------- main
def setup_distributed(args):
    """(rank, world size, local rank, device); joins the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, 0, get_device(args.device)
    rank, local = int(os.environ["RANK"]), int(os.environ["LOCAL_RANK"])
    wanted = get_device(args.device)
    if wanted.type == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
        dist.init_process_group("nccl")
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return rank, world, local, device


def main(argv=None) -> dict:
    args = parse_args(argv)
    rank, world, _, device = setup_distributed(args)
    try:
        return train(args, rank, world, device)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def train(args, rank: int, world: int, device: torch.device) -> dict:
    if args.batch_size % (world * args.grad_accum):
        raise ValueError(f"--batch-size {args.batch_size} must divide evenly into {world} processes x "
                         f"{args.grad_accum} micro-batches")
    micro = args.batch_size // (world * args.grad_accum)
    out = Path(args.out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    train_ids, val_ids = split(load_bytes(args), args.val_fraction, args.context)

    cuda = device.type == "cuda"
    dtype = {"auto": torch.bfloat16 if cuda else None, "float32": None, "bfloat16": torch.bfloat16}[args.dtype]
    amp = torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()
    if cuda:
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True

    config = model_config(args)
    torch.manual_seed(args.seed)
    model = GPT(**config).to(device)
    optimizer = make_optimizer(model, args, fused=cuda)
    start = load(out / "ckpt.pt", model, optimizer, config, device) + 1 if args.resume else 0
    net = torch.compile(model) if cuda and not args.no_compile else model
    if world > 1:
        net = DistributedDataParallel(net, device_ids=[device.index] if cuda else None)

    def forward_loss(x, y):
        with amp:
            return net(x, targets=y)["loss"]

    @torch.no_grad()
    def val_loss() -> float:
        net.eval()
        total = torch.zeros((), device=device)
        for i in range(args.eval_batches):
            x, y = global_batch(val_ids, i, args.batch_size // args.grad_accum, args.context, seed=VAL_SEED)
            rows = slice(rank * (len(x) // world), (rank + 1) * (len(x) // world))
            total += forward_loss(x[rows].to(device), y[rows].to(device)).float()
        if world > 1:
            dist.all_reduce(total)
        net.train()
        return total.item() / (args.eval_batches * world)

    stop = min(args.steps, args.stop_at + 1 if args.stop_at is not None else args.steps)
    tokens_per_step = args.batch_size * args.context
    fpt = flops_per_token(model)
    log = (out / "log.jsonl").open("a") if rank == 0 else None
    bar = None
    if rank == 0 and not args.quiet:
        from tqdm.auto import tqdm
        bar = tqdm(total=stop, initial=start, desc="train_gpt", unit="step")
    if rank == 0:
        print(f"GPT {model.non_embedding_parameters():,} non-embedding parameters; {world} process(es) on "
              f"{device}; global batch {args.batch_size} x {args.context} tokens = {micro} per micro-batch x "
              f"{args.grad_accum} accumulation x {world} process(es); steps {start}..{stop - 1} of {args.steps}")
    record, last, last_step_logged = {}, time.perf_counter(), start - 1
    for step in range(start, stop):
        lr = lr_at(step, args)
        for group in optimizer.param_groups:
            group["lr"] = lr
        torch.manual_seed(args.seed * 1_000_003 + step * 1009 + rank)  # dropout: fresh per step, same on resume
        x, y = global_batch(train_ids, step, args.batch_size, args.context, args.seed)
        x, y = x[rank * micro * args.grad_accum:], y[rank * micro * args.grad_accum:]
        loss_sum = torch.zeros((), device=device)
        for k in range(args.grad_accum):
            xb, yb = (t[k * micro:(k + 1) * micro].to(device, non_blocking=True) for t in (x, y))
            sync = world == 1 or k == args.grad_accum - 1
            with nullcontext() if sync else net.no_sync():
                loss = forward_loss(xb, yb) / args.grad_accum
                loss.backward()
            loss_sum += loss.detach()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

        last_step = step == stop - 1
        if step % args.log_every == 0 or last_step:
            if world > 1:
                dist.all_reduce(loss_sum)
                loss_sum /= world
            loss_value = loss_sum.item()  # synchronises the device, so the clock below is honest
            if not math.isfinite(loss_value):
                raise FloatingPointError(f"step {step}: the training loss is {loss_value}; lower --lr or check the "
                                         "data")
            now = time.perf_counter()
            record = {"step": step, "loss": round(loss_value, 5), "lr": lr,
                      "tokens_per_s": round((step - last_step_logged) * tokens_per_step / (now - last))}
            if args.peak_tflops:
                record["mfu"] = round(record["tokens_per_s"] * fpt / (args.peak_tflops * 1e12), 4)
            last, last_step_logged = now, step
        else:
            record = None
        if step % args.eval_every == 0 or last_step:
            record = record or {"step": step}
            record["val_loss"] = round(val_loss(), 5)
            last = time.perf_counter()  # evaluation is not training time
        if rank == 0:
            if record:
                log.write(json.dumps(record) + "\n")
                log.flush()
                if bar is not None:
                    bar.set_postfix({k: v for k, v in record.items() if k in ("loss", "val_loss", "tokens_per_s")})
            if bar is not None:
                bar.update(1)
            if (step + 1) % args.ckpt_every == 0 or last_step:
                save(out / "ckpt.pt", model, optimizer, step, config)
                last = time.perf_counter()
    if bar is not None:
        bar.close()
    result = {"step": stop - 1, **(record or {})}
    if rank == 0:
        log.close()
        print(json.dumps(result))
        if args.sample:
            prompt = torch.tensor([list(b"\n")], device=device)
            n = min(args.sample, model.context - 1)
            text = bytes(model.generate(prompt, n, temperature=0.8, top_k=40)[0, 1:].tolist())
            print("sample:", text.decode("utf-8", errors="replace"))
    return result


if __name__ == "__main__":
    main()
