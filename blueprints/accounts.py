"""Signing in and out, the first-run page that creates the first (admin) account, and changing one's password."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from accounts import MAX_PASSWORD_LENGTH, AccountError, authenticate, change_password, create_first_admin, has_users
from models import User
from security.login import safe_next

bp = Blueprint("accounts", __name__)


class LoginForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Enter your username."), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=MAX_PASSWORD_LENGTH)])


class SetupForm(FlaskForm):
    username = StringField("Username", validators=[DataRequired("Choose a username."), Length(max=64)])
    password = PasswordField("Password", validators=[DataRequired("Choose a password.")])
    confirm = PasswordField("Password again", validators=[EqualTo("password", "The two passwords differ.")])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
    new_password = PasswordField("New password", validators=[DataRequired("Choose a new password.")])
    confirm = PasswordField("New password again", validators=[EqualTo("new_password", "The two passwords differ.")])


def start_session(user: User) -> None:
    """Sign `user` in on a fresh session: nothing from before signing in carries over."""
    session.clear()
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(safe_next(request.args.get("next")))
    if not has_users():
        return redirect(url_for(".setup"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(form.username.data, form.password.data)
        if user is not None:
            start_session(user)
            return redirect(safe_next(request.args.get("next")))
        form.password.errors.append("Wrong username or password.")
    return render_template("accounts/login.html", form=form), 400 if form.errors else 200


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for(".login"))


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """First run: while there are no users, anyone who reaches the app creates the admin account."""
    if has_users():
        return redirect(url_for(".login"))
    form = SetupForm()
    if form.validate_on_submit():
        try:
            user = create_first_admin(form.username.data, form.password.data)
        except AccountError as exc:
            getattr(form, exc.field).errors.append(str(exc))
        else:
            if user is None:
                flash("An admin account was created meanwhile. Sign in with it.", "warning")
                return redirect(url_for(".login"))
            start_session(user)
            flash(f"Welcome, {user.username}. You are the admin: add other users under Users.", "info")
            return redirect(url_for("uploads.upload"))
    return render_template("accounts/setup.html", form=form), 400 if form.errors else 200


@bp.route("/account/password", methods=["GET", "POST"])
def password():
    form = ChangePasswordForm()
    if form.validate_on_submit():
        try:
            change_password(current_user, form.current_password.data, form.new_password.data)
        except AccountError as exc:
            getattr(form, "new_password" if exc.field == "password" else exc.field).errors.append(str(exc))
        else:
            start_session(current_user)  # the session token changed: other sessions are now signed out
            flash("Password changed. Other sessions of yours are signed out.", "info")
            return redirect(url_for("uploads.upload"))
    return render_template("accounts/password.html", form=form), 400 if form.errors else 200
