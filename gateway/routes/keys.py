"""The public keys that verify access tokens, for anyone who wants to check a
token (RFC 7517 JWKS): JWT_PUBLIC_KEYS when the gateway is configured with
them, else identity's own JWKS (its signing key and the keys it still
publishes during a rotation). Never a private key (servicekit.signing)."""
from gateway.auth import public_keys
from gateway.http import PUBLIC, json_response, route
from gateway.routes import Routes


class KeysRoutes(Routes):
    @route("GET", "/v1/.well-known/jwks.json", auth=PUBLIC, tags=("operations",),
           summary="The public keys (JWKS) that verify access tokens")
    def jwks(self, call):
        return json_response(public_keys.document(self.identity))
