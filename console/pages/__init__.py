"""The console's pages, one blueprint per area."""
from console.pages import admin, auth, learner, ops, settings

BLUEPRINTS = [auth.pages, learner.pages, admin.pages, settings.pages, ops.pages]
