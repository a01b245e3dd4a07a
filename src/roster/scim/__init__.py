"""SCIM 2.0 (RFC 7643/7644): identity providers provision people through the lifecycle actions."""
