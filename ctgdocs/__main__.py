"""Allow ``python -m ctgdocs``."""

import sys

from .cli import main

sys.exit(main())
