"""Password hashing (argon2id, memory-hard) and JWT access tokens (pyjwt)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id; the defaults follow RFC 9106's second recommendation (64 MiB, 3 passes).
# The test suite lowers the cost through the environment: it hashes hundreds of
# passwords and proves nothing more with a slower hash.
_hasher = PasswordHasher(
    memory_cost=int(os.environ.get("VISTONE_ARGON2_MEMORY_KIB", "65536")),
    time_cost=int(os.environ.get("VISTONE_ARGON2_TIME_COST", "3")),
)

# A hash to verify against when the email is unknown, so that a login for a missing
# account costs what a wrong password costs (no user enumeration by timing).
_DUMMY_HASH = _hasher.hash("not-a-real-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


class InvalidToken(Exception):
    pass


@dataclass(frozen=True)
class TokenService:
    secret: str
    ttl_seconds: int = 3600
    issuer: str = "vistone"

    def issue(self, user_id: UUID) -> tuple[str, int]:
        now = int(time.time())
        claims = {"sub": str(user_id), "iat": now, "exp": now + self.ttl_seconds,
                  "iss": self.issuer, "typ": "access"}
        return jwt.encode(claims, self.secret, algorithm="HS256"), self.ttl_seconds

    def verify(self, token: str) -> UUID:
        try:
            claims = jwt.decode(
                token, self.secret, algorithms=["HS256"], issuer=self.issuer,
                options={"require": ["exp", "sub", "iss"]},
            )
            if claims.get("typ") != "access":
                raise InvalidToken("not an access token")
            return UUID(claims["sub"])
        except (jwt.PyJWTError, ValueError) as e:
            raise InvalidToken(str(e)) from e
