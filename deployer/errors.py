"""The two ways a command ends early, and the exit codes the CLI maps them to."""

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_DIFF_CHANGES = 3


class BadInput(Exception):
    """The operator asked for something invalid. One line; raised before any AWS call. Exit 2."""


class DeployError(Exception):
    """A deploy could not go on (failed stack, stuck state, missing image...). Exit 1.

    The message is what the operator reads last, so it says what to do next.
    """
