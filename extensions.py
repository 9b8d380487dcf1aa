"""Flask extensions, created unbound; `create_app` binds them with init_app."""

from flask import current_app
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
login_manager = LoginManager()


def get_storage():
    """The app's recording storage (transcription.storage), set up by create_app."""
    return current_app.extensions["storage"]
