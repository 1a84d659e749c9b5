# The two commands of the README.
.PHONY: run test lint helper

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check .

# The key helper's single file for this platform into HELPER_RELEASE_DIR (ukey_helper/packaging/README.md).
helper:
	bash scripts/build_helper.sh
