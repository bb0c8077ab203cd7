"""identity: organizations and settings, accounts, organization profiles,
admin roles, credentials and API tokens."""
