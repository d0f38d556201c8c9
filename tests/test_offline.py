"""`streamconv filter`: real video, image and CSV files through the pipeline code, against the ops."""

from __future__ import annotations

import csv
import subprocess
import sys

import cv2
import numpy as np
import pytest

from streamconv.cli import main
from streamconv.offline import open_video_writer, to_uint8
from streamconv.ops import conv2d, conv3d, kernels
from streamconv.ops.fir import CausalFIR
from tests._video import read_video_with_fps

CLI = [sys.executable, "-m", "streamconv"]
FPS = 12.0


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    """10 frames of noise and shapes, written losslessly; returns (path, the decoded frames)."""
    path = tmp_path_factory.mktemp("video") / "input.mkv"
    rng = np.random.default_rng(0)
    writer, code = open_video_writer(path, FPS, (64, 48))
    assert code == "FFV1"
    for i in range(10):
        frame = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
        cv2.circle(frame, (10 + 4 * i, 24), 8, (255, 255, 255), -1)
        writer.write(frame)
    writer.release()
    frames, fps = read_video_with_fps(path)
    assert len(frames) == 10 and fps == FPS
    return path, frames


@pytest.fixture
def image(tmp_path):
    img = np.random.default_rng(1).integers(0, 256, (33, 41, 3), dtype=np.uint8)
    path = tmp_path / "in.png"
    assert cv2.imwrite(str(path), img)
    return path, img


# ------------------------------------------------------------------------------------------- video
def test_video_equals_conv2d_of_each_decoded_frame_in_a_real_process(video, tmp_path):
    src, frames = video
    out = tmp_path / "blur.mkv"
    res = subprocess.run([*CLI, "filter", str(src), str(out), "--kernel", "blur"], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert res.stderr == ""  # stderr is not a TTY: no progress bar
    assert "10 frames 64x48x3 uint8 -> 64x48x3 uint8" in res.stdout and "FFV1, 12 fps" in res.stdout
    got, fps = read_video_with_fps(out)
    assert fps == FPS and len(got) == 10
    for g, f in zip(got, frames, strict=True):
        np.testing.assert_array_equal(g, conv2d(f, kernels.get("blur"), padding="same"))


def test_signed_edges_are_written_as_abs_clipped_and_uint8_saturates(video, tmp_path, capsys):
    src, frames = video
    k = kernels.get("edge_detect")
    assert main(["filter", str(src), str(tmp_path / "e.avi"), "--kernel", "edge_detect", "-q"]) == 0
    assert capsys.readouterr().out == ""
    got, _ = read_video_with_fps(tmp_path / "e.avi")
    for g, f in zip(got, frames, strict=True):
        np.testing.assert_array_equal(g, to_uint8(conv2d(f, k, padding="same")))
    assert main(["filter", str(src), str(tmp_path / "s.mkv"), "--kernel", "edge_detect", "--dtype", "uint8",
                 "--border", "reflect"]) == 0
    got, _ = read_video_with_fps(tmp_path / "s.mkv")
    for g, f in zip(got, frames, strict=True):
        np.testing.assert_array_equal(g, conv2d(f, k, padding="same", border="reflect", dtype=np.uint8))


def test_stride_and_valid_padding_change_the_video_size(video, tmp_path, capsys):
    src, frames = video
    assert main(["filter", str(src), str(tmp_path / "g.mkv"), "--kernel", "gaussian", "--size", "5",
                 "--padding", "valid", "--stride", "2"]) == 0
    assert "64x48x3 uint8 -> 30x22x3 uint8" in capsys.readouterr().out
    got, _ = read_video_with_fps(tmp_path / "g.mkv")
    expected = conv2d(frames[3], kernels.get("gaussian", size=5), padding="valid", stride=2)
    assert got[3].shape == (22, 30, 3)
    np.testing.assert_array_equal(got[3], expected)


def test_mp4_output_is_written_lossy_with_every_frame(video, tmp_path):
    src, _ = video
    assert main(["filter", str(src), str(tmp_path / "o.mp4"), "--kernel", "sharpen", "-q"]) == 0
    got, fps = read_video_with_fps(tmp_path / "o.mp4")
    assert len(got) == 10 and fps == FPS


# ------------------------------------------------------------------------------------------- images
def test_png_in_png_out_is_exact(image, tmp_path):
    src, img = image
    assert main(["filter", str(src), str(tmp_path / "o.png"), "--kernel", "gaussian", "--size", "5",
                 "--sigma", "1.2", "--border", "replicate", "-q"]) == 0
    got = cv2.imread(str(tmp_path / "o.png"), cv2.IMREAD_UNCHANGED)
    expected = conv2d(img, kernels.get("gaussian", size=5, sigma=1.2), padding="same", border="replicate")
    np.testing.assert_array_equal(got, expected)


def test_matrix_kernel_with_flip_and_npy_float_output(image, tmp_path):
    src, img = image
    matrix = [[1, 2, 0], [0, -1, 0], [0, 0, -3]]
    assert main(["filter", str(src), str(tmp_path / "o.npy"), "--kernel", str(matrix), "--flip", "-q"]) == 0
    got = np.load(tmp_path / "o.npy")
    expected = conv2d(img, np.array(matrix, float), padding="same", flip=True)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, expected)


def test_bank_gives_feature_maps(image, tmp_path):
    src, img = image
    bank = np.random.default_rng(2).normal(size=(4, 3, 3, 3))
    np.save(tmp_path / "bank.npy", bank)
    assert main(["filter", str(src), str(tmp_path / "f.npy"), "--bank", str(tmp_path / "bank.npy"),
                 "--padding", "valid", "-q"]) == 0
    got = np.load(tmp_path / "f.npy")
    assert got.shape == (31, 39, 4)
    np.testing.assert_array_equal(got, conv3d(img, bank, padding="valid").astype(np.float32))


# ------------------------------------------------------------------------------------------- samples
def write_csv(path, header, rows):
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def test_csv_weights_equal_causal_fir_of_the_last_column(tmp_path, capsys):
    rng = np.random.default_rng(3)
    x = 1000 + np.cumsum(rng.normal(0, 1, 10_000))  # more than one 4096-row chunk
    x[[5, 4100, 9000]] = np.nan
    rows = [[1_700_000_000_000_000_000 + i * 10_000_000, i, repr(float(v))] for i, v in enumerate(x)]
    rows[4100][2] = ""  # an empty field is NaN too
    write_csv(tmp_path / "laser__raw.csv", ["t_capture_ns", "seq", "value"], rows)
    weights = "0.01 0.01 0.02 0.02 0.04 0.4 0.5"
    assert main(["filter", str(tmp_path / "laser__raw.csv"), str(tmp_path / "out.csv"),
                 "--weights", weights]) == 0
    assert "10000 samples (column 'value')" in capsys.readouterr().out
    with (tmp_path / "out.csv").open(newline="") as fh:
        out = list(csv.reader(fh))
    assert out[0] == ["t_capture_ns", "seq", "value"]
    expected = CausalFIR([float(w) for w in weights.split()]).process(x)
    got = np.array([float(r[2]) for r in out[1:]])
    np.testing.assert_array_equal(got, expected)  # exact: repr round-trips every double
    assert [r[:2] for r in out[1:]] == [[str(r[0]), str(r[1])] for r in rows]


def test_csv_column_by_name_leaves_the_other_columns(tmp_path):
    write_csv(tmp_path / "in.csv", ["a", "b", "c"], [[1, 2.0, "x"], [2, 4.0, "y"], [3, 8.0, "z"]])
    assert main(["filter", str(tmp_path / "in.csv"), str(tmp_path / "o.csv"), "--weights", "1 1",
                 "--warmup", "zeros", "--column", "b", "-q"]) == 0
    assert (tmp_path / "o.csv").read_text().splitlines() == ["a,b,c", "1,2.0,x", "2,6.0,y", "3,12.0,z"]


# ------------------------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.mkv", "o.mkv", "--kernel", "blur"], "no such file: 'missing.mkv'"),
        (["in.png", "o.png", "--kernel", "nope"], "invalid kernel name 'nope'"),
        (["in.png", "o.png", "--kernel", "[[1, 2], [3"], "invalid --kernel matrix"),
        (["in.png", "o.png", "--kernel", "[[1, 2], [3, 4]]"], "odd-sized kernel"),
        (["in.png", "o.png"], "give --kernel"),
        (["in.png", "o.png", "--weights", "1 2"], "--weights applies to a CSV"),
        (["in.png", "o.mkv", "--kernel", "blur"], "is an image but output 'o.mkv' is not"),
        (["in.png", "o.png", "--bank", "none.npy"], "cannot load bank file 'none.npy'"),
        (["in.png", "o.png", "--kernel", "blur", "--stride", "0"], "stride"),
        (["in.csv", "o.csv", "--weights", "1", "--column", "zz"], "invalid column 'zz'"),
        (["in.csv", "o.csv", "--weights", "a b"], "invalid --weights 'a b'"),
        (["in.csv", "o.csv", "--kernel", "blur"], "--kernel and --bank apply to frames"),
        (["bad.csv", "o.csv", "--weights", "1"], "line 3: 'oops' is not a number"),
        (["in.mkv", "o.xyz", "--kernel", "blur"], "invalid video extension '.xyz' of 'o.xyz'"),
        (["in.mkv", "o.csv", "--kernel", "blur"], "is a video but output 'o.csv' is not"),
    ],
)
def test_bad_inputs_exit_2_with_one_line_naming_the_problem(tmp_path, monkeypatch, capsys, args, message):
    monkeypatch.chdir(tmp_path)
    cv2.imwrite("in.png", np.zeros((8, 8, 3), np.uint8))
    (tmp_path / "in.mkv").write_bytes(b"")
    write_csv(tmp_path / "in.csv", ["t", "value"], [[0, 1.0]])
    write_csv(tmp_path / "bad.csv", ["t", "value"], [[0, 1.0], [1, "oops"]])
    assert main(["filter", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("streamconv filter: error: ") and len(err.strip().splitlines()) == 1
    assert message in err
    assert not any(tmp_path.glob("o.*"))


def test_unreadable_video_in_a_real_process(tmp_path):
    (tmp_path / "bad.mkv").write_bytes(b"not a video at all" * 100)
    res = subprocess.run([*CLI, "filter", str(tmp_path / "bad.mkv"), str(tmp_path / "o.mkv"),
                          "--kernel", "blur"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    # one line: FFmpeg's own complaints about the file are silenced
    assert res.stderr.strip() == (
        f"streamconv filter: error: cannot read video '{tmp_path / 'bad.mkv'}': OpenCV cannot open it"
    )
    assert not (tmp_path / "o.mkv").exists()
