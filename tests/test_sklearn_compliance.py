"""scikit-learn's own estimator checks, run unmodified on both estimators."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import RNNClassifier, RNNRegressor, SequenceImputer, SequenceScaler

# Stochastic minibatch training: a zero weight is not the same as removing the sample (the
# batches and the random draws differ), exactly as for MLPClassifier/MLPRegressor.
SAMPLE_WEIGHT_REASON = ("minibatch training: a zero sample weight changes the batches and "
                        "random draws, so it is not equivalent to removing the sample")


def expected_failed_checks(estimator):
    if isinstance(estimator, (SequenceScaler, SequenceImputer)):
        return {}
    return {"check_sample_weight_equivalence_on_dense_data": SAMPLE_WEIGHT_REASON}


@parametrize_with_checks([RNNRegressor(), RNNClassifier(), SequenceScaler(),
                          SequenceScaler(method="minmax"), SequenceImputer(),
                          SequenceImputer(strategy="linear", add_indicator=True)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
