# airlock — `make demo` runs the main job end to end; `make test` runs every
# test. Both install what they need (Debian packages) on first use.

CARGO ?= cargo
RELEASE_BIN := target/release/airlock
MKIMAGE_BIN := target/release/airlock-mkimage
REKOR_BIN := target/release/airlock-test-rekor
BENCH_TRUST_BIN := $(or $(CARGO_TARGET_DIR),target)/release/examples/bench_trust

.PHONY: all deps build release test lint unit demo fuzz bench bench-trust bench-unpack bench-serve bench-many bench-volumes bench-delta clean

all: build

deps:
	@bash scripts/ensure-deps.sh

# The product crate (`airlock`) and the test-support crate's binaries
# (`airlock-mkimage`, `airlock-test-rekor`) that the demo, tests and benches run.
build:
	$(CARGO) build --workspace --bins

release:
	$(CARGO) build --release --workspace --bins

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	@bash scripts/check-deps.sh
	@python3 scripts/check-layers.py

# Unit, integration and end-to-end tests (skopeo/podman interop included).
# Tests that need ../shared/fixtures fail rather than skip when CI is set.
# The tests run the testkit's binaries (airlock-mkimage, airlock-test-rekor),
# which `cargo test` does not build: build them first, same profile.
unit:
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --all-targets --no-fail-fast
	$(CARGO) test --workspace --doc

test: deps lint unit

# Fuzz every target in fuzz/ for FUZZ_SECONDS each (nightly + cargo-fuzz,
# installed from crates.io when missing). New interesting inputs land in
# fuzz/corpus/<target>/, crashes in fuzz/artifacts/<target>/. `make test`
# replays the committed corpus on stable (tests/fuzz_corpus.rs). Memory:
# 256 MiB per allocation; the process cap is higher because libFuzzer's
# tables and ASan's quarantine grow over a run (docs/testing.md).
FUZZ_SECONDS ?= 600
FUZZ_TARGETS := archive_reader oci_documents policy_file volume_index cosign_signature sigstore_bundle set_file serve_router cosign_verify inventory notary_metadata
fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && $(CARGO) +nightly fuzz build -O --debug-assertions
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		seeds=; [ $$t = cosign_signature ] && seeds=../../shared/fixtures/dangerzone/valid; \
		ASAN_OPTIONS=quarantine_size_mb=64 $(CARGO) +nightly fuzz run -O --debug-assertions $$t corpus/$$t $$seeds -- \
			-max_total_time=$(FUZZ_SECONDS) -malloc_limit_mb=256 -rss_limit_mb=512 -timeout=1 || exit 1; \
	done

demo: deps release
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) REKOR=$(REKOR_BIN) bash scripts/demo.sh

bench: deps release
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/verify.sh
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/pack.sh
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/unpack.sh
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/volumes.sh
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/delta.sh
	@$(MAKE) --no-print-directory bench-serve
	@$(MAKE) --no-print-directory bench-many
	@$(MAKE) --no-print-directory bench-trust

# Trust path per signature vs sigstore-verify (no archives, ~1 minute).
bench-trust:
	$(CARGO) build --release --example bench_trust
	@BENCH_TRUST=$(BENCH_TRUST_BIN) bash bench/trust.sh

# Cost per image and growth from 200 to 1,600 tiny images (~1 minute).
bench-many: release
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/many.sh

bench-delta: release
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/delta.sh

bench-volumes: release
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/volumes.sh
bench-serve: deps release
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/serve.sh

bench-unpack: deps release
	@AIRLOCK=$(RELEASE_BIN) MKIMAGE=$(MKIMAGE_BIN) bash bench/unpack.sh

clean:
	$(CARGO) clean
	rm -rf testdata/out
