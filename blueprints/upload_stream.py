"""Where uploaded bytes go while a request is parsed.

Werkzeug keeps small uploads in memory and spools larger ones to the system
temp dir; a 1 GB recording would then be copied once more into storage. Here
every uploaded file streams straight into the storage's incoming folder (same
filesystem, so accepting it is an atomic rename), and whatever was not
accepted is deleted when the request ends, whatever happened.
"""

from __future__ import annotations

import os
import tempfile

from flask import Request, current_app
from werkzeug.datastructures import MultiDict
from werkzeug.formparser import FormDataParser


class NamedFieldsOnlyParser(FormDataParser):
    """Werkzeug keeps a multipart part that has no name under the key None, and Flask-WTF's
    CSRF check then fails on it with a 500; such parts are dropped (their files, if any, are
    removed with the request's other unaccepted uploads)."""

    def parse(self, *args, **kwargs):
        stream, form, files = super().parse(*args, **kwargs)
        return stream, _named_only(self.cls, form), _named_only(self.cls, files)


def _named_only(cls, fields: MultiDict) -> MultiDict:
    if all(isinstance(key, str) for key in fields):
        return fields
    return cls([(key, value) for key, value in fields.items(multi=True) if isinstance(key, str)])


class StreamedUploadRequest(Request):
    form_data_parser_class = NamedFieldsOnlyParser

    def _get_file_stream(self, total_content_length, content_type, filename=None, content_length=None):
        incoming = current_app.extensions["storage"].incoming_dir
        stream = tempfile.NamedTemporaryFile(dir=incoming, prefix="upload-", suffix=".part", delete=False)
        self.__dict__.setdefault("_incoming_files", []).append(stream.name)
        return stream


def remove_unaccepted_uploads(request: Request) -> None:
    """Delete this request's incoming files that were not moved into storage."""
    for path in request.__dict__.get("_incoming_files", ()):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass  # accepted: it was renamed into storage


def form_was_unreadable(request: Request) -> bool:
    """True if a multipart body came but no field could be read from it.

    Werkzeug drops a whole multipart form it cannot parse (a part header that is
    not UTF-8, such as a filename in another encoding) and the request then looks
    like a form without its CSRF token.
    """
    return (request.mimetype == "multipart/form-data" and bool(request.content_length)
            and not request.form and not request.files)
