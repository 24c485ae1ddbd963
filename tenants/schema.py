"""OpenAPI description of the API-key scheme (loaded by TenantsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": (
                "Server API key of one tenant, sent as `Authorization: Api-Key rfk_…`. "
                "Scopes: ingest, admin, runtime. Keep keys on servers, never in browser code."
            ),
        }


class WriteKeyScheme(OpenApiAuthenticationExtension):
    target_class = "tenants.authentication.WriteKeyAuthentication"
    name = "WriteKey"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {
            "type": "http",
            "scheme": "basic",
            "description": (
                "Segment-compatible ingress only: HTTP Basic with a write key (an ingest key bound to one "
                "source) as user name and an empty password; or `writeKey` in the JSON body."
            ),
        }
