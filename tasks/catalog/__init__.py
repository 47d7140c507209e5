"""One task per module, named by its module; importing it registers the task (tasks.registry).
Modules whose names start with an underscore (`_rotation`) hold what several tasks share."""
