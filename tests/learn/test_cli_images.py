"""`learn kernel2d` and `learn bank` on the command line: files the stages load; one-line errors, exit 2."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from streamconv import config
from streamconv.ops import kernels
from streamconv.ops.conv2d import conv2d
from tests.learn.test_cli_fir import run

RNG = np.random.default_rng(7)


def test_kernel2d_from_npy_pairs_saved_for_a_kernel2d_stage(tmp_path, capsys):
    frames = RNG.random((3, 20, 24, 3))
    k = kernels.get("edge_detect")
    targets = np.stack([conv2d(f, k, padding="same", border="replicate") for f in frames])
    np.save(tmp_path / "in.npy", frames)
    np.save(tmp_path / "out.npy", targets)
    out = tmp_path / "k.npy"
    code, text, err = run(["learn", "kernel2d", str(tmp_path / "in.npy"), str(tmp_path / "out.npy"),
                           "--size", "3", "--out", str(out), "--json"], capsys)
    assert code == 0, err
    data = json.loads(text)
    np.testing.assert_allclose(data["kernel"], k, atol=1e-6)
    assert data["pairs"] == 3 and data["residual_rms"] < 1e-9
    stage = config.Kernel2DStage(file=out, border="replicate")
    np.testing.assert_allclose(stage.matrix(), k, atol=1e-6)
    np.testing.assert_allclose(stage.build()(frames[0]), targets[0], atol=1e-5)


def test_kernel2d_from_png_images(tmp_path, capsys):
    image = (RNG.random((40, 40)) * 255).astype(np.uint8)
    target = conv2d(image.astype(np.float64), kernels.get("blur"), padding="same")
    cv2.imwrite(str(tmp_path / "a.png"), image)
    np.save(tmp_path / "b.npy", target)
    code, text, err = run(["learn", "kernel2d", str(tmp_path / "a.png"), str(tmp_path / "b.npy"),
                           "--size", "3"], capsys)
    assert code == 0, err
    assert "residual RMS" in text


@pytest.mark.parametrize(
    ("shapes", "size", "needle"),
    [
        (((10, 10), (10, 10)), 4, "invalid kernel size 4"),
        (((10, 10), (10, 12)), 3, "expected the same size"),
    ],
)
def test_kernel2d_bad_input_is_one_line_exit_2(tmp_path, capsys, shapes, size, needle):
    np.save(tmp_path / "a.npy", np.zeros(shapes[0]))
    np.save(tmp_path / "b.npy", np.zeros(shapes[1]))
    code, _, err = run(["learn", "kernel2d", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"),
                        "--size", str(size)], capsys)
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1, err


def test_kernel2d_missing_file_is_exit_2(tmp_path, capsys):
    code, _, err = run(["learn", "kernel2d", str(tmp_path / "a.npy"), str(tmp_path / "b.npy"), "--size", "3"],
                       capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_bank_json_and_saved_bank(tmp_path, capsys):
    pytest.importorskip("sklearn")
    out = tmp_path / "bank.npy"
    code, text, err = run(["learn", "bank", "--filters", "4", "--epochs", "5", "--out", str(out), "--json"],
                          capsys)
    assert code == 0, err
    data = json.loads(text)
    assert set(data["accuracy"]) == set(data["train_seconds"]) == {"cnn", "handmade", "raw"}
    assert data["bank_shape"] == [4, 3, 3, 3]
    config.check_chain("frames", "learnt", [config.Bank3DStage(file=out)])


def test_bank_even_size_is_exit_2(capsys):
    code, _, err = run(["learn", "bank", "--size", "4"], capsys)
    assert code == 2 and "invalid kernel size 4" in err and len(err.strip().splitlines()) == 1


def _write_video(path, frames):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"FFV1"), 10, frames[0].shape[1::-1])
    if not w.isOpened():
        pytest.skip("no FFV1 encoder in this OpenCV")
    for f in frames:
        w.write(f)
    w.release()


def test_kernel2d_from_video_pairs(tmp_path, capsys):
    smooth = [cv2.GaussianBlur((RNG.random((48, 64, 3)) * 255).astype(np.uint8), (5, 5), 0) for _ in range(4)]
    k = kernels.get("sharpen")
    sharp = [np.clip(np.rint(conv2d(f.astype(np.float64), k, padding="same")), 0, 255).astype(np.uint8)
             for f in smooth]
    _write_video(tmp_path / "in.avi", smooth)  # lossless: the target is the kernel's output rounded to uint8
    _write_video(tmp_path / "out.avi", sharp)
    code, text, err = run(["learn", "kernel2d", str(tmp_path / "in.avi"), str(tmp_path / "out.avi"),
                           "--size", "3", "--json"], capsys)
    assert code == 0, err
    data = json.loads(text)
    assert data["pairs"] == 4
    np.testing.assert_allclose(data["kernel"], k, atol=0.02)  # rounding to uint8 is the only noise
    _write_video(tmp_path / "small.avi", [f[:40] for f in smooth])
    code, _, err = run(["learn", "kernel2d", str(tmp_path / "in.avi"), str(tmp_path / "small.avi"),
                        "--size", "3"], capsys)
    assert code == 2 and "expected the same size" in err and len(err.strip().splitlines()) == 1
