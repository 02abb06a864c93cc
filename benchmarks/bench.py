"""skrnn's main job: how fast and how accurate skrnn is next to what users would otherwise use.

Sections, each printed as a table and saved to ``<out>/bench.json``:

1. speed      training time per epoch (estimator-level ``fit``, the median of three fits)
              and single-sequence ``predict`` latency for rnn/lstm/gru at hidden 32-256,
              next to the same model in PyTorch (same data, batches, optimiser and threads;
              the median of three timed runs) when torch is importable; achieved GFLOP/s
              against this machine's float32 matmul peak.
2. first use  import time and the first ``fit`` of a tiny model in a fresh process, with a
              cold and with a warm JIT cache.
3. digits     scikit-learn's digits read row by row (8 steps x 8 features): RNNClassifier
              with each cell next to MLPClassifier on the same split, with the default
              solver (adam) and with solver="lbfgs" (full batch; "epochs" counts its
              iterations).
4. sunspots   one-step forecasts of the yearly sunspot numbers (shipped with skrnn) from
              sliding windows; RMSE on the last 20% next to a naive last-value forecast and
              ridge regression on the same windows (the networks stop early on 10% of the
              training windows).
5. data path  ragged lists at scale: 100,000 sequences of 10-100 steps (8 features) as a
              list and as the same values in a NaN-padded 3-D array: ingest time per
              sequence (validation and packing) next to a plain copy of the values, one
              epoch of ``fit`` and a ``predict`` (LSTM-32, batch 256), each the best of two
              runs taken in alternating order.
              Then a per-step language model (token ids, ``embedding_dim=32``, GRU-128,
              2,000 classes, 512 sequences of 50 tokens, batch 200) against PyTorch's
              ``nn.Embedding`` + ``nn.GRU`` + ``nn.Linear`` with ``cross_entropy`` (Adam,
              gradient clipping at 5 as skrnn does), the median of three epochs each.
6. streaming  the latency of one step pushed into a ``Stream`` next to PyTorch's cell
              modules with a carried state, and tokens per second of ``generate`` next to
              sampling from nn.Embedding + nn.GRU + nn.Linear.
7. shapes     one epoch of each kind of workload users bring beyond section 1's shape (many
              features, long windows, stacked, bidirectional, ragged lengths, token ids,
              a language model, float64, a wide layer, small batches), next to the same
              model in PyTorch (Adam, clipping at 5, same threads), the median of three.

With matplotlib installed, ``speed.png`` and ``forecast.png`` go to the same folder.
``--quick`` runs a reduced version in about a minute (used by the test suite); ``--only
SECTION`` runs just the sections named.

``--device cuda`` runs instead the GPU section: training time per epoch of
``RNNRegressor(device="cuda")`` next to the same model in PyTorch on the GPU (cuDNN), hidden
128-1024 at batch 64 and 256, 100 steps, both in strict float32 (TF32 off), and next to
skrnn's own CPU path at hidden 128-256; saved to ``<out>/bench_cuda.json``. skrnn's time per
epoch is the steady state (the difference between fits of different lengths); the fixed
cost of a fit is reported beside it.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier

import skrnn
from skrnn import RNNClassifier, RNNRegressor
from skrnn.datasets import load_digit_sequences, load_sunspots

CELLS = ("rnn", "lstm", "gru")
SECTIONS = ("speed", "first_use", "digits", "sunspots", "data_path", "streaming", "shapes")
GATES = {"rnn": 1, "lstm": 4, "gru": 3}


# ------------------------------------------------------------------------------ helpers


def print_table(title, columns, rows):
    """Print rows (lists of already formatted strings) under a title, columns aligned."""
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(columns)]
    print(f"\n{title}")
    print("  ".join(str(c).rjust(w) for c, w in zip(columns, widths)))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(row, widths)))


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def matmul_peak_gflops(threads, size=2048, repeats=5):
    """Best float32 matrix-product rate NumPy reaches on this machine with these threads."""
    from threadpoolctl import threadpool_limits

    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    b = a.copy()
    out = np.empty_like(a)
    with threadpool_limits(threads):
        np.matmul(a, b, out=out)
        best = min(median_time(lambda: np.matmul(a, b, out=out), 1) for _ in range(repeats))
    return 2 * size ** 3 / best / 1e9


def training_flops_per_epoch(cell, n, steps, features, hidden):
    """Matrix-product FLOPs of one epoch: forward input and recurrent products, and the
    three products of backward (input, input-weight and recurrent-weight gradients plus the
    recurrent gradient), i.e. three times the forward products."""
    gates = GATES[cell] * hidden
    forward = 2 * n * steps * gates * (features + hidden)
    return 3 * forward


# ------------------------------------------------------------------------------ 1. speed


def torch_model(cell, features, hidden):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            kind = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell]
            self.rnn = kind(features, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, x):
            out, _ = self.rnn(x)
            return self.head(out[:, -1])

    return Net()


def torch_epoch_time(cell, X, y, hidden, batch_size, epochs, device="cpu", repeats=1):
    """Seconds per epoch of the same model in PyTorch: Adam, shuffled batches, half MSE.

    The median over ``repeats`` timed runs of ``epochs`` epochs, after a warm-up epoch. On
    "cuda" the data moves to the GPU once and both sides compute in strict float32 (TF32
    off for cuDNN, as skrnn computes); the clock stops after the GPU is done.
    """
    import torch

    if device == "cuda":
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    torch.manual_seed(0)
    model = torch_model(cell, X.shape[2], hidden).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X_t, y_t = torch.from_numpy(X).to(device), torch.from_numpy(y[:, None]).to(device)

    def epoch():
        for batch in torch.randperm(X_t.shape[0], device=device).split(batch_size):
            optimizer.zero_grad()
            loss = 0.5 * torch.nn.functional.mse_loss(model(X_t[batch]), y_t[batch])
            loss.backward()
            optimizer.step()
            if device == "cuda":
                loss.item()  # skrnn reads each batch's loss back too

    def synchronize():
        if device == "cuda":
            torch.cuda.synchronize()

    epoch()  # warm-up (on the GPU: cuDNN plans)
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(epochs):
            epoch()
        synchronize()
        times.append((time.perf_counter() - start) / epochs)
    return float(np.median(times)), model


def skrnn_epoch_time(cell, X, y, hidden, batch_size, epochs, repeats=1):
    """Seconds per epoch of ``RNNRegressor.fit`` (validation included), after a warm-up fit:
    the median over ``repeats`` fits of ``epochs`` epochs, each a fresh estimator."""
    params = dict(cell=cell, hidden_layer_sizes=(hidden,), batch_size=batch_size, tol=0.0,
                  n_iter_no_change=10 ** 6, random_state=0)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RNNRegressor(max_iter=1, **params).fit(X[:batch_size], y[:batch_size])  # compile
        for _ in range(repeats):
            model = RNNRegressor(max_iter=epochs, **params)
            start = time.perf_counter()
            model.fit(X, y)
            times.append((time.perf_counter() - start) / epochs)
    return float(np.median(times)), model


def bench_speed(quick, threads, torch):
    n, steps, features, batch_size = (256, 50, 8, 64) if quick else (2048, 50, 8, 64)
    hiddens = (32,) if quick else (32, 64, 128, 256)
    epochs = 1 if quick else 2
    fits = 1 if quick else 3  # timed runs of both libraries per row: the median is shown
    repeats = 30 if quick else 200
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, steps, features)).astype(np.float32)
    y = X[:, :, 0].mean(axis=1).astype(np.float32)
    one = X[:1]
    peak = matmul_peak_gflops(threads)
    rows, records = [], []
    for cell in CELLS:
        for hidden in hiddens:
            ours, est = skrnn_epoch_time(cell, X, y, hidden, batch_size, epochs, fits)
            est.predict(one)
            ours_predict = median_time(lambda: est.predict(one), repeats)
            gflops = training_flops_per_epoch(cell, n, steps, features, hidden) / ours / 1e9
            record = dict(cell=cell, hidden=hidden, skrnn_epoch_s=ours,
                          skrnn_predict_us=ours_predict * 1e6, skrnn_gflops=gflops,
                          fraction_of_peak=gflops / peak)
            row = [cell, hidden, f"{ours * 1e3:.0f}"]
            if torch is not None:
                theirs, model = torch_epoch_time(cell, X, y, hidden, batch_size, epochs,
                                                 repeats=fits)
                one_t = torch.from_numpy(one)
                with torch.no_grad():
                    model(one_t)
                    theirs_predict = median_time(lambda: model(one_t), repeats)
                record.update(torch_epoch_s=theirs, torch_predict_us=theirs_predict * 1e6,
                              train_speedup=theirs / ours, predict_speedup=theirs_predict / ours_predict)
                row += [f"{theirs * 1e3:.0f}", f"{theirs / ours:.2f}x"]
            row += [f"{ours_predict * 1e6:.0f}"]
            if torch is not None:
                row += [f"{theirs_predict * 1e6:.0f}", f"{theirs_predict / ours_predict:.2f}x"]
            row += [f"{gflops:.1f}", f"{100 * gflops / peak:.0f}%"]
            rows.append(row)
            records.append(record)
    columns = ["cell", "hidden", "skrnn ms/epoch"]
    if torch is not None:
        columns += ["torch ms/epoch", "train speed-up"]
    columns += ["skrnn predict us"]
    if torch is not None:
        columns += ["torch predict us", "predict speed-up"]
    columns += ["GFLOP/s", "of peak"]
    runs = f"median of {fits} runs" if fits > 1 else "one run"
    print_table(f"1. Speed: n={n} sequences x {steps} steps x {features} features, batch "
                f"{batch_size}, float32, {threads} threads; epochs: {runs} of {epochs}; "
                f"predict = one sequence; matmul peak {peak:.0f} GFLOP/s", columns, rows)
    if torch is None:
        print("PyTorch is not installed: skrnn's own figures only. To compare, install its "
              "CPU-only wheel (the default one pulls gigabytes of CUDA): pip install torch "
              "--index-url https://download.pytorch.org/whl/cpu")
    return dict(n=n, steps=steps, features=features, batch_size=batch_size, epochs=epochs,
                runs=fits, matmul_peak_gflops=peak, results=records)


# ------------------------------------------------------------------------------ 6. streaming


def per_call_time(fn, calls, repeats=15):
    """Seconds per call of ``fn()``: the median of ``repeats`` timings of ``calls`` calls,
    after ``calls`` untimed ones. (With one warm-up call and 5 timings, single rows of a
    table read up to twice their time in one run of three, either library's.)"""
    for _ in range(calls):
        fn()
    return median_time(lambda: [fn() for _ in range(calls)], repeats) / calls


def torch_step_cell(cell, features, hidden):
    """PyTorch's one-step cell and head, as a user streams with them: (step(x) -> output)."""
    import torch

    kind = {"rnn": torch.nn.RNNCell, "lstm": torch.nn.LSTMCell, "gru": torch.nn.GRUCell}[cell]
    module, head, state = kind(features, hidden), torch.nn.Linear(hidden, 1), [None]

    def step(x):
        with torch.no_grad():
            state[0] = module(x, state[0])
            return head(state[0][0] if cell == "lstm" else state[0])

    return step


def torch_generate(vocab, embedding_dim, hidden, prompt, n_tokens, seed=0):
    """Sample ``n_tokens`` from an nn.Embedding + nn.GRU + nn.Linear language model with a
    carried state (random weights: the speed does not depend on them)."""
    import torch

    torch.manual_seed(seed)
    embedding = torch.nn.Embedding(vocab, embedding_dim)
    gru = torch.nn.GRU(embedding_dim, hidden, batch_first=True)
    head = torch.nn.Linear(hidden, vocab)
    with torch.no_grad():
        out, state = gru(embedding(torch.as_tensor(prompt)[None]))
        logits = head(out[:, -1])
        tokens = []
        for _ in range(n_tokens):
            token = torch.multinomial(torch.softmax(logits, dim=-1), 1)
            tokens.append(int(token))
            out, state = gru(embedding(token), state)
            logits = head(out[:, -1])
    return tokens


def bench_streaming(quick, torch):
    """Latency of one step pushed into a ``Stream`` next to PyTorch's cell modules with a
    carried state, and the speed of ``generate`` next to sampling from PyTorch."""
    from skrnn import Stream, generate

    hiddens = (64,) if quick else (32, 64, 128, 256)
    calls = 200 if quick else 2000
    features = 8
    rng = np.random.default_rng(0)
    X = rng.standard_normal((32, 10, features)).astype(np.float32)
    rows, records = [], []
    for cell in CELLS:
        for hidden in hiddens:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                est = RNNRegressor(cell=cell, hidden_layer_sizes=(hidden,), max_iter=1,
                                   random_state=0).fit(X, X[:, 0, 0])
            stream = Stream(est)
            step = X[0, 0]
            ours = per_call_time(lambda: stream.push(step), calls)
            record = dict(cell=cell, hidden=hidden, skrnn_step_us=ours * 1e6)
            row = [cell, hidden, f"{ours * 1e6:.1f}"]
            if torch is not None:
                torch_step = torch_step_cell(cell, features, hidden)
                step_t = torch.from_numpy(step[None])
                theirs = per_call_time(lambda: torch_step(step_t), calls)
                record.update(torch_step_us=theirs * 1e6, speedup=theirs / ours)
                row += [f"{theirs * 1e6:.1f}", f"{theirs / ours:.2f}x"]
            rows.append(row)
            records.append(record)
    columns = ["cell", "hidden", "skrnn us/step"]
    if torch is not None:
        columns += ["torch us/step", "speed-up"]
    print_table(f"6. Streaming: one step of {features} features pushed into a Stream (a "
                "regressor, one layer) next to PyTorch's RNNCell/LSTMCell/GRUCell and Linear "
                "head with a carried state, no_grad", columns, rows)

    vocab, embedding_dim, hidden = (200, 16, 64) if quick else (2000, 32, 128)
    n_tokens = 50 if quick else 500
    ids = rng.integers(0, vocab, size=(64, 20))
    ids[0, :] = np.arange(20)  # every id up to the prompt's is a class
    ids[1:, 0] = np.arange(63) % vocab
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one epoch; many classes for few samples
        lm = RNNClassifier(cell="gru", hidden_layer_sizes=(hidden,), embedding_dim=embedding_dim,
                           return_sequences=True, max_iter=1, random_state=0).fit(
            ids, np.roll(ids, -1, axis=1))
    prompt = ids[0, :10]
    generate(lm, prompt, 5, random_state=0)
    ours = median_time(lambda: generate(lm, prompt, n_tokens, random_state=0), 3) / n_tokens
    generation = dict(vocab=len(lm.classes_), embedding_dim=embedding_dim, hidden=hidden,
                      skrnn_tokens_per_s=1 / ours)
    row = [f"gru-{hidden}", len(lm.classes_), f"{1 / ours:,.0f}"]
    if torch is not None:
        torch_generate(len(lm.classes_), embedding_dim, hidden, prompt, 5)
        theirs = median_time(lambda: torch_generate(len(lm.classes_), embedding_dim, hidden,
                                                    prompt, n_tokens), 3) / n_tokens
        generation.update(torch_tokens_per_s=1 / theirs, speedup=theirs / ours)
        row += [f"{1 / theirs:,.0f}", f"{theirs / ours:.2f}x"]
    columns = ["model", "classes", "skrnn tokens/s"]
    if torch is not None:
        columns += ["torch tokens/s", "speed-up"]
    print_table(f"   Generation: {n_tokens} tokens sampled one by one (embedding {embedding_dim}, "
                "softmax over the classes, temperature 1) next to nn.Embedding + nn.GRU + "
                "nn.Linear with torch.multinomial and a carried state", columns, [row])
    return dict(steps=records, generation=generation)


# ------------------------------------------------------------------------------ GPU section


def skrnn_device_epoch_time(cell, X, y, hidden, batch_size, epochs, device):
    """Seconds per epoch of ``RNNRegressor(device=device).fit`` in steady state, and the
    fixed cost of a fit (validation, moving the data, capturing the loops): from fits of 1
    and of 1 + ``epochs`` epochs, after a warm-up fit."""
    params = dict(cell=cell, hidden_layer_sizes=(hidden,), batch_size=batch_size, tol=0.0,
                  n_iter_no_change=10 ** 6, random_state=0, device=device)

    def fit_time(max_iter):
        start = time.perf_counter()
        RNNRegressor(max_iter=max_iter, **params).fit(X, y)
        return time.perf_counter() - start

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RNNRegressor(max_iter=1, **params).fit(X[:2 * batch_size], y[:2 * batch_size])
        one = fit_time(1)
        more = fit_time(1 + epochs)
    per_epoch = (more - one) / epochs
    return per_epoch, one - per_epoch


def bench_cuda(quick, torch):
    steps, features, n_batches = 100, 32, 8
    hiddens = (128, 512) if quick else (128, 256, 512, 1024)
    batches = (64,) if quick else (64, 256)
    cpu_hiddens = () if quick else (128, 256)
    epochs = 1 if quick else 4
    rng = np.random.default_rng(0)
    rows, records = [], []
    for cell in CELLS:
        for batch_size in batches:
            n = n_batches * batch_size
            X = rng.standard_normal((n, steps, features)).astype(np.float32)
            y = X[:, :, 0].mean(axis=1).astype(np.float32)
            for hidden in hiddens:
                ours, fixed = skrnn_device_epoch_time(cell, X, y, hidden, batch_size, epochs,
                                                      "cuda")
                record = dict(cell=cell, batch=batch_size, hidden=hidden, skrnn_cuda_s=ours,
                              skrnn_cuda_fixed_s=fixed)
                row = [cell, batch_size, hidden, f"{ours * 1e3:.1f}", f"{fixed * 1e3:.0f}"]
                if torch is not None:
                    theirs, _ = torch_epoch_time(cell, X, y, hidden, batch_size, epochs,
                                                 "cuda")
                    record.update(torch_cuda_s=theirs, ratio_to_cudnn=ours / theirs)
                    row += [f"{theirs * 1e3:.1f}", f"{ours / theirs:.2f}x"]
                if hidden in cpu_hiddens:
                    on_cpu, _ = skrnn_device_epoch_time(cell, X, y, hidden, batch_size, 1,
                                                        "cpu")
                    record.update(skrnn_cpu_s=on_cpu, gpu_speedup_over_cpu=on_cpu / ours)
                    row += [f"{on_cpu * 1e3:.0f}", f"{on_cpu / ours:.1f}x"]
                else:
                    row += ["-", "-"]
                rows.append(row)
                records.append(record)
                print("  " + "  ".join(str(v) for v in row), flush=True)
    columns = ["cell", "batch", "hidden", "skrnn cuda ms/epoch", "fixed ms/fit"]
    if torch is not None:
        columns += ["torch cudnn ms/epoch", "skrnn/cudnn time"]
    columns += ["skrnn cpu ms/epoch", "gpu speed-up over cpu"]
    import cupy

    name = cupy.cuda.runtime.getDeviceProperties(0)["name"].decode()
    print_table(f"GPU ({name}): {n_batches} batches x {steps} steps x {features} features per "
                f"epoch, float32 (TF32 off); estimator-level fit, ms/epoch in steady state "
                f"(from fits of 1 and {1 + epochs} epochs) and the fixed cost of a fit",
                columns, rows)
    return dict(gpu=name, steps=steps, features=features, n_batches=n_batches, epochs=epochs,
                results=records)


# ------------------------------------------------------------------------------ 2. first use

_FIRST_USE_SCRIPT = """
import time
start = time.perf_counter()
import numpy as np
import skrnn
imported = time.perf_counter()
rng = np.random.default_rng(0)
X = rng.normal(size=(32, 10, 3)).astype("float32")
y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
skrnn.RNNClassifier(hidden_layer_sizes=(8,), max_iter=2).fit(X, y).predict(X)
done = time.perf_counter()
print(imported - start, done - imported)
"""


def bench_first_use():
    """Import and first tiny fit in fresh processes with an empty, then a warm, JIT cache."""
    rows, record = [], {}
    with tempfile.TemporaryDirectory() as cache_dir:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
        for label in ("cold cache", "warm cache"):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", _FIRST_USE_SCRIPT], env=env, check=True,
                                 capture_output=True, text=True).stdout
            total = time.perf_counter() - start
            import_s, fit_s = (float(v) for v in out.split())
            record[label.replace(" ", "_")] = dict(import_s=import_s, first_fit_s=fit_s,
                                                   process_s=total)
            rows.append([label, f"{import_s:.2f}", f"{fit_s:.2f}", f"{import_s + fit_s:.2f}",
                         f"{total:.2f}"])
    print_table("2. First use (fresh process, tiny LSTM fit + predict), seconds",
                ["JIT cache", "import skrnn", "first fit", "import + fit", "whole process"], rows)
    return record


# ------------------------------------------------------------------------------ 3. digits


def bench_digits(quick):
    digits = load_digit_sequences()
    X_train, X_test, y_train, y_test = train_test_split(
        digits.data, digits.target, test_size=0.25, random_state=0, stratify=digits.target)
    rows, records = [], []
    models = []
    for solver in ("adam", "lbfgs"):
        extra = "" if solver == "adam" else f", solver='{solver}'"
        models += [(f"RNNClassifier(cell='{cell}'{extra})",
                    RNNClassifier(cell=cell, solver=solver, random_state=0))
                   for cell in (("gru",) if quick else CELLS)]
        models.append((f"MLPClassifier({extra[2:]})",
                       MLPClassifier(solver=solver, random_state=0)))
    for name, model in models:
        if quick:
            model.set_params(max_iter=15)
        flat = isinstance(model, MLPClassifier)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(X_train.reshape(len(X_train), -1) if flat else X_train, y_train)
            fit_s = time.perf_counter() - start
        accuracy = model.score(X_test.reshape(len(X_test), -1) if flat else X_test, y_test)
        records.append(dict(model=name, solver=model.solver, accuracy=accuracy, fit_s=fit_s,
                            epochs=model.n_iter_))
        rows.append([name, f"{accuracy:.4f}", model.n_iter_, f"{fit_s:.1f}"])
    print_table(f"3. Digits read row by row (8 steps x 8 features): {len(X_train)} train / "
                f"{len(X_test)} test, default hyper-parameters; lbfgs: full batch",
                ["model", "test accuracy", "epochs (lbfgs: iterations)", "fit s"], rows)
    return records


# ------------------------------------------------------------------------------ 4. sunspots


def sliding_windows(series, window):
    """(X, y): each window of ``window`` values and the value that follows it."""
    X = np.lib.stride_tricks.sliding_window_view(series[:-1], window)
    return X.copy(), series[window:].copy()


def bench_sunspots(quick):
    sunspots = load_sunspots()
    series, years = sunspots.data, sunspots.years
    window = 20
    X, y = sliding_windows(series, window)
    n_test = int(round(0.2 * len(y)))
    split = len(y) - n_test
    mean, std = series[:split + window].mean(), series[:split + window].std()
    Xs, ys = (X - mean) / std, (y - mean) / std

    predictions = {"naive (last value)": X[split:, -1]}
    ridge = Ridge(alpha=1.0).fit(Xs[:split], ys[:split])
    predictions["ridge on windows"] = ridge.predict(Xs[split:]) * std + mean
    fit_seconds = {}
    for cell in (("gru",) if quick else CELLS):
        model = RNNRegressor(cell=cell, hidden_layer_sizes=(32,), learning_rate_init=0.005,
                             batch_size=32, max_iter=30 if quick else 300,
                             early_stopping=not quick, n_iter_no_change=20, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            model.fit(Xs[:split], ys[:split])
            fit_seconds[cell] = time.perf_counter() - start
        predictions[f"RNNRegressor(cell='{cell}')"] = model.predict(Xs[split:]) * std + mean

    truth = y[split:]
    rows, records = [], []
    for name, pred in predictions.items():
        rmse = float(np.sqrt(np.mean((pred - truth) ** 2)))
        cell = name.split("'")[1] if "'" in name else None
        records.append(dict(model=name, rmse=rmse, fit_s=fit_seconds.get(cell)))
        rows.append([name, f"{rmse:.2f}", "" if cell is None else f"{fit_seconds[cell]:.1f}"])
    print_table(f"4. Sunspots {years[0]}-{years[-1]}: one-step forecasts from {window}-year "
                f"windows, RMSE on the last {n_test} years ({years[window + split]}-{years[-1]})",
                ["model", "RMSE", "fit s"], rows)
    return dict(window=window, test_years=years[window + split:].tolist(), truth=truth.tolist(),
                predictions={k: v.tolist() for k, v in predictions.items()}, results=records)


# ------------------------------------------------------------------------------ plots


def write_plots(results, out):
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no plots (pip install matplotlib).")
        return []
    written = []
    speed = [r for r in results.get("speed", {}).get("results", []) if "train_speedup" in r]
    if speed:
        fig, ax = plt.subplots(figsize=(8, 4))
        labels = [f"{r['cell']}\n{r['hidden']}" for r in speed]
        x = np.arange(len(speed))
        ax.bar(x - 0.2, [r["train_speedup"] for r in speed], 0.4, label="training")
        ax.bar(x + 0.2, [r["predict_speedup"] for r in speed], 0.4, label="predict (1 sequence)")
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.set_xticks(x, labels)
        ax.set_ylabel("speed-up over PyTorch (x)")
        ax.set_title("skrnn vs PyTorch on the CPU (cell / hidden size)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / "speed.png", dpi=120)
        plt.close(fig)
        written.append(out / "speed.png")
    if "sunspots" not in results:
        return written
    sun = results["sunspots"]
    fig, ax = plt.subplots(figsize=(8, 4))
    ax.plot(sun["test_years"], sun["truth"], color="black", linewidth=2, label="observed")
    for name, pred in sun["predictions"].items():
        ax.plot(sun["test_years"], pred, linewidth=1, label=name)
    ax.set_xlabel("year")
    ax.set_ylabel("sunspot number")
    ax.set_title("One-step forecasts on the held-out years")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "forecast.png", dpi=120)
    plt.close(fig)
    written.append(out / "forecast.png")
    return written


# ------------------------------------------------------------------------------ 5. data path


def best_time(fn, repeats):
    return min(median_time(fn, 1) for _ in range(repeats))


def bench_ragged(quick):
    """Ingest, one epoch of fit and predict: a ragged list against the NaN-padded array."""
    from skrnn._sequences import sequences_from_input

    n = 5_000 if quick else 100_000
    rng = np.random.default_rng(0)
    X_list = [rng.standard_normal((t, 8)).astype(np.float32)
              for t in rng.integers(10, 101, size=n)]
    X_padded = np.full((n, 100, 8), np.nan, np.float32)
    for i, seq in enumerate(X_list):
        X_padded[i, :len(seq)] = seq
    y = rng.standard_normal(n).astype(np.float32)
    params = dict(hidden_layer_sizes=(32,), batch_size=256, max_iter=1, random_state=0)
    copy_s = best_time(lambda: np.concatenate(X_list), 3)
    forms = {"list": X_list, "3-D array": X_padded}
    record = dict(n=n, copy_us_per_sequence=copy_s / n * 1e6)
    fit_s, predict_s = {form: [] for form in forms}, {form: [] for form in forms}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # untimed first fits: compiling, and the first touch of fresh memory (on the VM
        # measured, a first 320 MB cost 0.7 s more than the next)
        models = {form: RNNRegressor(**params).fit(X, y) for form, X in forms.items()}
        for order in (("list", "3-D array"), ("3-D array", "list")):  # neither always first
            for form in order:
                X = forms[form]
                fit_s[form].append(median_time(lambda: RNNRegressor(**params).fit(X, y), 1))
                predict_s[form].append(median_time(lambda: models[form].predict(X), 1))
    rows = []
    for form, X in forms.items():
        ingest_s = best_time(lambda: sequences_from_input(X, np.float32), 3)
        record[form] = dict(ingest_us_per_sequence=ingest_s / n * 1e6,
                            fit_epoch_s=min(fit_s[form]), predict_s=min(predict_s[form]))
        rows.append([form, f"{ingest_s / n * 1e6:.2f}", f"{min(fit_s[form]):.2f}",
                     f"{min(predict_s[form]):.2f}"])
    array = record["3-D array"]
    rows.append(["list / array", "", f"{record['list']['fit_epoch_s'] / array['fit_epoch_s']:.2f}x",
                 f"{record['list']['predict_s'] / array['predict_s']:.2f}x"])
    print_table(f"5. Data path: {n} ragged sequences of 10-100 steps x 8 features, LSTM-32, "
                f"batch 256, float32; best of 2 (ingest: of 3); a plain copy of the values "
                f"takes {copy_s / n * 1e6:.2f} us/sequence",
                ["X", "ingest us/sequence", "fit epoch s", "predict s"], rows)
    return record


def torch_language_model_epoch_time(X, y, n_classes, embedding_dim, hidden, batch_size,
                                    repeats):
    """Seconds per epoch of the same language model in PyTorch, after a warm-up epoch."""
    import torch

    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(n_classes, embedding_dim)
            self.rnn = torch.nn.GRU(embedding_dim, hidden, batch_first=True)
            self.head = torch.nn.Linear(hidden, n_classes)

        def forward(self, x):
            return self.head(self.rnn(self.embedding(x))[0])

    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        for batch in torch.randperm(X_t.shape[0]).split(batch_size):
            optimizer.zero_grad()
            logits = model(X_t[batch])
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, n_classes),
                                                     y_t[batch].reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

    epoch()
    return float(np.median([median_time(epoch, 1) for _ in range(repeats)]))


def bench_language_model(quick, torch):
    """Per-step softmax over a vocabulary: skrnn's epoch against PyTorch's."""
    n, steps, n_classes = (64, 20, 500) if quick else (512, 50, 2000)
    embedding_dim, hidden, batch_size, repeats = 32, 128, 200, 1 if quick else 3
    rng = np.random.default_rng(0)
    X = rng.integers(0, n_classes, size=(n, steps))
    y = np.roll(X, -1, axis=1)
    params = dict(cell="gru", hidden_layer_sizes=(hidden,), embedding_dim=embedding_dim,
                  return_sequences=True, batch_size=batch_size, max_iter=1, random_state=0)
    times = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        RNNClassifier(**params).fit(X, y)  # compile
        for _ in range(repeats):
            times.append(median_time(lambda: RNNClassifier(**params).fit(X, y), 1))
    ours = float(np.median(times))
    record = dict(n=n, steps=steps, n_classes=n_classes, hidden=hidden, skrnn_epoch_s=ours)
    row = ["gru", hidden, n_classes, f"{ours * 1e3:.0f}"]
    columns = ["cell", "hidden", "classes", "skrnn ms/epoch"]
    if torch is not None:
        theirs = torch_language_model_epoch_time(X, y, n_classes, embedding_dim, hidden,
                                                 batch_size, repeats)
        record.update(torch_epoch_s=theirs, train_speedup=theirs / ours)
        row += [f"{theirs * 1e3:.0f}", f"{theirs / ours:.2f}x"]
        columns += ["torch ms/epoch", "train speed-up"]
    print_table(f"   Language model: {n} sequences x {steps} token ids, embedding 32, per-step "
                f"softmax, batch {batch_size}; one epoch, median of {repeats}", columns, [row])
    return record



# ------------------------------------------------------------------------------ 7. shapes

# Each row: a kind of workload users bring, off the bench shape of section 1. n sequences x
# steps x features (or token ids from a vocabulary), one epoch of Adam with clipping at 5.
SHAPES = [
    dict(name="many features", cell="lstm", hidden=(128,), features=64, steps=50, n=2048,
         batch=32),
    dict(name="long windows", cell="gru", hidden=(64,), features=1, steps=200, n=1024,
         batch=64),
    dict(name="stacked", cell="lstm", hidden=(64, 64), features=8, steps=50, n=2048, batch=64),
    dict(name="bidirectional", cell="gru", hidden=(64,), features=8, steps=50, n=2048,
         batch=64, bidirectional=True),
    dict(name="ragged 10-200", cell="lstm", hidden=(64,), features=8, steps=200, n=1024,
         batch=64, ragged=True),
    dict(name="tokens, vocab 5000", cell="lstm", hidden=(128,), vocab=5000, embedding=64,
         steps=50, n=2048, batch=64, classes=2),
    dict(name="language model", cell="gru", hidden=(128,), vocab=2000, embedding=32, steps=50,
         n=512, batch=64, classes=2000, per_step=True),
    dict(name="float64", cell="lstm", hidden=(64,), features=8, steps=50, n=2048, batch=64,
         dtype="float64"),
    dict(name="float64 gru", cell="gru", hidden=(128,), features=8, steps=50, n=2048,
         batch=64, dtype="float64"),
    dict(name="wide", cell="lstm", hidden=(512,), features=8, steps=50, n=512, batch=64),
    dict(name="small batches", cell="rnn", hidden=(64,), features=8, steps=50, n=1024,
         batch=16),
]


def shape_data(case, quick):
    """The case's inputs for skrnn and for PyTorch (padded, with lengths), and its targets."""
    rng = np.random.default_rng(0)
    n = max(case["batch"] * 2, case["n"] // 8) if quick else case["n"]
    dtype = np.dtype(case.get("dtype", "float32"))
    steps = case["steps"]
    if "vocab" in case:
        X = rng.integers(0, case["vocab"], size=(n, steps))
        y = (np.roll(X, -1, axis=1) if case.get("per_step")
             else (X[:, : steps // 2].mean(axis=1) > X[:, steps // 2:].mean(axis=1)).astype(int))
        return X, X, None, y
    X = rng.standard_normal((n, steps, case["features"])).astype(dtype)
    lengths = rng.integers(10, steps + 1, size=n) if case.get("ragged") else np.full(n, steps)
    padded = X * (np.arange(steps)[None, :, None] < lengths[:, None, None])
    y = np.array([row[:t, 0].mean() for row, t in zip(X, lengths)], dtype=dtype)
    ours = [row[:t] for row, t in zip(X, lengths)] if case.get("ragged") else X
    return ours, padded, lengths if case.get("ragged") else None, y


def skrnn_shape_epoch_time(case, X, y, repeats):
    """Median seconds of a one-epoch ``fit`` (validation included), after a compiling fit."""
    estimator = RNNClassifier if "classes" in case else RNNRegressor
    params = dict(cell=case["cell"], hidden_layer_sizes=case["hidden"], batch_size=case["batch"],
                  dtype=case.get("dtype", "float32"), bidirectional=case.get("bidirectional", False),
                  embedding_dim=case.get("embedding"), return_sequences=case.get("per_step", False),
                  max_iter=1, tol=0.0, n_iter_no_change=10 ** 6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator(**params).fit(X[: case["batch"]], y[: case["batch"]])  # compile
        times = [median_time(lambda: estimator(**params).fit(X, y), 1) for _ in range(repeats)]
    return float(np.median(times))


def torch_shape_epoch_time(case, X, lengths, y, repeats):
    """Median seconds of one epoch of the same model in PyTorch, after a warm-up epoch.

    Ragged sequences go through ``pack_padded_sequence`` per batch, as PyTorch users write it;
    a sequence's summary is the last layer's final state (both directions), as in skrnn.
    """
    import torch

    torch.manual_seed(0)
    vocab, per_step = case.get("vocab"), case.get("per_step", False)
    hidden, layers = case["hidden"][0], len(case["hidden"])
    directions = 2 if case.get("bidirectional") else 1
    outputs = case.get("classes", 1)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab, case["embedding"]) if vocab else None
            kind = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[case["cell"]]
            self.rnn = kind(case["embedding"] if vocab else case["features"], hidden,
                            num_layers=layers, bidirectional=directions == 2, batch_first=True)
            self.head = torch.nn.Linear(hidden * directions, outputs)

        def forward(self, x, lengths):
            if self.embedding is not None:
                x = self.embedding(x)
            if lengths is not None:
                x = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True,
                                                            enforce_sorted=False)
            out, state = self.rnn(x)
            if per_step:
                return self.head(out)
            h_n = state[0] if isinstance(state, tuple) else state
            return self.head(torch.cat(list(h_n[-directions:]), dim=1))

    model = Net()
    if case.get("dtype") == "float64":
        model = model.double()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X_t, y_t = torch.from_numpy(X), torch.from_numpy(y)
    lengths_t = None if lengths is None else torch.from_numpy(lengths)

    def epoch():
        for batch in torch.randperm(X_t.shape[0]).split(case["batch"]):
            optimizer.zero_grad()
            out = model(X_t[batch], None if lengths_t is None else lengths_t[batch])
            if "classes" in case:
                loss = torch.nn.functional.cross_entropy(out.reshape(-1, outputs),
                                                         y_t[batch].reshape(-1))
            else:
                loss = 0.5 * torch.nn.functional.mse_loss(out[:, 0], y_t[batch])
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimizer.step()

    epoch()
    return float(np.median([median_time(epoch, 1) for _ in range(repeats)]))


def bench_shapes(quick, threads, torch):
    """One epoch of each workload in SHAPES, skrnn next to PyTorch on the same threads."""
    repeats = 1 if quick else 3
    rows, records = [], []
    for case in SHAPES:
        X, padded, lengths, y = shape_data(case, quick)
        ours = skrnn_shape_epoch_time(case, X, y, repeats)
        record = dict(case, n=len(y), skrnn_epoch_s=ours)
        shape = (f"{case['steps']} x vocab {case['vocab']}" if "vocab" in case
                 else f"{case['steps']} x {case['features']}")
        row = [case["name"], case["cell"], "x".join(map(str, case["hidden"])), shape,
               case["batch"], case.get("dtype", "float32")[5:], f"{ours * 1e3:.0f}"]
        if torch is not None:
            theirs = torch_shape_epoch_time(case, padded, lengths, y, repeats)
            record.update(torch_epoch_s=theirs, train_speedup=theirs / ours)
            row += [f"{theirs * 1e3:.0f}", f"{theirs / ours:.2f}x"]
        rows.append(row)
        records.append(record)
    columns = ["workload", "cell", "hidden", "steps x features", "batch", "float",
               "skrnn ms/epoch"]
    if torch is not None:
        columns += ["torch ms/epoch", "train speed-up"]
    runs = f"median of {repeats}" if repeats > 1 else "one run"
    print_table(f"7. Shapes: one epoch each (Adam, clipping at 5), {threads} threads, {runs}; "
                f"{'quick sizes' if quick else 'n as listed in bench.py'}", columns, rows)
    return dict(runs=repeats, results=records)


# ------------------------------------------------------------------------------ main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="reduced sizes and epochs: a smoke test in under a minute")
    parser.add_argument("--out", type=Path, default=Path("bench_results"),
                        help="folder for bench.json and the plots (default: ./bench_results)")
    parser.add_argument("--threads", type=int, default=os.cpu_count(),
                        help="threads for skrnn and PyTorch alike (default: all cores)")
    parser.add_argument("--only", choices=SECTIONS, action="append",
                        help="run just this section (repeatable); bench.json then holds only it")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                        help="cuda: the GPU section only, against PyTorch on the GPU")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.device == "cuda":
        return main_cuda(args)

    try:
        import torch

        torch.set_num_threads(args.threads)
    except ImportError:
        torch = None
    machine = dict(python=platform.python_version(), platform=platform.platform(),
                   processor=platform.processor() or platform.machine(), cores=os.cpu_count(),
                   threads=args.threads, skrnn=skrnn.__version__, numpy=np.__version__,
                   torch=None if torch is None else torch.__version__)
    print(f"skrnn {skrnn.__version__} on {machine['platform']}, {machine['cores']} cores, "
          f"{args.threads} threads; PyTorch {machine['torch'] or 'not installed'}"
          f"{' (quick)' if args.quick else ''}")

    results = dict(machine=machine, quick=args.quick)
    sections = {
        "speed": lambda: bench_speed(args.quick, args.threads, torch),
        "first_use": bench_first_use,
        "digits": lambda: bench_digits(args.quick),
        "sunspots": lambda: bench_sunspots(args.quick),
        "data_path": lambda: dict(ragged=bench_ragged(args.quick),
                                  language_model=bench_language_model(args.quick, torch)),
        "streaming": lambda: bench_streaming(args.quick, torch),
        "shapes": lambda: bench_shapes(args.quick, args.threads, torch),
    }
    for name in SECTIONS:
        if args.only is None or name in args.only:
            results[name] = sections[name]()

    (args.out / "bench.json").write_text(json.dumps(results, indent=2))
    written = [args.out / "bench.json"] + write_plots(results, args.out)
    print("\nwrote " + ", ".join(str(p) for p in written))
    return results


def main_cuda(args):
    from skrnn._backend import cuda_backend

    cuda_backend()  # a clear error when there is no GPU
    try:
        import torch

        torch.set_num_threads(args.threads)
        if not torch.cuda.is_available():
            print("PyTorch sees no GPU: skrnn's own figures only.")
            torch = None
    except ImportError:
        torch = None
    print(f"skrnn {skrnn.__version__}, GPU section; PyTorch "
          f"{'not available' if torch is None else torch.__version__}"
          f"{' (quick)' if args.quick else ''}")
    results = dict(cuda=bench_cuda(args.quick, torch))
    (args.out / "bench_cuda.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {args.out / 'bench_cuda.json'}")
    return results


if __name__ == "__main__":
    main()
