# Two commands for a fresh machine with Python >= 3.11 and make:
#   make demo   install, then send the invitation to seminar 2 into outbox/ and show it
#   make test   install, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean

$(BIN)/mailer: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/mailer

demo: install
	$(BIN)/mailer recipients merge
	@# Registration and unsubscribe links are signed with a key from the environment; the
	@# demo uses a throwaway one when none is set (a real network sets its own, kept secret).
	MAILER_TOKEN_KEY="$${MAILER_TOKEN_KEY:-demo-key-not-secret-0123456789}" $(BIN)/mailer send invitation 2 --yes
	$(BIN)/mailer status invitation-2
	@echo "The invitations are in outbox/<member>/new/ (one file per person; open with any mail client)."

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) outbox .mailer .pytest_cache .ruff_cache .mypy_cache
