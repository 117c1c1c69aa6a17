# The two commands of the README: `make demo` (the main job on an embedded default) and `make test`.
# Both create/refresh .venv first (scripts/setup_env.sh).
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup demo test lint lock

setup:
	@bash scripts/setup_env.sh

demo: setup
	@$(PY) -m dissect_lrm.cli demo

test:
	bash scripts/test.sh

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(VENV)/bin/lint-imports --no-cache

# Re-pin every dependency after changing requirements*.txt (run on a CPU machine).
lock: setup
	$(VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^dissect-lrm' > requirements-lock.tmp
	{ head -2 requirements-lock.txt; cat requirements-lock.tmp; } > requirements-lock.txt.new && rm requirements-lock.tmp
	mv requirements-lock.txt.new requirements-lock.txt
