from streamconv.cli import main


def test_kernels_command_lists_every_kernel(capsys):
    from streamconv.ops import kernels

    assert main(["kernels", "--brief"]) == 0
    out = capsys.readouterr().out
    for name in kernels.names():
        assert name in out
