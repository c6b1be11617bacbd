"""Kubernetes resource quantities ("16Gi", "500m", "1e3"), checked when a config is loaded.

Each is rewritten in the narrower form KFP's compiler accepts (it refuses "1e3", "1.5Gi" or
"2k", all valid Kubernetes), so a quantity that loads is one the pipeline compiles with.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal

from pydantic_core import PydanticCustomError

# Kubernetes' grammar (apimachinery's resource.Quantity): a signed decimal number, then a
# binary suffix, a decimal suffix or a decimal exponent.
QUANTITY = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>[KMGTPE]i|[eE][+-]?[0-9]{1,3}|[mkMGTPE])?"
)
BINARY = {f"{p}i": 2 ** (10 * n) for n, p in enumerate("KMGTPE", start=1)}
DECIMAL = {"m": Decimal("0.001"), "": 1, **{p: 10 ** (3 * n) for n, p in enumerate("kMGTPE", 1)}}
LARGEST = 2**63 - 1  # Kubernetes keeps a quantity in an int64
# Units that both KFP's memory check and Kubernetes take: not "k" (KFP refuses it), nor "K"
# (Kubernetes does).
MEMORY_UNITS = sorted(
    [(s, f) for s, f in {**BINARY, **DECIMAL}.items() if s not in ("", "m", "k")],
    key=lambda unit: -unit[1],
)
EXAMPLES = {"memory": "16Gi, 512Mi, 1e9", "cpu": "4, 500m, 0.5"}


def parse_quantity(text: str) -> Decimal | None:
    """The quantity's value (bytes, cores), or None if ``text`` is not a Kubernetes quantity."""
    found = QUANTITY.fullmatch(text)
    if not found:
        return None
    suffix = found["suffix"] or ""
    if len(suffix) > 1 and suffix[0] in "eE":
        factor = Decimal(10) ** int(suffix[1:])
    else:
        factor = Decimal(BINARY.get(suffix) or DECIMAL[suffix])
    return Decimal(found["number"]) * factor


def _value(value, kind: str) -> Decimal:
    # YAML gives `cpu: 4` as a number; Kubernetes takes numbers there too, but never a bool.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    quantity = parse_quantity(value) if isinstance(value, str) else None
    if quantity is None:
        raise PydanticCustomError(
            "quantity",
            "not a Kubernetes quantity (for example {examples})",
            {"examples": EXAMPLES[kind]},
        )
    if not 0 < quantity <= LARGEST:
        raise PydanticCustomError("quantity", "a quantity above 0 (and below 2^63) is needed")
    return quantity


def memory_quantity(value) -> str:
    """Whole bytes (rounded up, as Kubernetes does) in the largest unit that holds them."""
    size = math.ceil(_value(value, "memory"))
    for suffix, factor in MEMORY_UNITS:
        if size % factor == 0:
            return f"{size // factor}{suffix}"
    return str(size)


def cpu_quantity(value) -> str:
    """Whole cores, or millicores (rounded up: Kubernetes allows nothing finer)."""
    millicores = math.ceil(_value(value, "cpu") * 1000)
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"
