"""``sidecar-init``: the entry point. Logging is configured here and errors become exit codes.

Flow: flags -> validated config -> plans -> (dry run: print) or (backend -> apply/cleanup ->
routing) -> optional validation. See :mod:`init.errors` for the exit codes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from init import log
from init.config import CaptureConfig, RunOptions, build_config
from init.errors import InitError
from init.flags import FlagValues, parse_flags
from init.plan import Plan, build_plans
from init.render import to_restore_text

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from typing import NoReturn, TextIO

logger = log.get_logger("init")

_LEVELS = {"debug": log.DEBUG, "info": log.INFO, "warn": log.WARNING, "warning": log.WARNING,
           "error": log.ERROR, "fatal": log.CRITICAL, "none": log.CRITICAL + 10}  # fmt: skip
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(message)s"


def _level(spec: str) -> int:
    """Istio's ``--log_output_level``: ``default:info,scope:debug`` or a bare level."""
    for part in spec.split(","):
        scope, _, level = part.rpartition(":")
        if scope in ("", "default", "all") and level.strip() in _LEVELS:
            return _LEVELS[level.strip()]
    return log.INFO


def configure_logging(flags: FlagValues) -> None:
    """Send the ``init`` records to --log_target, as text or JSON, from --log_output_level on.

    Through :mod:`init.log` straight to the stream; through :mod:`logging` handlers on the
    ``init`` logger when ``logging`` is already imported (the package used as a library).
    """
    target = flags.text("log_target").split(",")[0].strip()
    as_json, level = flags.flag("log_as_json"), _level(flags.text("log_output_level"))
    if "logging" in sys.modules:
        log.reset()
        _configure_stdlib_logging(target, as_json, level)
        return
    stream: TextIO
    if target in ("stdout", "stderr", ""):
        stream = sys.stdout if target == "stdout" else sys.stderr
    else:  # as logging.FileHandler(target) opens it
        import io

        stream = open(os.path.abspath(target), "a", encoding=io.text_encoding(None))
    log.configure(level, stream, as_json)


def _configure_stdlib_logging(target: str, as_json: bool, level: int) -> None:
    import logging

    class JsonFormatter(logging.Formatter):
        def format(self, record: logging.LogRecord) -> str:
            return log.json_line(record.created, record.levelname, record.getMessage())

    handler: logging.Handler
    if target in ("stdout", "stderr", ""):
        handler = logging.StreamHandler(sys.stdout if target == "stdout" else sys.stderr)
    else:
        handler = logging.FileHandler(target)
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(_TEXT_FORMAT))
    root = logging.getLogger("init")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def _dry_run(plans: tuple[Plan, ...], options: RunOptions) -> None:
    text = "".join(to_restore_text(plan) for plan in plans)
    if options.dry_run_file:
        with open(options.dry_run_file, "w", encoding="utf-8") as handle:
            handle.write(text)
    sys.stdout.write(text)
    sys.stdout.flush()


def _log_plans(plans: tuple[Plan, ...]) -> None:
    for plan in plans:
        logger.info("IPv%d rules in place:\n%s", plan.family, to_restore_text(plan).rstrip())


def _apply(capture: CaptureConfig, options: RunOptions, plans: tuple[Plan, ...]) -> None:
    from init import detect  # not needed by --dry-run

    # python-iptables: its workers start building the rules now (nothing to build for a
    # cleanup), while the rest of the run probes the kernel and reads the tables.
    backend = detect.choose_backend(
        options, capture.families, () if options.cleanup_only else plans
    )
    try:
        from init import apply

        outcome = apply.run(backend, plans, options)
    finally:
        backend.close()
    logger.info("%s with %s", outcome.action, backend.name)
    if options.cleanup_only:
        return
    if capture.tproxy or capture.ipv6:
        from init import routing  # pyroute2 only when needed

        routing.configure(capture)
    _log_plans(plans)


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
        print(f"sidecar-init: {type(exc).__name__}: {exc}", file=sys.stderr)
        return exc.exit_code
    except Exception as exc:  # never a traceback for the user; details at debug level
        logger.debug("unexpected failure", exc_info=True)
        print(f"sidecar-init: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


def entry() -> NoReturn:
    """The ``sidecar-init`` program (console script, ``python -m init``): :func:`main`, then exit.

    It exits at once, skipping the interpreter's orderly shutdown, which tears down every
    loaded module one by one: several milliseconds of the init container's start (about 8 ms
    on the benchmark machine) for a process that is done. Output is flushed first; log
    records were flushed as they were written; the kernel reclaims the rest.
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing left to lose
            pass
    os._exit(code)
