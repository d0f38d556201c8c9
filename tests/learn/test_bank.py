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


def test_gradient_of_the_bank_matches_finite_differences(digits):
    images, labels = digits[0][:16], digits[1][:16]
    rng = np.random.default_rng(3)
    clf = bank.Classifier(rng.normal(size=(2, 1, 3, 3)), rng.normal(size=2) * 0.1,
                          rng.normal(size=(32, 10)) * 0.1, np.zeros(10), learn_bank=True)

    def loss(c):
        s = c.logits(images)
        s = s - s.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(s).sum(axis=1)) - s[np.arange(16), labels]))

    # one Adam step with a tiny rate moves each weight by ~lr * sign(grad): its sign is the gradient's
    base = loss(clf)
    eps = 1e-6
    numeric = np.zeros(clf.bank.shape)
    for idx in np.ndindex(clf.bank.shape):
        c2 = bank.Classifier(clf.bank.copy(), clf.bias, clf.weights, clf.offset)
        c2.bank[idx] += eps
        numeric[idx] = (loss(c2) - base) / eps
    before = clf.bank.copy()
    clf.step(bank.im2col(images, 3), images, labels, lr=1e-4, t=1, decay=0.0)
    moved = before - clf.bank
    big = np.abs(numeric) > 1e-3
    assert big.sum() >= 6
    np.testing.assert_array_equal(np.sign(moved[big]), np.sign(numeric[big]))


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
