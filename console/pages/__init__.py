"""The console's pages, one blueprint per area."""
from console.pages import admin, auth, learner, ops

BLUEPRINTS = [auth.pages, learner.pages, admin.pages, ops.pages]
