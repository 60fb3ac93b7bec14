"""Where the examples look for the Omniglot release when --root is not given."""
import os
from pathlib import Path


def default_omniglot_root():
    """$OMNIGLOT_ROOT, else shared/data/omniglot beside this repository."""
    env = os.environ.get("OMNIGLOT_ROOT")
    if env:
        return env
    return str(Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot")
