"""What the commands share: their names, their exit codes, their one-line usage errors, and every declared setting
(config/settings.py) as a command-line option.

The single-image command (cli.py), `keras-style batch` (batch.py, and jobs.py for a manifest's rows) and
`keras-style serve` (web/server.py) build their parsers from these pieces; no module imports the command line
itself. Importing this needs neither TensorFlow nor Gradio.
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import Field
from typing import Any

from keras_style.config.presets import DEFAULT_PRESET, PAPER_PRESET, PRESETS
from keras_style.config.settings import declared_settings, flag
from keras_style.errors import SetupError, UserError, first_line
from keras_style.version import __version__

PROGRAM = "keras-style"
BATCH_PROGRAM = f"{PROGRAM} batch"
VIDEO_PROGRAM = f"{PROGRAM} video"
SERVE_PROGRAM = f"{PROGRAM} serve"
VERSION = f"{PROGRAM} {__version__}"  # what --version prints, whichever command
EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit 2 (argparse would print the whole usage first)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


# argparse's type for each setting, from the field's annotation (the element type for lists).
_ARGUMENT_TYPES = {"int": int, "float": float, "str": str}


def _argument_type(declared: Field) -> Callable[[str], Any]:
    annotation = str(declared.type)
    if annotation.startswith("str"):  # text first (--tile-size N|auto): Settings parses the number
        return str
    for name in ("float", "int"):
        if name in annotation:
            return _ARGUMENT_TYPES[name]
    return str


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, tuple) else ("" if value is None else str(value))


def shown_default(declared: Field) -> str:
    """A setting's default as --help and the README show it: the default preset's value, followed by the paper's
    (gatys) where that differs."""
    default = PRESETS[DEFAULT_PRESET].values.get(declared.name, declared.default)
    paper = PRESETS[PAPER_PRESET].values.get(declared.name, declared.default)
    if default == paper:
        return _shown(default)
    return f"{_shown(default)}; {PAPER_PRESET}: {_shown(paper)}"


def help_text(declared: Field) -> str:
    """A setting's help with its default where one is meaningful."""
    option = declared.metadata["option"]
    if not option.show_default:
        return option.help
    return f"{option.help} (default: {shown_default(declared)})"


def add_setting(group: argparse._ArgumentGroup, declared: Field) -> None:
    """One declared setting as an argparse option; None means 'not given', so the preset's value applies."""
    option = declared.metadata["option"]
    kwargs: dict[str, Any] = {"dest": declared.name, "default": None, "help": help_text(declared)}
    if option.boolean:
        group.add_argument(flag(declared), action=argparse.BooleanOptionalAction, **kwargs)
        return
    kwargs["type"] = _argument_type(declared) if not option.several else str
    if option.metavar:
        kwargs["metavar"] = option.metavar
    elif option.choices is not None:
        # Settings validates the choice, with the same one-line message as from Python; argparse only shows them.
        kwargs["metavar"] = "{" + ",".join(map(str, option.choices)) + "}"
    if option.several:
        kwargs["nargs"] = "+"
    group.add_argument(flag(declared), **kwargs)


def add_settings(groups: dict[str, argparse._ArgumentGroup]) -> None:
    """Every declared setting, each in its group's section of the help (`groups`: by GROUPS name)."""
    for declared in declared_settings():
        add_setting(groups[declared.metadata["option"].group], declared)


def settings_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options the user gave, as Settings keyword arguments (None = take the preset's)."""
    return {declared.name: getattr(args, declared.name) for declared in declared_settings()}


def options_table() -> str:
    """The options table of docs/options.md, from the declarations (tests/test_settings.py keeps the page in step)."""
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for declared in declared_settings():
        option = declared.metadata["option"]
        name = flag(declared)
        if option.boolean:
            name = f"{name}/--no-{name[2:]}"
        elif option.several:
            name = f"{name} {option.metavar or 'X'}..."
        elif option.metavar:
            name = f"{name} {option.metavar}"
        elif option.choices is not None:
            name = f"{name} {{{','.join(map(str, option.choices))}}}"
        shown = shown_default(declared)
        meaning = option.help.replace("%%", "%").replace("|", "\\|")
        rows.append(f"| `{name}` | {shown} | {meaning} |")
    return "\n".join(rows)


def list_presets() -> str:
    """`--list-presets`: each preset, what it reproduces and how it differs."""
    lines = []
    for preset in PRESETS.values():
        lines.append(f"{preset.name}\n  reproduces: {preset.reproduces}")
        if preset.differences:
            lines.append(f"  differs: {preset.differences}")
    return "\n".join(lines)


def guarded_main(program: str, run: Callable[[list[str]], int], argv: Sequence[str] | None) -> int:
    """A subcommand's entry point (cli.main hands it the arguments after its name): one-line errors, never a
    traceback (KERAS_STYLE_DEBUG=1 shows one); exit 1 for a machine that cannot run it, 2 for bad usage, 130 when
    interrupted."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow reads it when it loads, in any worker too
    for stream in (sys.stdout, sys.stderr):
        # a file name that is not UTF-8 (surrogate escapes) is printed as \udcff rather than ending the command
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    try:
        return run(sys.argv[1:] if argv is None else list(argv))
    except SetupError as error:  # before UserError, which it is a kind of
        print(f"{program}: error: {error}", file=sys.stderr)
        return EXIT_FAILURE
    except UserError as error:
        print(f"{program}: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{program}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if os.environ.get("KERAS_STYLE_DEBUG"):
            raise
        print(f"{program}: error: {type(error).__name__}: {first_line(error)} (set KERAS_STYLE_DEBUG=1 for details)",
              file=sys.stderr)
        return EXIT_FAILURE
