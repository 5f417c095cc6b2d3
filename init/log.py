"""A lean stand-in for :mod:`logging` on the init program's path, for start-up time.

Importing :mod:`logging` costs several milliseconds (``traceback``, ``string``,
``threading``, ``weakref``, ...), a good part of the init program's budget, for the handful of
lines it writes. Modules write ``logger = log.get_logger(__name__)`` and call ``debug``,
``info``, ``warning`` and ``error`` with ``%``-style arguments (and ``exc_info=True``), and
``isEnabledFor`` before building costly arguments.

Where each record goes:

* after :func:`configure` (the command line, when :mod:`logging` was not imported): straight
  to the configured stream or file, in exactly the format the ``logging`` configuration of
  :func:`init.cli.configure_logging` would write (Istio's text lines, or one JSON object per
  line);
* otherwise (``init`` used as a library, or ``logging`` already imported, e.g. under pytest):
  through ``logging.getLogger(name)``, so handlers, levels and caller information apply as
  usual. Without ``logging`` imported, records below WARNING are dropped without importing
  it, as logging's default configuration would drop them.
"""

from __future__ import annotations

import sys
import time

TYPE_CHECKING = False  # typing's own flag would cost importing typing
if TYPE_CHECKING:
    from typing import Any, TextIO

DEBUG, INFO, WARNING, ERROR, CRITICAL = 10, 20, 30, 40, 50
NAMES = {DEBUG: "DEBUG", INFO: "INFO", WARNING: "WARNING", ERROR: "ERROR", CRITICAL: "CRITICAL"}


class _Sink:
    """The configured destination: level threshold, stream and format (text or JSON)."""

    __slots__ = ("level", "stream", "json")

    def __init__(self, level: int, stream: TextIO, json: bool) -> None:
        self.level = level
        self.stream = stream
        self.json = json


_sink: _Sink | None = None


def configure(level: int, stream: TextIO, json: bool) -> None:
    """Write every ``init`` record at ``level`` or above to ``stream`` from now on."""
    global _sink
    _sink = _Sink(level, stream, json)


def reset() -> None:
    """Forget :func:`configure`: records go through :mod:`logging` again."""
    global _sink
    _sink = None


def _message(msg: object, args: tuple[Any, ...]) -> str:
    """``LogRecord.getMessage``, including its one-mapping argument rule."""
    text = str(msg)
    if args:
        if len(args) == 1 and isinstance(args[0], dict) and args[0]:
            return text % args[0]
        return text % args
    return text


def _json_string(text: str) -> str:
    try:
        from _json import encode_basestring_ascii
    except ImportError:  # pragma: no cover - CPython always has the accelerator
        from json.encoder import py_encode_basestring_ascii as encode_basestring_ascii
    result: str = encode_basestring_ascii(text)
    return result


def json_line(created: float, levelname: str, message: str) -> str:
    """``json.dumps({"time": ..., "level": ..., "msg": ...})``: Istio's JSON log line."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
    return (
        f'{{"time": {_json_string(stamp)}, "level": {_json_string(levelname.lower())}, '
        f'"msg": {_json_string(message)}}}'
    )


def _traceback(exc_info: Any) -> str:
    """``logging.Formatter.formatException`` of ``exc_info`` as ``Logger._log`` normalises it."""
    import traceback

    if isinstance(exc_info, BaseException):
        exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
    elif not isinstance(exc_info, tuple):
        exc_info = sys.exc_info()
    text = "".join(traceback.format_exception(exc_info[0], exc_info[1], exc_info[2]))
    return text[:-1] if text[-1:] == "\n" else text


def format_line(level: int, msg: object, args: tuple[Any, ...], exc_info: Any, json: bool) -> str:
    """One record as the init program's logging configuration formats it (no newline)."""
    created = time.time()
    name = NAMES.get(level, f"Level {level}")
    if json:  # never a traceback, as the JSON formatter
        return json_line(created, name, _message(msg, args))
    msecs = int((created - int(created)) * 1000)  # "%(asctime)s": local time, ",%03d" msecs
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(created))
    line = f"{stamp},{msecs:03d} {name} {_message(msg, args)}"
    if exc_info:
        text = _traceback(exc_info)
        if text:
            line = (line if line[-1:] == "\n" else line + "\n") + text
    return line


class Logger:
    """The part of ``logging.Logger`` the init program uses."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def _log(self, level: int, msg: object, args: tuple[Any, ...], exc_info: Any) -> None:
        sink = _sink
        if sink is not None:
            if level >= sink.level:
                _write(sink, self.name, level, msg, args, exc_info)
        elif "logging" in sys.modules or level >= WARNING:
            import logging

            # stacklevel 3: the caller of debug()/info()/... rather than this module
            logging.getLogger(self.name).log(level, msg, *args, exc_info=exc_info, stacklevel=3)

    def isEnabledFor(self, level: int) -> bool:
        """Whether a record at ``level`` would be written (to guard costly arguments)."""
        sink = _sink
        if sink is not None:
            return level >= sink.level
        if "logging" in sys.modules:
            import logging

            return logging.getLogger(self.name).isEnabledFor(level)
        return level >= WARNING

    def debug(self, msg: object, *args: Any, exc_info: Any = None) -> None:
        self._log(DEBUG, msg, args, exc_info)

    def info(self, msg: object, *args: Any, exc_info: Any = None) -> None:
        self._log(INFO, msg, args, exc_info)

    def warning(self, msg: object, *args: Any, exc_info: Any = None) -> None:
        self._log(WARNING, msg, args, exc_info)

    def error(self, msg: object, *args: Any, exc_info: Any = None) -> None:
        self._log(ERROR, msg, args, exc_info)


def _write(
    sink: _Sink, name: str, level: int, msg: object, args: tuple[Any, ...], exc_info: Any
) -> None:
    try:
        sink.stream.write(format_line(level, msg, args, exc_info, sink.json) + "\n")
        sink.stream.flush()
    except RecursionError:  # as logging.StreamHandler.emit
        raise
    except Exception:  # report as logging's Handler.handleError does
        import logging

        record = logging.LogRecord(name, level, "", 0, msg, args, None)
        logging.Handler().handleError(record)


_loggers: dict[str, Logger] = {}


def get_logger(name: str) -> Logger:
    """The logger called ``name`` (``init.<module>``)."""
    logger = _loggers.get(name)
    if logger is None:
        logger = _loggers[name] = Logger(name)
    return logger
