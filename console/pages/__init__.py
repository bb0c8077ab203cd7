"""The console's pages, one blueprint per area."""
from console.pages import admin, analytics, audit, auth, learner, ops, people, reporting, scim, settings, sso

BLUEPRINTS = [auth.pages, learner.pages, admin.pages, settings.pages, reporting.pages, analytics.pages, audit.pages,
              ops.pages, sso.pages, scim.pages, people.pages]
