"""``sidecar-init``: the entry point. Logging is configured here and errors become exit codes.

The flow reads in one direction: flags (:mod:`init.flags`) -> validated config
(:mod:`init.config`) -> a plan per IP family (:mod:`init.plan`) -> a renderer and backend
(:mod:`init.detect` picks it) -> apply (:mod:`init.apply`) -> optional validation. See
:mod:`init.errors` for the exit codes.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from init.config import CaptureConfig, RunOptions, build_config
from init.errors import ConfigError, InitError
from init.flags import FlagValues, parse_flags
from init.plan import Plan, build_plans
from init.render_nft import to_nft_text
from init.render_restore import to_restore_text

logger = logging.getLogger("init")

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
           "warning": logging.WARNING, "error": logging.ERROR, "fatal": logging.CRITICAL,
           "none": logging.CRITICAL + 10}  # fmt: skip
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time``, ``level``, ``msg`` (Istio's field names)."""

    def format(self, record: logging.LogRecord) -> str:
        level = {"WARNING": "warn", "CRITICAL": "fatal"}.get(record.levelname, record.levelname)
        entry = {
            "time": self.formatTime(record),
            "level": level.lower(),
            "msg": record.getMessage(),
        }
        return json.dumps(entry)


def _level(spec: str) -> int:
    """Istio's ``--log_output_level``: ``default:info,scope:debug`` or a bare level.

    Every level must be known; the one of the default scope (or a bare one) is used.
    """
    chosen = logging.INFO
    for part in spec.split(","):
        scope, _, level = part.strip().rpartition(":")
        if level not in _LEVELS:
            known = ", ".join(_LEVELS)
            raise ConfigError(f"--log_output_level={spec!r}: unknown level {level!r} ({known})")
        if scope in ("", "default", "all"):
            chosen = _LEVELS[level]
    return chosen


def configure_logging(flags: FlagValues) -> None:
    """Send the ``init`` records to --log_target, as text or JSON, from --log_output_level on."""
    target = flags.text("log_target").split(",")[0].strip()
    handler: logging.Handler
    if target in ("stdout", "stderr", ""):
        handler = logging.StreamHandler(sys.stdout if target == "stdout" else sys.stderr)
    else:
        try:
            handler = logging.FileHandler(target)
        except OSError as exc:
            raise ConfigError(f"--log_target={target!r}: cannot open: {exc.strerror}") from exc
    handler.setFormatter(
        JsonFormatter() if flags.flag("log_as_json") else logging.Formatter(_TEXT_FORMAT)
    )
    logger.handlers[:] = [handler]
    logger.setLevel(_level(flags.text("log_output_level")))
    logger.propagate = False


def render(plans: tuple[Plan, ...], options: RunOptions) -> str:
    """The dry-run text: iptables-restore input, or the nftables ruleset with --backend nft."""
    to_text = to_nft_text if options.backend == "nft" else to_restore_text
    return "".join(to_text(plan) for plan in plans)


def _dry_run(plans: tuple[Plan, ...], options: RunOptions) -> None:
    text = render(plans, options)
    if options.dry_run_file:
        try:
            with open(options.dry_run_file, "w", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            path = options.dry_run_file
            raise ConfigError(f"$DRY_RUN_FILE_PATH={path!r}: cannot write: {exc.strerror}") from exc
    sys.stdout.write(text)


def _apply(capture: CaptureConfig, options: RunOptions, plans: tuple[Plan, ...]) -> None:
    from init import apply, detect  # not needed by --dry-run

    backend = detect.choose_backend(options, capture.families)
    outcome = apply.run(backend, capture, plans, options)
    logger.info("%s with %s", outcome.action, backend.name)
    if not options.cleanup_only:
        for plan in plans:
            logger.info("IPv%d rules in place:\n%s", plan.family, render((plan,), options).rstrip())


def run(capture: CaptureConfig, options: RunOptions) -> None:
    """Everything after configuration; raises InitError subclasses."""
    plans = build_plans(capture)
    if options.dry_run:
        _dry_run(plans, options)
        return
    if not options.skip_rule_apply:
        _apply(capture, options, plans)
    if options.run_validation and not options.cleanup_only:
        from init import validation

        validation.run_validation(capture, options.probe_port, options.probe_timeout)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sidecar-init``; return the exit code (see :mod:`init.errors`)."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        flags = parse_flags(args, os.environ)
        configure_logging(flags)
        capture, options = build_config(flags)
        run(capture, options)
    except InitError as exc:
        print(f"sidecar-init: {exc}", file=sys.stderr)
        return exc.exit_code
    except OSError as exc:  # not expected: every path we are given is checked where it is used
        print(f"sidecar-init: {exc.filename or 'error'}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # never a traceback for the user; details at debug level
        logger.debug("unexpected failure", exc_info=True)
        print(f"sidecar-init: internal error: {exc!r}", file=sys.stderr)
        return 1
    return 0


def entry() -> NoReturn:
    """The ``sidecar-init`` program (console script, ``python -m init``)."""
    sys.exit(main())
