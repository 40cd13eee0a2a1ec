"""Click's own words, so that the catalogue translates them too.

Click says them through the standard gettext domain, which :func:`mailer.i18n.set_language`
points at the catalogue. The list is Click 8.x's; ``tests/test_i18n.py`` warns when the
installed Click says something not listed here.
"""

# ruff: noqa: E501 - Click's messages, verbatim

from mailer.i18n import N_, ngettext

CLICK_MESSAGES = (
    N_("%(prog)s, version %(version)s"),
    N_("(dynamic)"),
    N_("Aborted!"),
    N_("Argument {name!r} takes {nargs} values."),
    N_("Arguments take exactly one parameter declaration, got {length}: {decls}."),
    N_("Boolean option {decl!r} cannot use the same flag for true/false."),
    N_("Choice({choices})"),
    N_("Choose from:\n\t{choices}"),
    N_("Commands"),
    N_("Confirm the action without prompting."),
    N_("Could not determine name for option with declarations {decls!r}"),
    N_("Could not open file {filename!r}: {message}"),
    N_("Couldn't detect Bash version, shell completion is not supported."),
    N_("DeprecationWarning: The command {name!r} is deprecated.{extra_message}"),
    N_("DeprecationWarning: The {param_type} {name!r} is deprecated.{extra_message}"),
    N_("Do you want to continue?"),
    N_("Error: The two entered values do not match."),
    N_("Error: invalid input"),
    N_("Error: {message}"),
    N_("Invalid start character for option ({option})"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Invalid value: {message}"),
    N_("Missing argument"),
    N_("Missing command."),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing parameter: {param_name}"),
    N_("Missing {param_type}"),
    N_("Name '{name}' defined twice"),
    N_(
        "No options defined but a name was passed ({name}). Did you mean to declare an argument instead? Did you mean to pass '--{name}'?"
    ),
    N_("No such command {name!r}."),
    N_("No such option {name!r}."),
    N_("Option {name!r} does not take a value."),
    N_("Options"),
    N_("Positional arguments"),
    N_("Press any key to continue..."),
    N_("Repeat for confirmation"),
    N_("Shell completion is not supported for Bash versions older than 4.4."),
    N_("Show the version and exit."),
    N_("Show this message and exit."),
    N_("Try '{command} {option}' for help."),
    N_("Unknown color {colour!r}"),
    N_("Unknown standard stream '{name}'"),
    N_("Usage:"),
    N_("Value must be an iterable."),
    N_("Windows error: {error}"),
    N_("d"),
    N_("default: {default}"),
    N_("deprecated"),
    N_("directory"),
    N_("env var: {var}"),
    N_("file"),
    N_("path"),
    # An option's "[required]" in --help: Click translates the word where it shows it.
    N_("required"),
    N_("unknown error"),
    N_("{editor}: Editing failed"),
    N_("{editor}: Editing failed: {e}"),
    N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is a file."),
    N_("{name} {filename!r} is not executable."),
    N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."),
    N_("{value!r} is not a valid UUID."),
    N_("{value!r} is not a valid boolean. Recognized values: {states}"),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value} is not in the range {range}."),
)


def _plurals(n: int) -> tuple[str, ...]:
    """Click's plural messages (never called; named for the catalogue)."""
    return (
        ngettext("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", n),
        ngettext(
            "Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})", n
        ),
        ngettext(
            "Option {name!r} requires an argument.",
            "Option {name!r} requires {nargs} arguments.",
            n,
        ),
        ngettext(
            "Takes {nargs} values but 1 was given.", "Takes {nargs} values but {len} were given.", n
        ),
        ngettext(
            "{len_type} values are required, but {len_value} was given.",
            "{len_type} values are required, but {len_value} were given.",
            n,
        ),
        ngettext(
            "{value!r} does not match the format {format}.",
            "{value!r} does not match the formats {formats}.",
            n,
        ),
        ngettext("{value!r} is not {choice}.", "{value!r} is not one of {choices}.", n),
    )
