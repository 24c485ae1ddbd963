"""Settings for development and tests; production lives in `production.py`."""

from .base import *  # noqa: F403
