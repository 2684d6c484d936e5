"""Exceptions a user can cause, each with the exit code the CLI returns for it.

Library code raises these; `cli.py` maps them to exit codes (documented in the README):

    0   success (or nothing left to do)
    1   unexpected internal error (a bug: please report it)
    2   usage error: bad option, or OUTDIR holds a different job
    3   input error: missing/unreadable input, bad record with --on-error fail
    4   environment error: model not found, output not writable, disk full, lock held
    75  interrupted by a signal after committing finished work: rerun to resume
"""

from __future__ import annotations


class Specter2Error(Exception):
    """Base class: a problem with a message meant for the user."""

    exit_code = 1


class UsageError(Specter2Error):
    exit_code = 2


class InputError(Specter2Error):
    exit_code = 3


class EnvironmentProblem(Specter2Error):
    exit_code = 4


class ModelLoadError(EnvironmentProblem):
    pass


class OutputError(EnvironmentProblem):
    pass


class LockHeld(EnvironmentProblem):
    pass


class Interrupted(Specter2Error):
    """A signal asked us to stop; finished work is committed, a rerun resumes."""

    exit_code = 75


EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = UsageError.exit_code
EXIT_INPUT = InputError.exit_code
EXIT_ENVIRONMENT = EnvironmentProblem.exit_code
EXIT_INTERRUPTED = Interrupted.exit_code
