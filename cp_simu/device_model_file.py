"""device_model.json: the OCPP 2.0.1 device model defaults, the 2.0.1 counterpart of config.ini.

The file is data (components, variables, characteristics, attributes); it is shipped in the
package, may be replaced by a `device_model.json` beside the launcher's config template, is
copied into each 2.0.1 instance directory and rewritten there by the charge point with the
values the CSMS sets. This module only reads, checks and copies the file: what the values
mean is the charge point's business (`chargepoint.ocpp201.device_model`).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from cp_simu.config import ConfigError, atomic_write

DEVICE_MODEL_FILE = "device_model.json"


def default_text() -> str:
    """The device model shipped in the package (a copy of the repository's device_model.json)."""
    return resources.files("cp_simu").joinpath("default_device_model.json").read_text()


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = json.loads(resources.files("cp_simu").joinpath("device_model.schema.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def parse(text: str, where: str) -> dict[str, Any]:
    """The document, checked against the shipped JSON schema; ConfigError says where it is wrong."""
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: not JSON: {exc}") from None
    error = jsonschema.exceptions.best_match(_validator().iter_errors(document))
    if error is not None:
        at = "/".join(str(p) for p in error.absolute_path) or "(top)"
        raise ConfigError(f"{where}: {at}: {error.message}")
    return document


def copy_template(config_path: Path | None, directory: Path) -> Path:
    """Copy the template into an instance directory: device_model.json beside the config
    template, else the default; checked first (ConfigError), written with mode 0600 (it may
    come to hold a password)."""
    text, where = default_text(), "default device model"
    if config_path is not None:
        beside = config_path.parent / DEVICE_MODEL_FILE
        if beside.is_file():
            try:
                text, where = beside.read_text(), str(beside)
            except OSError as exc:
                raise ConfigError(f"cannot read {beside}: {exc.strerror}") from None
    parse(text, where)
    target = directory / DEVICE_MODEL_FILE
    atomic_write(target, text)
    return target
