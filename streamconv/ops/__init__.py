"""Pure filter maths: no I/O, no sockets; numpy and OpenCV only."""

from streamconv.ops import kernels
from streamconv.ops.conv2d import Conv2D, conv2d, output_size
from streamconv.ops.conv3d import Bank3D, conv3d
from streamconv.ops.fir import CausalFIR
from streamconv.ops.temporal import TemporalFIR

__all__ = ["Bank3D", "CausalFIR", "Conv2D", "TemporalFIR", "conv2d", "conv3d", "kernels", "output_size"]
