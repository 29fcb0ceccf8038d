"""Amounts for people: minor units (what promotions and actuators use) shown in major units with the currency.

One function, used by the pages, the CLI, alert texts and log lines, so that 261539 PLN reads 2,615.39 PLN
everywhere. Integer arithmetic: amounts go up to 10^15 minor units, past what a float holds exactly.
"""

from __future__ import annotations

# ISO 4217 currencies whose minor unit is not 1/100 (https://www.six-group.com/en/products-services/financial-
# information/data-standards.html, list one); every other code has two decimals.
DECIMALS = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}


def money(value: int | None, unit: str) -> str:
    """Minor units as an amount: (208334, 'PLN') -> '2,083.34 PLN'; a weight as it is ('1,500'); None -> '—'."""
    if value is None:
        return "—"
    if unit == "weight":
        return f"{value:,}"
    places = DECIMALS.get(unit, 2)
    sign = "-" if value < 0 else ""
    whole, fraction = divmod(abs(value), 10**places)
    return f"{sign}{whole:,}{f'.{fraction:0{places}d}' if places else ''} {unit}"
