"""identity's commands, one module per aggregate: each function takes the
unit of work, changes state and publishes the events announcing it."""
