"""Who acts: the identity the domain code checks rights against (plain Python, built from a signed-in
user)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class UserLike(Protocol):
    username: str
    role: str
    holder_id: str | None
    provider_id: str | None
    funder_id: str | None


@dataclass(frozen=True)
class Actor:
    """A signed-in user, or a system job (``role='system'``), acting on the supporting services."""

    username: str
    role: str
    holder_id: str | None = None
    provider_id: str | None = None
    funder_id: str | None = None

    @classmethod
    def from_user(cls, user: UserLike) -> Actor:
        return cls(user.username, user.role, user.holder_id, user.provider_id, user.funder_id)

    @classmethod
    def system(cls, name: str = "system") -> Actor:
        return cls(name, "system")

    def is_holder(self, holder_id: str) -> bool:
        return self.role == "holder" and self.holder_id == holder_id

    def is_provider(self, provider_id: str) -> bool:
        return self.role == "provider" and self.provider_id == provider_id
