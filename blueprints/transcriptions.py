from flask import Blueprint

bp = Blueprint("transcriptions", __name__)
