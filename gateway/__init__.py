"""The HTTP gateway: authentication, authorization by role and scope, input
validation, RPC to the services, error mapping and the OpenAPI document.
It owns no database and imports no service code."""
