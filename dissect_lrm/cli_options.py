"""Options every ``dissect-lrm`` subcommand spells the same way, and the old spellings kept for one release."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from typing import Any

# The deprecation is printed once as a plain "warning:" line; the FutureWarning is for programmatic
# callers and tests (pytest.warns records it), not shown a second time with argparse's source line.
warnings.filterwarnings("ignore", message=r".* is deprecated; use ", category=FutureWarning)


class DeprecatedSpelling(argparse.Action):
    """Stores like `store` and warns when an old spelling (listed in `old`) was used on the command line."""

    def __init__(
        self, option_strings: Sequence[str], dest: str, old: Sequence[str] = (), **kwargs: Any
    ) -> None:
        self.old = tuple(old)
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: str | None = None) -> None:
        if option_string in self.old:
            new = next(name for name in self.option_strings if name not in self.old)
            message = f"{option_string} is deprecated; use {new}"
            warnings.warn(message, FutureWarning, stacklevel=2)
            print(f"warning: {message}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def renamed(parser: Any, new: str, *old: str, **kwargs: Any) -> argparse.Action:
    """``parser.add_argument(new, ...)`` that still accepts the ``old`` spellings, with a warning."""
    if old and kwargs.get("help"):
        kwargs["help"] += f" ({', '.join(old)}: deprecated spelling)"
    return parser.add_argument(new, *old, action=DeprecatedSpelling, old=old, **kwargs)


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_output_dir_argument(
    parser: Any,
    dest: str,
    required: bool,
    help: str,
    default: Any = None,
    old: Sequence[str] = ("--out",),
) -> None:
    """``--output-dir DIR``: where a command writes; ``old`` spellings still accepted (deprecated)."""
    renamed(
        parser, "--output-dir", *old, dest=dest, required=required, default=default, metavar="DIR", help=help
    )


def add_debug_argument(parser: Any) -> None:
    """``--debug``: show the Python traceback of an error (by default one ``error: ...`` line, exit 2)."""
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")


# What a user can cause and fix: bad files, missing models, stores that refuse to resume, bad options.
USER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    PermissionError,
)


def guarded(handler: Any, catch: tuple[type[BaseException], ...] = ()) -> Any:
    """Run a handler; a user error (or one of ``catch``) prints one ``error: ...`` line and exits 2; --debug re-raises."""

    def run(args: argparse.Namespace) -> int:
        from dissect_lrm.eval.store import StoreError  # late: importing a command stays cheap

        try:
            return handler(args)
        except (*USER_ERRORS, StoreError, *catch) as error:
            if getattr(args, "debug", False):
                raise
            text = " ".join(str(error).split()) or type(error).__name__
            print(f"error: {text} (--debug for the traceback)", file=sys.stderr)
            return 2

    run.__name__ = getattr(handler, "__name__", "run")
    return run
