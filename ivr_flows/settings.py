"""IVR configuration (the ``ivr:`` section): where flows live and how callers authenticate.

PIN hashing cost and lock-out rules are operator decisions (security against login rate), so
they are configuration; the README states the IVR-login rate the defaults allow.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PinHashSettings(_Model):
    """scrypt cost (RFC 7914): n=2**14, r=8, p=1 takes ~30-50 ms and 16 MiB per check."""

    n: int = Field(2**14, ge=2**10, le=2**20)
    r: int = Field(8, ge=1, le=32)
    p: int = Field(1, ge=1, le=16)

    @property
    def memory_bytes(self) -> int:
        return 128 * self.n * self.r * self.p


class LockoutSettings(_Model):
    max_failures: int = Field(5, ge=1, description="failures in the window that lock a customer")
    window_seconds: float = Field(900.0, gt=0)
    lock_seconds: float = Field(1800.0, gt=0, description="then unlocked by time (or an agent)")


class IvrSettings(_Model):
    flows_dir: str | None = Field(None, description="directory of *.yaml flows; shipped if unset")
    national_id_key: str | None = Field(
        None,
        description="secret for the keyed hash of national IDs; a random one is created in "
        "<data_dir>/secrets/national_id.key when unset",
    )
    pin_hash: PinHashSettings = PinHashSettings()
    lockout: LockoutSettings = LockoutSettings()
