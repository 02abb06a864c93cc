"""scikit-learn's own estimator checks, run unmodified on both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import RNNClassifier, RNNRegressor, SequenceImputer, SequenceScaler

# Stochastic minibatch training: a zero weight is not the same as removing the sample (the
# batches and the random draws differ), exactly as for MLPClassifier/MLPRegressor.
SAMPLE_WEIGHT_REASON = ("minibatch training: a zero sample weight changes the batches and "
                        "random draws, so it is not equivalent to removing the sample")
# Full-batch lbfgs: weighting is exact in the loss (tests/test_solvers.py checks a weight of
# 2 against repeating the sequence), but the sums run in another order and the iterations
# carry the rounding differences past the check's rtol of 1e-7.
LBFGS_SAMPLE_WEIGHT_REASON = ("L-BFGS iterations amplify the rounding differences of "
                              "summing the loss in another order beyond rtol=1e-7")
# lbfgs (full-batch) with a smaller network than the default: it runs every check again
LBFGS = dict(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=50)


def expected_failed_checks(estimator):
    if isinstance(estimator, (SequenceScaler, SequenceImputer)):
        return {}
    reason = LBFGS_SAMPLE_WEIGHT_REASON if estimator.solver == "lbfgs" else SAMPLE_WEIGHT_REASON
    return {"check_sample_weight_equivalence_on_dense_data": reason}


@parametrize_with_checks([RNNRegressor(), RNNClassifier(), RNNRegressor(**LBFGS),
                          RNNClassifier(**LBFGS), SequenceScaler(),
                          SequenceScaler(method="minmax"), SequenceImputer(),
                          SequenceImputer(strategy="linear", add_indicator=True)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
