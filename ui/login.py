"""The door's keys: what opens it (the API key, --auth), the signed cookie a login gives a
browser, and the small self-contained login page (no CDN, every value escaped)."""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import quote

#: How long a login lasts (the cookie's Max-Age and the token's own expiry).
LOGIN_SECONDS = 12 * 3600


def same(given: str, expected: str) -> bool:
    """Constant-time equality of two strings (the time does not tell how much of them matched)."""
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Keys:
    """What opens the door: the API key (a bearer token, or typed into the login form) and the
    page's ``user:password``. Neither set: the door has no lock (loopback, or --insecure)."""

    api_key: str | None = None
    login: tuple[str, str] | None = None
    #: Signs the login cookies; random per process, so a restart logs everyone out.
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    #: Nonces of tokens given back through /logout, with their expiry.
    revoked: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def locked(self) -> bool:
        """Whether every request needs credentials."""
        return self.api_key is not None or self.login is not None

    def bearer(self, token: str) -> bool:
        """Whether ``token`` is the API key."""
        return self.api_key is not None and same(token, self.api_key)

    def opens(self, user: str, password: str) -> bool:
        """Whether the login form's ``user`` and ``password`` open the door: the API key as the
        password (any user), or the --auth pair. Both are compared, each in constant time."""
        by_key = self.bearer(password)
        by_login = False
        if self.login is not None:
            by_login = same(user, self.login[0]) & same(password, self.login[1])
        return by_key or by_login

    def issue(self, now: float | None = None) -> str:
        """A new login token: ``expiry.nonce.signature``."""
        expiry = int((now if now is not None else time.time()) + LOGIN_SECONDS)
        body = f"{expiry}.{secrets.token_urlsafe(16)}"
        return f"{body}.{self._sign(body)}"

    def valid(self, token: str, now: float | None = None) -> bool:
        """Whether ``token`` was issued by this process, is unexpired and was not logged out."""
        expiry, nonce, signature = (token.split(".", 2) + ["", "", ""])[:3]
        if not same(signature, self._sign(f"{expiry}.{nonce}")):
            return False
        return (expiry.isdigit() and int(expiry) > (now if now is not None else time.time())
                and nonce not in self.revoked)

    def revoke(self, token: str) -> None:
        """Log ``token`` out (it stays refused until it would have expired)."""
        if not self.valid(token):
            return
        now = time.time()
        self.revoked = {n: e for n, e in self.revoked.items() if e > now}
        expiry, nonce, _ = token.split(".", 2)
        self.revoked[nonce] = int(expiry)

    def _sign(self, body: str) -> str:
        return hmac.new(self.secret, body.encode(), hashlib.sha256).hexdigest()


def local_path(target: str | None) -> str:
    """Where to go after a login: a path of this server only (never ``//host``, a scheme or a
    backslash that a browser could read as another site), else ``/``."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(c) < 32 for c in target)):
        return "/"
    return target


def login_url(path: str, query: str = "") -> str:
    """``/login?next=…`` back to ``path`` (with its query)."""
    target = path + (f"?{query}" if query else "")
    return "/login?next=" + quote(local_path(target), safe="")


def page(target: str, message: str = "", user_field: bool = False) -> str:
    """The login form: a password (the API key or --auth's password) and, with --auth, a user."""
    esc = html.escape
    user = ('<label>User <input name="username" autocomplete="username" required></label>'
            if user_field else '<input type="hidden" name="username" value="">')
    hint = ("the page's user and password, or the API key as the password" if user_field
            else "the server's API key")
    note = f'<p class="err" role="alert">{esc(message)}</p>' if message else ""
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<title>embedscope: log in</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:24em;margin:4em auto;padding:0 1em}"
        "label{display:block;margin:.8em 0}input{display:block;width:100%;padding:.4em;"
        "box-sizing:border-box}button{margin-top:1em;padding:.5em 1.5em}.err{color:#b00}"
        "</style></head><body><h1>embedscope</h1>"
        f"<p>This server needs {esc(hint)}.</p>{note}"
        "<form method='post' action='/login'>"
        f"<input type='hidden' name='next' value='{esc(local_path(target))}'>{user}"
        "<label>Password <input name='password' type='password' autocomplete='current-password' "
        "required autofocus></label><button type='submit'>Log in</button></form>"
        "</body></html>"
    )
