# Two commands for a fresh machine with Python >= 3.11 and make:
#   make demo   install, then send the invitation to seminar 2 into outbox/ and show it
#   make test   install, then lint, type-check and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test lint bench clean catalog

$(BIN)/mailer: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/mailer

demo: install
	$(BIN)/mailer recipients merge
	@# Registration and unsubscribe links are signed with a key from the environment. When
	@# none is set, the demo makes a random one, kept in the private state folder (never in
	@# git); a real network sets its own and keeps it secret.
	@mkdir -p -m 700 .mailer
	@test -s .mailer/demo-token-key || (umask 077 && $(BIN)/python -c \
		"import secrets; print(secrets.token_urlsafe(32))" > .mailer/demo-token-key)
	MAILER_TOKEN_KEY="$${MAILER_TOKEN_KEY:-$$(cat .mailer/demo-token-key)}" \
		$(BIN)/mailer send invitation 2 --yes
	$(BIN)/mailer status invitation-2
	@echo "The invitations are in outbox/<member>/new/ (one file per person; open with any mail client)."
	@echo "To go on with the README's commands: . $(BIN)/activate && export MAILER_TOKEN_KEY=\"\$$(cat .mailer/demo-token-key)\""

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench

# After adding or changing a message in the code: add it to the .po files, then translate
# it there (make test fails on a message left untranslated).
catalog: install
	$(BIN)/python -m mailer.i18n.catalog update

clean:
	rm -rf $(VENV) outbox .mailer .pytest_cache .ruff_cache .mypy_cache
