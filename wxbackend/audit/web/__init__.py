"""The audit domain's routes: the console's audit-log viewer."""
