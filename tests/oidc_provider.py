"""A small OpenID Connect provider on a loopback port, for the console's OIDC login tests.

It speaks the authorisation-code flow as a real provider does (discovery, JWKS, client_secret_basic at
the token endpoint, RS256 ID tokens with the nonce) and lets a test choose the next login's claims.
"""

from __future__ import annotations

import base64
import secrets
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwk, jwt
from werkzeug.serving import make_server

CLIENT_ID = "sdk-addressbook"
CLIENT_SECRET = "a client secret the provider and the service share"


class Provider:
    def __init__(self) -> None:
        self.key = jwk.RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.claims: dict = {}
        self.codes: dict[str, dict] = {}
        self.issuer = ""
        #: Changes what the token endpoint signs with (a test of a forged token).
        self.signing_key = self.key

    def app(self) -> Flask:
        app = Flask("oidc-provider")

        @app.get("/.well-known/openid-configuration")
        def discovery():
            return jsonify(
                issuer=self.issuer,
                authorization_endpoint=f"{self.issuer}/authorize",
                token_endpoint=f"{self.issuer}/token",
                jwks_uri=f"{self.issuer}/jwks",
                response_types_supported=["code"],
                subject_types_supported=["public"],
                id_token_signing_alg_values_supported=["RS256"],
                token_endpoint_auth_methods_supported=["client_secret_basic"],
            )

        @app.get("/jwks")
        def jwks():
            return jsonify(keys=[self.key.as_dict(private=False)])

        @app.get("/authorize")
        def authorize():
            if request.args.get("client_id") != CLIENT_ID or request.args.get("response_type") != "code":
                abort(400)
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": request.args.get("nonce"), "redirect_uri": request.args["redirect_uri"]}
            query = urlencode({"code": code, "state": request.args["state"]})
            return redirect(f"{request.args['redirect_uri']}?{query}")

        @app.post("/token")
        def token():
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if request.headers.get("Authorization") != f"Basic {expected}":
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(request.form.get("code", ""), None)
            if grant is None or grant["redirect_uri"] != request.form.get("redirect_uri"):
                return jsonify(error="invalid_grant"), 400
            now = int(time.time())
            claims = {"iss": self.issuer, "aud": CLIENT_ID, "sub": "user-1", "iat": now, "exp": now + 300}
            claims |= {"nonce": grant["nonce"], **self.claims}
            header = {"alg": "RS256", "kid": "test-key"}
            id_token = jwt.encode(header, claims, self.signing_key)
            return jsonify(
                access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300, id_token=id_token
            )

        return app


@contextmanager
def running_provider():
    provider = Provider()
    server = make_server("127.0.0.1", 0, provider.app(), threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield provider
    finally:
        server.shutdown()
        thread.join(5)
