"""The LM head alone, TRL's fused (tiled) kernel versus plain logits, by vocabulary size: the rule in train/lm_head.py.

    python -m benchmarks.lm_head [--tokens 2048] [--hidden 896] [--device cpu]

Forward and backward of the per-token log-probabilities and entropy of `tokens` labelled positions (hidden size
`hidden`, Qwen2.5-0.5B's 896 by default) through a head of each vocabulary size, best of three, both heads
alternating; with the peak memory of the logits the plain head holds. On CUDA the same script measures the GPU
side of the rule.
"""

from __future__ import annotations

import argparse
import time

VOCABS = (2_173, 8_192, 32_768, 65_536, 151_936)  # the tiny model, small, Llama-2, the rule's cap, Qwen2.5


def fused_head(hidden, weight, targets):
    from trl.kernels import ChunkedLogProbFunction
    from trl.trainer.utils import _CHUNKED_LOGPROB_CHUNK_SIZE

    log_p, entropy, *_ = ChunkedLogProbFunction.apply(
        hidden, weight, None, targets, 1.0, _CHUNKED_LOGPROB_CHUNK_SIZE, None, 1.0, ("log_probs", "entropy", "is_top1")
    )
    return log_p, entropy


def plain_head(hidden, weight, targets):
    logits = (hidden @ weight.t()).float()
    log_p = logits.log_softmax(-1)
    return log_p.gather(-1, targets.unsqueeze(-1)).squeeze(-1), -(log_p.exp() * log_p).sum(-1)


def time_head(head, hidden, weight, targets, device) -> float:
    import torch

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    start = time.perf_counter()
    log_p, entropy = head(hidden, weight, targets)
    (-log_p.sum() + 0.01 * entropy.sum()).backward()
    sync()
    seconds = time.perf_counter() - start
    hidden.grad = weight.grad = None
    return seconds


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048)
    parser.add_argument("--hidden", type=int, default=896)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    print(
        f"{args.tokens} labelled tokens, hidden {args.hidden}, {device} ({torch.get_num_threads()} threads); "
        "forward + backward, best of 3"
    )
    print(f"{'vocab':>8} {'fused s':>9} {'plain s':>9} {'plain/fused':>11} {'plain logits MiB':>17}")
    for vocab in VOCABS:
        hidden = torch.randn(args.tokens, args.hidden, device=device, requires_grad=True)
        weight = (0.02 * torch.randn(vocab, args.hidden, device=device)).requires_grad_()
        targets = torch.randint(0, vocab, (args.tokens,), device=device)
        times = {"fused": [], "plain": []}
        for repeat in range(3):
            for name in ("fused", "plain") if repeat % 2 == 0 else ("plain", "fused"):
                times[name].append(
                    time_head(fused_head if name == "fused" else plain_head, hidden, weight, targets, device)
                )
        fused, plain = min(times["fused"]), min(times["plain"])
        logits_mib = args.tokens * vocab * 4 * 3 / 2**20  # logits, log-softmax and their gradient, fp32
        print(f"{vocab:>8} {fused:>9.3f} {plain:>9.3f} {plain / fused:>11.2f} {logits_mib:>17.0f}")


if __name__ == "__main__":
    main()
