"""User accounts: creating users, checking and changing passwords.

Passwords are hashed with werkzeug (scrypt by default); the hash is all we keep.
Usernames are case-insensitive and stored in lower case.
"""

from __future__ import annotations

import re

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models import User, new_session_token, utcnow

USERNAME_RULE = "1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit"
USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MIN_PASSWORD_LENGTH = 10
# Hashing is deliberately slow; an unbounded password would make it a denial of service.
MAX_PASSWORD_LENGTH = 256
# Compared against when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a password of anyone")


class AccountError(ValueError):
    """A request about accounts that cannot be done; the message is shown to users as-is.

    `field` names what was wrong: "username", "password" or "current_password".
    """

    def __init__(self, message: str, field: str):
        super().__init__(message)
        self.field = field


def normalize_username(raw: str) -> str:
    return (raw or "").strip().lower()


def check_username(raw: str) -> str:
    """The normalized username, or AccountError saying what a username may be."""
    username = normalize_username(raw)
    if not USERNAME.fullmatch(username):
        raise AccountError(f"A username is {USERNAME_RULE}.", "username")
    return username


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise AccountError(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.", "password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"A password may have at most {MAX_PASSWORD_LENGTH} characters.", "password")
    return password


def has_users() -> bool:
    return db.session.scalar(select(User.id).limit(1)) is not None


def create_user(username: str, password: str, *, is_admin: bool = False) -> User:
    """Add a user; AccountError if the name is taken or the name or password is not acceptable."""
    user = User(username=check_username(username), password_hash=generate_password_hash(check_password(password)),
                is_admin=is_admin, session_token=new_session_token())
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise AccountError(f"The username {user.username!r} is taken.", "username") from None
    return user


def create_first_admin(username: str, password: str) -> User | None:
    """The first account, an admin; None if any user exists by now.

    One INSERT ... WHERE NOT EXISTS, so two people completing the first-run page
    at once cannot both become admin.
    """
    values = {"username": check_username(username), "password_hash": generate_password_hash(check_password(password)),
              "is_admin": True, "session_token": new_session_token(), "created_at": utcnow()}
    columns = list(values)
    source = select(*(db.literal(value, type_=User.__table__.c[name].type) for name, value in values.items())).where(
        ~select(User.id).exists())
    inserted = db.session.execute(insert(User).from_select(columns, source))
    db.session.commit()
    if inserted.rowcount != 1:
        return None
    return db.session.scalars(select(User).where(User.username == values["username"])).one()


def authenticate(username: str, password: str) -> User | None:
    """The user with this name and password, or None (in about the same time either way)."""
    user = db.session.scalars(select(User).where(User.username == normalize_username(username))).one_or_none()
    password = (password or "")[:MAX_PASSWORD_LENGTH + 1]
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def change_password(user: User, current_password: str, new_password: str) -> None:
    """Set a new password after checking the current one; every other session of the user ends."""
    if not check_password_hash(user.password_hash, (current_password or "")[:MAX_PASSWORD_LENGTH + 1]):
        raise AccountError("The current password is not right.", "current_password")
    set_password(user, new_password)


def set_password(user: User, new_password: str) -> None:
    user.password_hash = generate_password_hash(check_password(new_password))
    user.session_token = new_session_token()
    db.session.commit()
