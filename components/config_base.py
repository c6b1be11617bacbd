"""The building blocks of the typed config (components.config): a section that forbids unknown
keys and values of another type, the YAML loader, and the field types several sections share.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from components.quantities import cpu_quantity, memory_quantity
from components.storage import is_remote


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ConfigLoader(yaml.SafeLoader):
    """YAML 1.2's floats: PyYAML reads ``5e-5`` and ``1.5e3`` as strings, which a strict float
    field would refuse."""


ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)


def _known_protocol(location: str) -> str:
    """A folder, or a URL whose protocol fsspec knows: an unknown one would only fail when the
    first checkpoint or the bento is written."""
    import fsspec

    if is_remote(location):
        for protocol in location.split("://")[0].split("::"):
            if protocol not in fsspec.available_protocols():
                raise ValueError(f"unknown storage protocol {protocol!r}")
    return location


# YAML and JSON give paths as strings: a path field takes one (and only one).
ConfigPath = Annotated[Path, Strict(False)]
Location = Annotated[str, AfterValidator(_known_protocol)]
MemoryQuantity = Annotated[str, BeforeValidator(memory_quantity)]
CpuQuantity = Annotated[str, BeforeValidator(cpu_quantity)]
# A category's name as Category has it: also a valid MLflow param name, as each override
# becomes one on the parent run.
CategoryName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
Rate = Annotated[float, Field(gt=0, le=1)]  # a precision or recall to reach
# Kubernetes names: a resource (nvidia.com/gpu), a claim (a DNS subdomain), a mount path.
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
DNS_SUBDOMAIN = f"^{_SUBDOMAIN}$"
RESOURCE_NAME = f"^({_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
