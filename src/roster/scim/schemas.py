"""What the SCIM server announces about itself: ServiceProviderConfig, Schemas, ResourceTypes.

The schemas are the RFC 7643 ones from scim2-models, cut down to the attributes Roster stores, so
a client (or a conformance suite) that reads them knows exactly what round-trips. Attributes Roster
always holds a value for (``userName``, ``displayName``, ``emails``, ``active``) are marked required.
"""

from __future__ import annotations

from typing import Any

from scim2_models import EnterpriseUser, Group, User

from roster.domain import timezones

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SPC_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
RESOURCE_TYPE_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:ResourceType"
SCHEMA_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Schema"
LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"

SCIM_MEDIA_TYPE = "application/scim+json"
MAX_RESULTS = 1000  # the largest page a list or search answers
DEFAULT_COUNT = 100  # the page size when the client names none
# The largest startIndex read as asked; any later one is past the last result as well, and an
# offset must fit the databases' 64-bit integers (with a page added to it).
MAX_START_INDEX = 2**62
EMAIL_TYPES = ("work", "home", "other")

# Attribute -> the sub-attributes kept (None: a simple attribute), and overrides of its definition.
_USER_ATTRIBUTES: dict[str, tuple[tuple[str, ...] | None, dict[str, Any]]] = {
    "userName": (None, {"required": True}),
    "name": (("givenName", "familyName"), {}),
    "displayName": (None, {"required": True}),
    "title": (None, {}),
    # RFC 7643 §4.1.1: an IANA ("Olson") name; the ones Roster takes are listed.
    "timezone": (None, {"canonicalValues": list(timezones.choices())}),
    "active": (None, {"required": True}),
    "emails": (("value", "type"), {"required": True}),
    "groups": (("value", "$ref", "display"), {}),
}
_ENTERPRISE_ATTRIBUTES: dict[str, tuple[tuple[str, ...] | None, dict[str, Any]]] = {
    "employeeNumber": (None, {}),
    "department": (None, {}),
    "manager": (("value", "$ref"), {}),
}
_GROUP_ATTRIBUTES: dict[str, tuple[tuple[str, ...] | None, dict[str, Any]]] = {
    "displayName": (None, {"required": True}),
    "members": (("value", "$ref", "type"), {}),
}
_SUB_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {
    ("emails", "value"): {"required": True},
    ("emails", "type"): {"canonicalValues": list(EMAIL_TYPES)},
    ("members", "type"): {"canonicalValues": ["User"]},
    ("members", "$ref"): {"referenceTypes": ["User"]},
    ("groups", "$ref"): {"referenceTypes": ["Group"]},
}


def _cut(
    schema: dict[str, Any], keep: dict[str, tuple[tuple[str, ...] | None, dict[str, Any]]]
) -> dict[str, Any]:
    attributes = []
    for attribute in schema["attributes"]:
        name = attribute["name"]
        if name not in keep:
            continue
        subs, overrides = keep[name]
        attribute = {**attribute, **overrides}
        if subs is not None:
            attribute["subAttributes"] = [
                {**sub, **_SUB_OVERRIDES.get((name, sub["name"]), {})}
                for sub in attribute.get("subAttributes", [])
                if sub["name"] in subs
            ]
        attributes.append(attribute)
    return {**schema, "attributes": attributes}


def _build_schemas() -> list[dict[str, Any]]:
    user = _cut(User.to_schema().model_dump(mode="json", exclude_none=True), _USER_ATTRIBUTES)
    enterprise = _cut(
        EnterpriseUser.to_schema().model_dump(mode="json", exclude_none=True), _ENTERPRISE_ATTRIBUTES
    )
    group = _cut(Group.to_schema().model_dump(mode="json", exclude_none=True), _GROUP_ATTRIBUTES)
    user["description"] = "A person of the organization."
    group["description"] = "A department of the organization."
    return [user, enterprise, group]


SCHEMAS: list[dict[str, Any]] = _build_schemas()


def schemas(base_url: str) -> list[dict[str, Any]]:
    """The published schemas, each with its meta."""
    return [
        {
            **schema,
            "meta": {"resourceType": "Schema", "location": f"{base_url}/Schemas/{schema['id']}"},
        }
        for schema in SCHEMAS
    ]


def resource_types(base_url: str) -> list[dict[str, Any]]:
    """The User and Group resource types."""
    return [
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "User",
            "name": "User",
            "endpoint": "/Users",
            "description": "People of the organization",
            "schema": CORE_USER,
            "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": False}],
            "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/User"},
        },
        {
            "schemas": [RESOURCE_TYPE_SCHEMA],
            "id": "Group",
            "name": "Group",
            "endpoint": "/Groups",
            "description": "Departments of the organization",
            "schema": CORE_GROUP,
            "meta": {"resourceType": "ResourceType", "location": f"{base_url}/ResourceTypes/Group"},
        },
    ]


def service_provider_config(base_url: str) -> dict[str, Any]:
    """Exactly what this server supports."""
    return {
        "schemas": [SPC_SCHEMA],
        "documentationUri": "https://roster.invalid/docs/scim",
        "patch": {"supported": True},
        "bulk": {"supported": False, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": True, "maxResults": MAX_RESULTS},
        "changePassword": {"supported": False},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Bearer token",
                "description": "A SCIM token an administrator creates at POST /api/v1/scim/tokens.",
                "primary": True,
            }
        ],
        "meta": {"resourceType": "ServiceProviderConfig", "location": f"{base_url}/ServiceProviderConfig"},
    }
