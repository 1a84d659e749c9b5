"""The job processes' entry points: `python -m jobs.worker` (the rq worker) and `jobs/cron.py` (the cron table).
The jobs themselves live with their domains (`wxbackend/<domain>/tasks.py`, declared with `core.jobs.job`)."""
