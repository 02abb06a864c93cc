"""Forecast the yearly sunspot numbers shipped with skrnn, and plot the forecast.
==============================================================================

Sliding 20-year windows feed a Pipeline(SequenceScaler, RNNRegressor) inside a
TransformedTargetRegressor (which scales the target); the last 20% of the years are held
out, and early stopping holds out 10% of the training windows. Prints the RMSE next to the naive last-value forecast, forecasts 11 years past the end
of the series recursively, and saves the plots (when matplotlib is installed).

    python examples/forecast_sunspots.py [--quick] [--out DIR]
"""

import argparse
import warnings
from pathlib import Path

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skrnn import RNNRegressor, SequenceScaler, recursive_forecast, sliding_windows
from skrnn.datasets import load_sunspots


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer epochs")
    parser.add_argument("--out", type=Path, default=Path("bench_results"),
                        help="folder for the plots")
    args = parser.parse_args(argv)
    sunspots = load_sunspots()
    series, years = sunspots.data, sunspots.years
    window = 20
    X, y = sliding_windows(series, window)
    split = int(0.8 * len(y))

    model = TransformedTargetRegressor(
        regressor=make_pipeline(SequenceScaler(), RNNRegressor(
            cell="gru", hidden_layer_sizes=(32,), learning_rate_init=0.005, batch_size=32,
            max_iter=30 if args.quick else 300, early_stopping=not args.quick,
            n_iter_no_change=20, random_state=0)),
        transformer=StandardScaler())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[:split], y[:split])
    pred = model.predict(X[split:])
    rmse = np.sqrt(np.mean((pred - y[split:]) ** 2))
    naive = np.sqrt(np.mean((X[split:, -1] - y[split:]) ** 2))
    future = recursive_forecast(model, series, steps=11)
    print(f"sunspots {years[window + split]}-{years[-1]}: RMSE {rmse:.1f} (naive {naive:.1f}); "
          f"forecast {years[-1] + 1}-{years[-1] + 11}: "
          + " ".join(f"{v:.0f}" for v in future))

    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        return
    from skrnn.plotting import ForecastDisplay, TrainingCurveDisplay

    args.out.mkdir(parents=True, exist_ok=True)
    display = ForecastDisplay.from_predictions(y[split:], pred, index=years[window + split:],
                                               label="GRU, one step ahead")
    display.ax_.plot(np.arange(years[-1] + 1, years[-1] + 12), future, "--",
                     label="GRU, recursive")
    display.ax_.legend()
    display.ax_.set_ylabel("sunspot number")
    forecast_png = args.out / "sunspots_forecast.png"
    training_png = args.out / "sunspots_training.png"
    display.figure_.savefig(forecast_png, dpi=120)
    curve = TrainingCurveDisplay.from_estimator(model)  # the RNNRegressor inside
    curve.figure_.savefig(training_png, dpi=120)
    print(f"wrote {forecast_png.resolve()} and {training_png.resolve()}")


if __name__ == "__main__":
    main()
