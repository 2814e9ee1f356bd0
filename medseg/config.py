"""Loading a study config file (YAML) for the ``medseg`` sub-commands.

Snakemake validates the config against ``workflow/schemas/config.schema.yaml`` and writes
the resolved file every rule reads; a config given directly to a sub-command is validated
against the same schema here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from medseg.errors import ConfigError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "workflow" / "schemas"
SCHEMA = SCHEMA_DIR / "config.schema.yaml"
#: Config sections with a schema of their own. The study schema ``$ref``s them, but JSON
#: schema defaults are not filled in through a ``$ref``, so each is validated again here.
SECTION_SCHEMAS = {
    ("cohort", "demo"): "phantoms.schema.yaml",
    ("ears",): "ears.schema.yaml",
    ("lv",): "lv.schema.yaml",
}


def config_sections(config: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """Each section of ``config`` that has its own schema, created empty where absent."""
    sections = []
    for keys, schema in SECTION_SCHEMAS.items():
        node = config
        for key in keys:
            node = node.setdefault(key, {})
            if node is None:
                node = {}
        sections.append((node, schema))
    return sections


def check_method_settings(config: dict[str, Any]) -> None:
    """Build each task's method settings once, so that what the schema cannot say (a ResNet
    depth of 6n+2, a crop that is a multiple of 4, ...) fails before the study starts.

    Raises:
        ConfigError: naming every bad value of a task's section.
    """
    from medseg.ears.config import from_config as ears_settings
    from medseg.lv.config import LVConfig

    tasks = config.get("tasks") or ("ears", "lv")
    if "ears" in tasks:
        ears_settings(config)
    if "lv" in tasks:
        LVConfig.from_config(config)


def load_config(path: str | Path, validate: bool = True) -> dict[str, Any]:
    """Read a YAML config and (by default) validate it, filling in schema defaults.

    Raises:
        ConfigError: the file is missing, not YAML, or fails the schema (the message names
            the offending key).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        config = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as error:
        raise ConfigError(f"config file {path} is not valid YAML: {error}") from error
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    config.pop("config_hash", None)
    if validate and SCHEMA.is_file():
        validate_config(config)
    return config


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate ``config`` in place against the study schema, with defaults set."""
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate as snakemake_validate

    try:
        snakemake_validate(config, str(SCHEMA), set_default=True)
        for section, schema in config_sections(config):
            snakemake_validate(section, str(SCHEMA_DIR / schema), set_default=True)
    except WorkflowError as error:
        raise ConfigError(_located_schema_error(config) or _first_line_of_schema_error(error)) from error
    return config


def _located_schema_error(config: dict[str, Any]) -> str | None:
    """``invalid config: ears.iterations: 'many' is not of type 'integer'`` for the first error, or None."""
    import jsonschema

    checks = [((), config, SCHEMA)] + [(keys, _section(config, keys), SCHEMA_DIR / name) for keys, name in SECTION_SCHEMAS.items()]
    for keys, instance, schema_path in checks[1:] + checks[:1]:
        try:
            schema = yaml.safe_load(schema_path.read_text())
            validator = jsonschema.validators.validator_for(schema)(schema)
            error = jsonschema.exceptions.best_match(validator.iter_errors(instance))
        except Exception:  # noqa: BLE001 - a second opinion for the message only
            continue
        if error is not None:
            where = ".".join(str(part) for part in (*keys, *error.absolute_path)) or "top level"
            return f"invalid config: {where}: {error.message}"
    return None


def _section(config: dict[str, Any], keys: tuple[str, ...]) -> Any:
    node: Any = config
    for key in keys:
        node = node.get(key) if isinstance(node, dict) else None
    return node if node is not None else {}


def _first_line_of_schema_error(error: Exception) -> str:
    text = str(error)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("Failed validating", "On instance", "Error validating")):
            return f"invalid config: {line}"
    return f"invalid config: {text}"
