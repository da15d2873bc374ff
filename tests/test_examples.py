"""The examples run end to end on the real data sets and reach their stated quality."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))


def test_four_layer_regression_beats_the_mean_baseline(capsys):
    import four_layer_regression as ex
    test_mse = ex.main(["--quiet"])
    out = capsys.readouterr().out
    assert "def loss_value_and_grad(x, y, V1, V2, V3, w):" in out
    assert "predict the mean" in out and "least squares" in out
    assert test_mse < 0.7  # the mean baseline is 0.84 on this split


def test_hinge_classifier_accuracy_above_0_9(capsys):
    import hinge_classifier as ex
    assert ex.main(["--quiet"]) > 0.9
