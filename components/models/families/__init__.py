"""One module per family: `FAMILY` (a components.models.family.Family) and `MODELS` (model id -> hub path), nothing
else. Modules are discovered by name (components/models/catalog.py); the family's tiny checkpoint for the tests and
the sweep is a spec in components/models/tiny/specs/ under the same name. See docs/add_new_model.md."""
