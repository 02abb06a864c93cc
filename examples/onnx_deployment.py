"""Export a fitted pipeline to ONNX and serve it with ONNX Runtime.
================================================================

The digits read row by row (8 steps x 8 features) train a Pipeline(SequenceScaler,
RNNClassifier); ``skl2onnx.to_onnx`` converts the whole pipeline once ``skrnn.onnx`` is
imported (it registers skrnn's converters). The script checks that ONNX Runtime gives the
pipeline's probabilities and labels, writes the model, and times one sequence at a time,
as a service answering single requests would: the pipeline's ``predict`` against
``InferenceSession.run``. Needs ``pip install "skrnn[onnx]"``.

    python examples/onnx_deployment.py [--quick] [--out DIR]
"""

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from skrnn import RNNClassifier, SequenceScaler


def median_microseconds(call, repeats):
    call()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return 1e6 * float(np.median(times))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs and timings")
    parser.add_argument("--out", type=Path, default=Path("bench_results"),
                        help="folder for the .onnx file")
    args = parser.parse_args(argv)
    try:
        import onnxruntime
        import skl2onnx

        import skrnn.onnx  # noqa: F401  (registers skrnn's converters with skl2onnx)
    except ImportError as error:
        raise SystemExit(f"{error}: pip install 'skrnn[onnx]'") from None

    digits = load_digits()
    X = (digits.images / 16.0).astype(np.float32)  # (n, 8 rows = steps, 8 columns = features)
    X_train, X_test, y_train, y_test = train_test_split(X, digits.target, test_size=0.25,
                                                        random_state=0)
    pipe = make_pipeline(SequenceScaler(), RNNClassifier(
        cell="gru", hidden_layer_sizes=(64,), learning_rate_init=0.01,
        max_iter=15 if args.quick else 100, early_stopping=not args.quick, random_state=0))
    with warnings.catch_warnings():
        if args.quick:  # the quick run stops early on purpose
            warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(X_train, y_train)

    classifier = pipe[-1]
    model = skl2onnx.to_onnx(pipe, X_train[:1], options={id(classifier): {"zipmap": False}})
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "digits_gru.onnx"
    path.write_bytes(model.SerializeToString())
    print(f"wrote {path.resolve()} ({path.stat().st_size / 1024:.0f} KiB)")

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name
    labels, proba = session.run(None, {input_name: X_test})
    proba_error = np.abs(proba - pipe.predict_proba(X_test)).max()
    same_labels = np.mean(labels == pipe.predict(X_test))
    print(f"ONNX Runtime against the pipeline on {len(X_test)} test digits: probabilities "
          f"within {proba_error:.1e}, labels identical for {same_labels:.1%}; test accuracy "
          f"{np.mean(labels == y_test):.4f}")

    one = X_test[:1]
    repeats = 200 if args.quick else 2000
    skrnn_us = median_microseconds(lambda: pipe.predict(one), repeats)
    estimator_us = median_microseconds(lambda: classifier.predict(one), repeats)
    onnx_us = median_microseconds(lambda: session.run(None, {input_name: one}), repeats)
    print(f"one sequence (median of {repeats}): skrnn pipeline.predict {skrnn_us:.0f} us "
          f"(the RNNClassifier alone {estimator_us:.0f} us), ONNX Runtime "
          f"{onnx_us:.0f} us")


if __name__ == "__main__":
    main()
