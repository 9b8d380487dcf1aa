"""A minimal browser over real HTTP (the standard library only): cookies, forms with their
CSRF token, multipart uploads, and redirects left for the caller to follow."""

from __future__ import annotations

import http.cookiejar
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass
class Page:
    status: int
    url: str
    headers: dict[str, str]
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("location", "")

    def csrf_token(self) -> str:
        match = CSRF.search(self.text)
        assert match, f"no CSRF token in the page at {self.url}"
        return match.group(1)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    def __init__(self, base_url: str, timeout: float = 30.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects)

    def get(self, path: str) -> Page:
        return self._send(urllib.request.Request(self.base_url + path))

    def post_form(self, path: str, fields: dict[str, str]) -> Page:
        body = urllib.parse.urlencode(fields).encode()
        return self._send(urllib.request.Request(self.base_url + path, data=body, headers={
            "Content-Type": "application/x-www-form-urlencoded"}))

    def post_multipart(self, path: str, fields: dict[str, str], files: dict[str, tuple[Path, str]]) -> Page:
        """`files`: field name -> (path, content type)."""
        boundary = uuid.uuid4().hex
        parts = []
        for name, value in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        for name, (file_path, content_type) in files.items():
            parts.append((f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                          f'filename="{Path(file_path).name}"\r\nContent-Type: {content_type}\r\n\r\n').encode())
            parts.append(Path(file_path).read_bytes() + b"\r\n")
        parts.append(f"--{boundary}--\r\n".encode())
        return self._send(urllib.request.Request(self.base_url + path, data=b"".join(parts), headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"}))

    def _send(self, request: urllib.request.Request) -> Page:
        try:
            response = self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as error:  # 3xx (not followed), 4xx, 5xx: a page all the same
            response = error
        with response:
            text = response.read().decode(errors="replace")
            headers = {key.lower(): value for key, value in response.headers.items()}
            return Page(response.status, request.full_url, headers, text)
