# medledger — the commands a developer and CI use. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help deps deps-browsers up run app down chain migrate test test-contracts test-migrations test-rust test-browsers wasm compile abi lint fmt clean

help: ## this list
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  make %-16s %s\n", $$1, $$2}'

deps: ## install node packages (npm ci) and rust components if missing
	@bash scripts/deps.sh

deps-browsers: ## deps, plus Debian's chromium and firefox-esr for the browser tests (as root)
	@bash scripts/deps.sh --browsers

up: deps ## start Ganache in the background (./data) and deploy MedLedger and MedLedgerInsurance
	@bash scripts/chain.sh start
	@npx truffle migrate --network development
	@echo; echo "Chain: http://127.0.0.1:$${MEDLEDGER_GANACHE_PORT:-8545} (chain id 1337). Contracts: see deployments/development.json"

run: up app ## make up, build the app, then serve escrow + app on http://127.0.0.1:8080 (Ctrl-C stops it; Ganache keeps running)
	@cargo run --release -p medledger-escrow-api -- init-dev-key
	@echo; echo "Open http://127.0.0.1:8080 in Chrome or Firefox with MetaMask on the local chain (README: Using the app)."; echo
	@cargo run --release -p medledger-escrow-api -- serve

app: deps ## build the app (Leptos → WASM) into app/dist, which the escrow serves at /
	@bash scripts/build-app.sh

down: ## stop the background Ganache (its database stays in ./data)
	@bash scripts/chain.sh stop

chain: deps ## run Ganache in the foreground with its database in ./data
	@bash scripts/chain.sh run

migrate: deps ## deploy MedLedger and MedLedgerInsurance to the running chain (safe to repeat)
	@npx truffle migrate --network development

test: ## run every test: lints, contract compile + ABI drift, Truffle, forge, migrations, Rust
	@bash scripts/test.sh

test-contracts: deps compile ## Truffle suite and Foundry fuzz/invariant tests
	@bash scripts/test-contracts.sh

test-migrations: deps compile ## migration idempotence and the external network path
	@bash scripts/test-migrations.sh

test-rust: deps compile ## cargo test (the contract binding test starts its own Ganache)
	@cargo test --workspace

wasm: deps ## build the WASM harness into target-wasm/harness
	@bash scripts/build-wasm.sh medledger-wasm-harness target-wasm/harness

test-browsers: deps-browsers wasm app ## protocol vectors, the test wallet and the app's journeys in headless Chromium and Firefox
	@cargo build -p medledger-escrow-api --bin escrow-api --locked
	@node --test --test-concurrency=2 e2e/

compile: deps ## compile the contracts with the local solc-js
	@npx truffle compile

abi: compile ## export the compiled ABIs (MedLedger, MedLedgerInsurance) to protocol/abi/ (commit the result)
	@node scripts/abi.js export

lint: ## cargo fmt --check and clippy -D warnings
	@cargo fmt --all -- --check
	@cargo clippy --workspace --all-targets -- -D warnings

fmt: ## format the Rust code
	@cargo fmt --all

clean: ## remove build output (not ./data, not node_modules)
	@rm -rf build target target-wasm
