"""/users: admins list the users and add new ones (admin-only, see security/login.py)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from accounts import MIN_PASSWORD_LENGTH, USERNAME_RULE, AccountError, create_user
from extensions import db
from models import User

bp = Blueprint("users", __name__, url_prefix="/users")


class NewUserForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Enter a username."), Length(max=64)],
                           description=USERNAME_RULE[0].upper() + USERNAME_RULE[1:] + ".")
    password = PasswordField("Password", validators=[DataRequired("Enter a password.")],
                             description=f"At least {MIN_PASSWORD_LENGTH} characters; tell it to the user.")
    is_admin = BooleanField("Admin (sees every recording, manages users and jobs)")


@bp.route("/", methods=["GET", "POST"])
def index():
    form = NewUserForm()
    if form.validate_on_submit():
        try:
            user = create_user(form.username.data, form.password.data, is_admin=form.is_admin.data)
        except AccountError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            flash(f"User {user.username} added.", "info")
            return redirect(url_for(".index"))
    users = db.session.scalars(select(User).order_by(User.username)).all()
    return render_template("users.html", form=form, users=users), 400 if form.errors else 200
