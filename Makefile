# The two commands of the README.
.PHONY: run test lint

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check .
