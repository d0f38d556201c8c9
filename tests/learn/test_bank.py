"""learn.bank: the CNN beats the hand-made features on held-out digits; gradient, determinism, saved bank."""

from __future__ import annotations

import numpy as np
import pytest

from streamconv import config
from streamconv.learn import bank
from streamconv.ops.conv3d import conv3d

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def digits():
    return bank.load_digits()


@pytest.fixture(scope="module")
def result(digits):
    return bank.compare_banks(*digits, filters=8, size=3, seed=0, epochs=60)


def test_cnn_beats_handmade_features_on_held_out(result):
    acc = result.accuracy
    assert (result.n_train, result.n_test) == (1258, 539)
    # seed 0 gives 0.974 vs 0.959 (raw pixels 0.961): at least 1 point, 5 test images, of margin
    assert acc["cnn"] >= acc["handmade"] + 0.01, acc
    assert acc["cnn"] > acc["raw"], acc
    assert min(acc.values()) > 0.9
    assert all(t > 0 for t in result.train_seconds.values())


def test_deterministic_given_the_seed(digits, result):
    again = bank.compare_banks(*digits, filters=8, size=3, seed=0, epochs=60)
    assert again.accuracy == result.accuracy
    np.testing.assert_array_equal(again.bank, result.bank)


def test_backprop_matches_central_differences(digits):
    images, labels = digits[0][:16], digits[1][:16]
    rng = np.random.default_rng(3)
    clf = bank.Classifier(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2) * 0.1,
                          rng.normal(size=(32, 10)) * 0.1, rng.normal(size=10) * 0.1, learn_bank=True)
    cols = bank.im2col(images, 3)
    _, grads = clf.gradients(cols, images, labels)
    eps = 1e-6
    for name in ("bank", "bias", "weights", "offset"):
        param = getattr(clf, name)
        numeric = np.zeros_like(param)
        for idx in list(np.ndindex(param.shape))[:40]:
            keep = param[idx]
            param[idx] = keep + eps
            up = clf.gradients(cols, images, labels)[0]
            param[idx] = keep - eps
            down = clf.gradients(cols, images, labels)[0]
            param[idx] = keep
            numeric[idx] = (up - down) / (2 * eps)
        checked = list(np.ndindex(param.shape))[:40]
        got = np.array([grads[name][i] for i in checked])
        want = np.array([numeric[i] for i in checked])
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-7, err_msg=name)


def test_saved_bank_is_what_a_bank3d_stage_loads(result, tmp_path):
    saved = bank.to_bank3d(result.bank, 3)
    path = tmp_path / "bank.npy"
    np.save(path, saved)
    stage = config.Bank3DStage(file=path)
    config.check_chain("frames", "learnt", [stage])  # D = 3: runs on the camera's BGR frames
    grey = np.random.default_rng(0).random((8, 8))
    bgr = np.dstack([grey] * 3)
    np.testing.assert_allclose(conv3d(bgr, stage.bank(), padding="same"),
                               conv3d(grey[..., None], result.bank, padding="same"), atol=1e-12)
