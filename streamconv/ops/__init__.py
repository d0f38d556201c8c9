"""Pure filter maths: no I/O, no sockets; numpy and OpenCV only."""

from streamconv.ops import kernels
from streamconv.ops.conv2d import conv2d, output_size
from streamconv.ops.conv3d import conv3d
from streamconv.ops.fir import CausalFIR

__all__ = ["CausalFIR", "conv2d", "conv3d", "kernels", "output_size"]
