"""The live injector config: loaded from a mounted ConfigMap directory and hot-reloaded.

``ConfigFiles`` reads the optional files ``config``, ``values`` and ``mesh`` of a directory
(a missing file means our default for that part), and templates as ``<name>.yaml.j2`` files
(replacing the built-in template of that name, or adding one). ``ConfigState`` holds the current
``Injector``; a reload builds a whole new ``Injector`` (fresh render cache) and swaps the
reference, which is atomic for the event loop. ``ConfigReloader`` polls the content hash
(so kubelet's ``..data`` symlink swap is seen like any edit), builds the new config in a
thread and proves it on canary pods (``canary``); on a ``ConfigError`` it logs it,
counts it and keeps serving the old one. A directory whose files all vanished is such an
error too: it is kept from silently turning into the built-in defaults.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, replace
from pathlib import Path

from injector.config import InjectorConfig, load_config, read_document
from injector.core import Injector
from injector.errors import ConfigError
from injector.webhook import canary

logger = logging.getLogger(__name__)

FILE_NAMES = ("config", "values", "mesh")
TEMPLATE_SUFFIX = ".yaml.j2"
Templates = tuple[tuple[str, str], ...]
Texts = tuple[str | None, str | None, str | None, Templates]


@dataclass(frozen=True)
class ConfigFiles:
    """Where the config comes from: a directory (``None``: all defaults)."""

    directory: Path | None = None
    native_sidecars: bool | None = None

    def read(self) -> Texts:
        """The three documents (``None`` for a missing file); ``ConfigError`` if unreadable."""
        if self.directory is None:
            return (None, None, None, ())
        if not self.directory.is_dir():
            raise ConfigError(f"config directory {self.directory} does not exist")
        templates = tuple(
            (path.name.removesuffix(TEMPLATE_SUFFIX), self._read(path.name) or "")
            for path in sorted(self.directory.glob(f"*{TEMPLATE_SUFFIX}"))
        )
        return (self._read("config"), self._read("values"), self._read("mesh"), templates)

    def build(self, texts: Texts) -> InjectorConfig:
        sources = tuple(str(self.directory / n) if self.directory else n for n in FILE_NAMES)
        config, values, mesh, templates = texts
        built = load_config(
            config,
            values,
            mesh,
            templates=dict(templates),
            native_sidecars=self.native_sidecars,
            sources=sources,  # type: ignore[arg-type]
        )
        warnings = canary.prove(built)
        return replace(built, warnings=(*built.warnings, *warnings))

    def _read(self, name: str) -> str | None:
        assert self.directory is not None
        return read_document(self.directory / name, missing_ok=True)


def is_empty(texts: Texts) -> bool:
    """No config file at all: the directory is empty (or its files vanished)."""
    return texts[:3] == (None, None, None) and not texts[3]


def source_hash_of(texts: Texts) -> str:
    """A hash of the files as read (``ConfigState.source_hash``): what the poller compares.
    Not the config's ``content_hash``, which hashes the config built from them."""
    digest = hashlib.sha256()
    config, values, mesh, templates = texts
    for text in (config, values, mesh):
        digest.update(b"\x00" if text is None else b"\x01" + text.encode() + b"\x00")
    for name, text in templates:
        digest.update(b"\x02" + name.encode() + b"\x00" + text.encode() + b"\x00")
    return digest.hexdigest()


class ConfigState:
    """The current ``Injector`` plus what ``/readyz`` and ``/metrics`` report about it."""

    def __init__(
        self,
        config: InjectorConfig,
        *,
        cache_bytes: int = 32 * 2**20,
        source_hash: str = "",
    ) -> None:
        self.cache_bytes = cache_bytes
        self.injector = Injector(config, cache_bytes=cache_bytes)
        self.source_hash = source_hash
        self.generation = 1
        self.loaded_at = time.time()
        self.reloads_ok = 0
        self.reloads_failed = 0
        self.last_error: str | None = None
        self._rejected_hash: str | None = None
        # render-cache lookups of the injectors replaced by reloads (the counters carry on)
        self.retired_hits = 0
        self.retired_misses = 0

    @property
    def config(self) -> InjectorConfig:
        return self.injector.config

    def swap(self, config: InjectorConfig, source_hash: str) -> None:
        retired = self.injector.cache
        self.injector = Injector(config, cache_bytes=self.cache_bytes)  # one reference: atomic
        self.retired_hits += retired.hits
        self.retired_misses += retired.misses
        self.source_hash = source_hash
        self.generation += 1
        self.loaded_at = time.time()
        self.reloads_ok += 1
        self.clear_error()

    def clear_error(self) -> None:
        self.last_error = None
        self._rejected_hash = None

    def reject(self, error: str, source_hash: str) -> None:
        self.reloads_failed += 1
        self.last_error = error
        self._rejected_hash = source_hash

    def rejected(self, source_hash: str) -> bool:
        return self._rejected_hash == source_hash

    def describe(self) -> dict[str, object]:
        return {
            "generation": self.generation,
            "config_hash": self.config.content_hash,
            "loaded_at": self.loaded_at,
            "reloads_ok": self.reloads_ok,
            "reloads_failed": self.reloads_failed,
            "last_error": self.last_error,
        }


def _log_warnings(config: InjectorConfig) -> None:
    for warning in config.warnings:
        logger.warning("config: %s", warning)


def load_state(files: ConfigFiles, *, cache_bytes: int = 32 * 2**20) -> ConfigState:
    """The first load, at start-up: a ``ConfigError`` here stops the server."""
    texts = files.read()
    config = files.build(texts)
    _log_warnings(config)
    return ConfigState(config, cache_bytes=cache_bytes, source_hash=source_hash_of(texts))


class ConfigReloader:
    """Polls ``files`` every ``interval`` seconds and swaps good new configs into ``state``."""

    def __init__(self, files: ConfigFiles, state: ConfigState, interval: float = 2.0) -> None:
        self.files = files
        self.state = state
        self.interval = interval

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.check()
            except Exception:  # never let the poller die
                logger.exception("config reload check failed")

    async def check(self) -> bool:
        """Reload if the files changed; True when a new config was swapped in."""
        try:
            texts = await asyncio.to_thread(self.files.read)
        except ConfigError as exc:
            return self._reject(str(exc), f"unreadable:{exc}")
        source_hash = source_hash_of(texts)
        if source_hash == self.state.source_hash:
            if self.state.last_error is not None:  # the files went back to the live config
                logger.info("config files match the live config again")
                self.state.clear_error()
            return False
        if self.state.rejected(source_hash):
            return False
        if is_empty(texts):  # an unmounted or emptied ConfigMap, not a wish for defaults
            return self._reject(f"{self.files.directory} has no config files any more", source_hash)
        try:
            config = await asyncio.to_thread(self.files.build, texts)
        except ConfigError as exc:
            return self._reject(str(exc), source_hash)
        self.state.swap(config, source_hash)
        _log_warnings(config)
        logger.info(
            "config reloaded",
            extra={"generation": self.state.generation, "config_hash": config.content_hash},
        )
        return True

    def _reject(self, error: str, source_hash: str) -> bool:
        if not self.state.rejected(source_hash):
            self.state.reject(error, source_hash)
            logger.error(
                "config reload rejected, keeping the previous config: %s",
                error,
                extra={"generation": self.state.generation},
            )
        return False
