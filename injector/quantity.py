"""Kubernetes resource quantities: parsing, validation and the canonical form.

The API server stores quantities canonically (``2000m`` -> ``2``, ``1024Mi`` -> ``1Gi``);
Istio's injector emits them through the same Go type, so we canonicalise too. The form of the
input is kept: binary suffixes stay binary (while the value is a whole number of bytes),
exponents stay exponents (``129e6``), everything else is decimal SI (``3000m`` -> ``3``).
"""

from __future__ import annotations

import functools
import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_PATTERN = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)


def parse(text: str) -> Decimal:
    """The exact value of a quantity; ``ValueError`` names the bad text."""
    match = _PATTERN.match(text.strip()) if text == text.strip() else None
    if match is None:
        raise ValueError(f"{text!r} is not a valid resource quantity")
    number, exponent, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{text!r} is not a valid resource quantity") from exc
    if exponent:
        return value.scaleb(int(exponent[1:]))
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    return value.scaleb(_DECIMAL[suffix or ""])


def is_valid(text: str) -> bool:
    try:
        parse(text)
    except ValueError:
        return False
    return True


@functools.lru_cache(maxsize=512)
def canonical(text: str) -> str:
    """Canonical form, as the API server would store it (binary suffixes stay binary).

    Memoised: every injection canonicalises the proxy's resources, and a mesh uses a
    handful of quantities (Decimal arithmetic is most of the cost of an injection that hits
    the render cache). Bounded, and a bad quantity raises every time (errors are not kept).
    """
    value = parse(text)
    match = _PATTERN.match(text.strip())
    assert match is not None
    if match.group(3) in _BINARY and value == value.to_integral_value():
        return _binary_form(int(value))
    if match.group(2):
        return _exponent_form(value)
    return _decimal_form(value)


def _exponent_form(value: Decimal) -> str:
    """Kubernetes keeps an exponent quantity in exponent form, the exponent a multiple of 3
    (``129e6``, ``1500``, ``2500e-6``)."""
    if value == 0:
        return "0"
    exp = 0
    while (value.scaleb(-(exp + 3))) == value.scaleb(-(exp + 3)).to_integral_value():
        exp += 3
    while value.scaleb(-exp) != value.scaleb(-exp).to_integral_value() and exp > -9:
        exp -= 3
    mantissa = value.scaleb(-exp)
    if mantissa != mantissa.to_integral_value():
        return _decimal_form(value)
    return f"{int(mantissa)}e{exp}" if exp else str(int(mantissa))


def _binary_form(value: int) -> str:
    if value == 0:
        return "0"
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        if value % _BINARY[suffix] == 0:
            return f"{value // _BINARY[suffix]}{suffix}"
    return str(value)


def _decimal_form(value: Decimal) -> str:
    if value == 0:
        return "0"
    # Smallest power-of-1000 unit that keeps the mantissa an integer (rounding up, as k8s).
    for exp, suffix in ((18, "E"), (15, "P"), (12, "T"), (9, "G"), (6, "M"), (3, "k"), (0, "")):
        mantissa = value.scaleb(-exp)
        if mantissa == mantissa.to_integral_value():
            return f"{int(mantissa)}{suffix}"
    for exp, suffix in ((-3, "m"), (-6, "u"), (-9, "n")):
        mantissa = value.scaleb(-exp)
        if mantissa == mantissa.to_integral_value():
            return f"{int(mantissa)}{suffix}"
    return f"{int(value.scaleb(9).to_integral_value(rounding='ROUND_CEILING'))}n"
