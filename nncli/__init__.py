"""nncli: tabular classification from the command line and from Python."""

from __future__ import annotations

__version__ = "0.1.0"

from nncli.errors import ExitCode, NncliError  # noqa: E402

__all__ = ["ExitCode", "NncliError", "__version__"]
