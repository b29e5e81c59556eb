"""cardsmith: Markdown interview notes -> Anki package, PDF cheat sheet and JSON records."""

from .build import BuildResult, CheckResult, build, check
from .config import Config, load_config
from .errors import CardsmithError, ConfigError, ContentError, Diagnostic, EnvironmentProblem

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
