"""One task per module; importing a module registers its task (see tasks.registry)."""
