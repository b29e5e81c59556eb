"""cardsmith: Markdown interview notes -> Anki package, PDF cheat sheet and JSON records."""

from .interrupts import stop_while_starting

stop_while_starting()  # before the imports below: they are most of a command's first 0.2 s

from .build import BuildResult, CheckResult, build, check  # noqa: E402
from .config import Config, load_config  # noqa: E402
from .errors import (  # noqa: E402
    CardsmithError,
    ConfigError,
    ContentError,
    Diagnostic,
    EnvironmentProblem,
)

__all__ = [
    "BuildResult",
    "CardsmithError",
    "CheckResult",
    "Config",
    "ConfigError",
    "ContentError",
    "Diagnostic",
    "EnvironmentProblem",
    "build",
    "check",
    "load_config",
]
__version__ = "0.1.0"
