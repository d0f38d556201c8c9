"""``python -m streamconv``: the same as the ``streamconv`` command."""

import sys

from streamconv.cli import main

sys.exit(main())
