"""Reading a config file safely: size, nesting, alias expansion and duplicate keys limited."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from srflow.config.constants import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_NODES
from srflow.errors import ConfigError, shorten


def read_config_file(path: str | Path) -> Any:
    """Parse a YAML config file safely: size, nesting and alias expansion are limited.

    Raises
    ------
    ConfigError
        The file is missing, not text, not YAML, or beyond one of the limits
        (:data:`MAX_CONFIG_BYTES`, :data:`MAX_CONFIG_DEPTH`, :data:`MAX_CONFIG_NODES`).
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(f"config {path} is a folder; --config must name a YAML file")
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"{path}: {len(data)} bytes; a config is at most {MAX_CONFIG_BYTES} bytes "
            "(is this really the config file?)"
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        _check_yaml_depth(path, text)
        loader = _UniqueKeyLoader(text)
        loader.name = str(path)
        try:
            raw = loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML: {shorten(exc, 400)}") from None
    _check_expanded_size(raw, str(path))
    return raw


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first != line:
                raise ConfigError(
                    f"{self.name}, line {line}: key {shorten(key)!r} given twice in one mapping "
                    f"(first on line {first}); YAML would silently keep the last one"
                )
        return super().construct_mapping(node, deep=deep)


def _check_yaml_depth(path: Path, text: str) -> None:
    """Stop on nesting deeper than MAX_CONFIG_DEPTH, from the event stream (no recursion)."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                line = event.start_mark.line + 1
                raise ConfigError(
                    f"{path}, line {line}: nesting deeper than {MAX_CONFIG_DEPTH} levels; "
                    "a config is a few levels deep"
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_expanded_size(raw: Any, where: str = "the config") -> None:
    """Stop when the config, with every YAML alias expanded, exceeds MAX_CONFIG_NODES values.

    Aliases make the parsed config a graph that shares its parts; counting each shared
    part once per use (memoised by identity) costs one visit per distinct part.
    """
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int) -> int:
        if depth > MAX_CONFIG_DEPTH:
            raise ConfigError(f"{where}: nesting deeper than {MAX_CONFIG_DEPTH} levels")
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key not in sizes:
            sizes[key] = 0  # a cycle counts as nothing more; json schema would reject it anyway
            children = value.values() if isinstance(value, dict) else value
            sizes[key] = 1 + sum(size(child, depth + 1) for child in children)
            if sizes[key] > MAX_CONFIG_NODES:
                raise ConfigError(
                    f"{where}: more than {MAX_CONFIG_NODES} values once YAML aliases are expanded "
                    "(aliases of aliases?); write the config without nested aliases"
                )
        return sizes[key]

    size(raw, 0)
