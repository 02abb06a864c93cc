"""skrnn's main job: speed of the recurrent engine next to PyTorch (first version).

Times one training step (forward + backward through time) of each cell on the same batch,
in float32 on the same threads, and prints the ratio to PyTorch when it is installed.
"""

import argparse
import time

import numpy as np

from skrnn import _network
from skrnn._network import NetworkSpec


def best_time(fn, repeats):
    fn()  # warm-up: compilation and caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def skrnn_step(spec, params, x, lengths, d_out):
    def step():
        _, cache = _network.forward(spec, params, x, lengths, training=True)
        _network.backward(spec, params, cache, d_out)
    return step


def torch_step(cell, hidden, x, d_out):
    import torch

    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
        x.shape[2], hidden)
    head = torch.nn.Linear(hidden, d_out.shape[1])
    x_t, d_out_t = torch.from_numpy(x), torch.from_numpy(d_out)

    def step():
        out, _ = module(x_t)
        y = head(out[-1])
        y.backward(d_out_t)
    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    args = parser.parse_args()
    T, B, F = (20, 32, 8) if args.quick else (50, 64, 8)
    hiddens = (32,) if args.quick else (32, 64, 128, 256)
    repeats = 3 if args.quick else 10
    try:
        import torch
        torch.set_num_threads(2)
    except ImportError:
        torch = None
        print("PyTorch is not installed: skrnn's figures only.")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, F)).astype(np.float32)
    lengths = np.full(B, T, dtype=np.int64)
    d_out = rng.standard_normal((B, 1)).astype(np.float32)
    print(f"training step (forward + BPTT), T={T}, B={B}, F={F}, float32, ms")
    print(f"{'cell':<6}{'hidden':>8}{'skrnn':>10}{'torch':>10}{'speed-up':>10}")
    for cell in ("rnn", "lstm", "gru"):
        for hidden in hiddens:
            spec = NetworkSpec(cell=cell, n_features=F, hidden_layer_sizes=(hidden,), n_outputs=1)
            params = _network.init_params(spec, rng, np.float32)
            ours = best_time(skrnn_step(spec, params, x, lengths, d_out), repeats)
            line = f"{cell:<6}{hidden:>8}{ours * 1e3:>10.2f}"
            if torch is not None:
                theirs = best_time(torch_step(cell, hidden, x, d_out), repeats)
                line += f"{theirs * 1e3:>10.2f}{theirs / ours:>9.2f}x"
            print(line)


if __name__ == "__main__":
    main()
