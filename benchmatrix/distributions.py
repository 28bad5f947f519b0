"""Token-length distributions: typed specs shared by the matrix and the load generator.

A distribution is declared in YAML as a mapping with a ``kind``::

    input_tokens: {kind: normal, mean: 512, std: 128, min: 64, max: 2048}
    output_tokens: 256                      # shorthand for {kind: fixed, value: 256}

Sampling is a pure function of the spec, a count and an explicit seed (numpy's PCG64), so two
runs with the same seed send exactly the same lengths.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Fixed(_Dist):
    """Every request gets exactly ``value`` tokens."""

    kind: Literal["fixed"] = "fixed"
    value: int = Field(gt=0, description="Token count for every request.")


class Uniform(_Dist):
    """Integers uniformly between ``min`` and ``max`` inclusive."""

    kind: Literal["uniform"] = "uniform"
    min: int = Field(gt=0, description="Smallest token count (inclusive).")
    max: int = Field(gt=0, description="Largest token count (inclusive).")

    @model_validator(mode="after")
    def _ordered(self) -> "Uniform":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class Normal(_Dist):
    """Normal(mean, std), rounded, clipped to [min, max]."""

    kind: Literal["normal"] = "normal"
    mean: float = Field(gt=0, description="Mean token count.")
    std: float = Field(ge=0, description="Standard deviation in tokens.")
    min: int = Field(default=1, gt=0, description="Lower clip bound.")
    max: int = Field(default=1_000_000, gt=0, description="Upper clip bound.")

    @model_validator(mode="after")
    def _ordered(self) -> "Normal":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class LogNormal(_Dist):
    """Log-normal with the given mean and std of the *token count*, clipped to [min, max]."""

    kind: Literal["lognormal"] = "lognormal"
    mean: float = Field(gt=0, description="Mean token count (not of the log).")
    std: float = Field(gt=0, description="Standard deviation of the token count.")
    min: int = Field(default=1, gt=0, description="Lower clip bound.")
    max: int = Field(default=1_000_000, gt=0, description="Upper clip bound.")

    @model_validator(mode="after")
    def _ordered(self) -> "LogNormal":
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) must be <= max ({self.max})")
        return self


class Empirical(_Dist):
    """Draw with replacement from observed lengths: inline ``values`` or a file (one int per line)."""

    kind: Literal["empirical"] = "empirical"
    values: tuple[int, ...] | None = Field(default=None, description="Observed token counts.")
    path: Path | None = Field(default=None, description="Text file with one token count per line.")

    @model_validator(mode="after")
    def _one_source(self) -> "Empirical":
        if (self.values is None) == (self.path is None):
            raise ValueError("give exactly one of 'values' or 'path'")
        if self.values is not None and (not self.values or min(self.values) <= 0):
            raise ValueError("'values' must be a non-empty list of positive integers")
        return self


Distribution = Annotated[
    Union[Fixed, Uniform, Normal, LogNormal, Empirical], Field(discriminator="kind")
]


def coerce_distribution(value: object) -> object:
    """Accept a bare integer as shorthand for ``{kind: fixed, value: N}``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return {"kind": "fixed", "value": value}
    return value


def _empirical_values(dist: Empirical) -> np.ndarray:
    if dist.values is not None:
        return np.asarray(dist.values, dtype=np.int64)
    lines = Path(dist.path).read_text().split()  # type: ignore[arg-type]
    return np.asarray([int(x) for x in lines], dtype=np.int64)


def sample_lengths(dist: Fixed | Uniform | Normal | LogNormal | Empirical, n: int, seed: int) -> np.ndarray:
    """Return ``n`` token counts (int64, all >= 1) drawn from ``dist`` with ``seed``."""
    rng = np.random.default_rng(seed)
    if isinstance(dist, Fixed):
        return np.full(n, dist.value, dtype=np.int64)
    if isinstance(dist, Uniform):
        return rng.integers(dist.min, dist.max + 1, size=n, dtype=np.int64)
    if isinstance(dist, Normal):
        raw = rng.normal(dist.mean, dist.std, size=n)
        return np.clip(np.rint(raw), dist.min, dist.max).astype(np.int64)
    if isinstance(dist, LogNormal):
        sigma2 = np.log1p((dist.std / dist.mean) ** 2)
        mu = np.log(dist.mean) - sigma2 / 2
        raw = rng.lognormal(mu, np.sqrt(sigma2), size=n)
        return np.clip(np.rint(raw), dist.min, dist.max).astype(np.int64)
    values = _empirical_values(dist)
    return values[rng.integers(0, len(values), size=n)]


def lower_bound(dist: Fixed | Uniform | Normal | LogNormal | Empirical) -> int:
    """Smallest length the distribution can produce."""
    if isinstance(dist, Fixed):
        return dist.value
    if isinstance(dist, Empirical):
        return int(_empirical_values(dist).min())
    return dist.min


def upper_bound(dist: Fixed | Uniform | Normal | LogNormal | Empirical) -> int:
    """Largest length the distribution can produce (used by the planner for working sets)."""
    if isinstance(dist, Fixed):
        return dist.value
    if isinstance(dist, Empirical):
        return int(_empirical_values(dist).max())
    return dist.max


def mean_of(dist: Fixed | Uniform | Normal | LogNormal | Empirical) -> float:
    """Expected length before clipping (clipping moves it little for sane bounds)."""
    if isinstance(dist, Fixed):
        return float(dist.value)
    if isinstance(dist, Uniform):
        return (dist.min + dist.max) / 2
    if isinstance(dist, Empirical):
        return float(_empirical_values(dist).mean())
    return float(dist.mean)


def parse_distribution(text: str) -> Fixed | Uniform | Normal | LogNormal | Empirical:
    """Parse the command-line shorthand of a distribution.

    ``512`` | ``fixed:512`` | ``uniform:MIN:MAX`` | ``normal:MEAN:STD[:MIN:MAX]`` |
    ``lognormal:MEAN:STD[:MIN:MAX]`` | ``empirical:PATH`` | ``empirical:V1,V2,...``.
    Raises ValueError with the accepted forms on anything else.
    """
    forms = ("N, fixed:N, uniform:MIN:MAX, normal:MEAN:STD[:MIN:MAX], "
             "lognormal:MEAN:STD[:MIN:MAX], empirical:PATH or empirical:V1,V2,...")
    kind, _, rest = text.strip().partition(":")
    try:
        if not rest:
            return Fixed(value=int(kind))
        if kind == "fixed":
            return Fixed(value=int(rest))
        if kind == "uniform":
            lo, hi = rest.split(":")
            return Uniform(min=int(lo), max=int(hi))
        if kind in ("normal", "lognormal"):
            parts = rest.split(":")
            if len(parts) not in (2, 4):
                raise ValueError("need MEAN:STD or MEAN:STD:MIN:MAX")
            kw = {"mean": float(parts[0]), "std": float(parts[1])}
            if len(parts) == 4:
                kw |= {"min": int(parts[2]), "max": int(parts[3])}
            return Normal(**kw) if kind == "normal" else LogNormal(**kw)
        if kind == "empirical":
            if "," in rest or rest.isdigit():
                return Empirical(values=tuple(int(v) for v in rest.split(",")))
            return Empirical(path=Path(rest))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"bad length distribution {text!r}: {exc}; use {forms}") from exc
    raise ValueError(f"bad length distribution {text!r}: use {forms}")
