# Designer: `make run` generates designs with the embedded model; `make test` runs every test.
# Each target installs what it needs, idempotently.

CARGO      ?= cargo
BIN        := target/release/designer
CACHE      := .cache
CATALOG    := $(CACHE)/catalog
DEBS       := $(CACHE)/debian
DESIGNS    := designs
WASM       := wasm32-unknown-unknown
# Python tools in a project venv: cargo-lambda (the Lambda emulator and packager; from PyPI in
# seconds, where `cargo install` takes 40 minutes) with zig for its cross builds, and moto (an
# S3 API for the Lambda's training tests).
VENV         := .venv
# On PATH, the venv gives cargo-lambda its zig (python -m ziglang).
CARGO_LAMBDA := PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/cargo-lambda
PY_TOOLS     := cargo-lambda==1.9.2 ziglang==0.17.1 moto[server]==5.2.5
LAMBDA_ZIPS  := target/lambda
# The browser package: wasm-bindgen-cli at the exact version Cargo.lock pins for the wasm-bindgen
# crate (they must match), installed into .tools (not --locked: its lockfile pins a webpki-roots
# release the registry no longer serves); wasm-opt and Playwright's driver from npm; Chromium
# from Debian.
WASM_BINDGEN_VERSION := $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"/\1/p;}' Cargo.lock)
TOOLS        := .tools
BENCH_VENV   := .venv-bench
WASM_BINDGEN := $(TOOLS)/bin/wasm-bindgen
WEB_WASM     := target/$(WASM)/wasm-release/designer_web.wasm
PKG          := www/pkg
# The site's default model, generator v2 at 256 px, served beside the wasm under the name
# www/config.json gives it (its version: a browser caches a URL once).
DEFAULT_MODEL := core/weights/designer-256.weights
SITE_MODEL    := www/$(shell sed -n 's/.*"weights": *"\([^"]*\)".*/\1/p' www/config.json)
CHROMIUM     := /usr/bin/chromium
# Debian's packages of the Sweet Home 3D furniture catalogs (CC-BY / CC0 libraries and the
# default catalog).
SH3D_PACKAGES := sweethome3d-furniture sweethome3d

.PHONY: run test setup data scenes train eval sheet web lambda deploy serve bench clean

## Generate 4 bedroom / scandinavian designs with the embedded model into designs/.
run: $(BIN)
	$(BIN) generate --room-type bedroom --style scandinavian --variations 4 --seed 42 --out $(DESIGNS)
	@echo "Designs written to $(CURDIR)/$(DESIGNS)/"

## Every test: unit, integration (CLI, catalog and scenes, training, the Lambda under its runtime
## API emulator with an S3 API), the browser package end to end in headless Chromium (WebGPU on
## SwiftShader, and the CPU fallback; after the workspace tests, which build the release CLI it
## compares with), and the scene engine's wasm32 build.
test: setup data web
	$(CARGO) test --release --workspace
	node --test tests/browser/
	$(CARGO) build --release -p designer-scene --target $(WASM)

setup: $(VENV)/.done
	@rustup target list --installed | grep -qx $(WASM) || rustup target add $(WASM)

$(VENV)/.done:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check $(PY_TOOLS)
	touch $@

$(WASM_BINDGEN): Cargo.lock
	@$(WASM_BINDGEN) --version 2>/dev/null | grep -qx "wasm-bindgen $(WASM_BINDGEN_VERSION)" || \
	  $(CARGO) install --root $(TOOLS) --force wasm-bindgen-cli --version $(WASM_BINDGEN_VERSION)
	@touch $@

node_modules/.done: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

$(CHROMIUM):
	apt-get install -y chromium || (apt-get update && apt-get install -y chromium)

## The browser package: web/ for wasm32 (size profile, wasm SIMD), bindings by wasm-bindgen,
## shrunk by wasm-opt, into www/pkg/; and the default model beside it (www/models/).
web: setup $(WASM_BINDGEN) node_modules/.done $(CHROMIUM) $(SITE_MODEL)
	$(CARGO) build --profile wasm-release --target $(WASM) -p designer-web
	@$(MAKE) --no-print-directory $(PKG)/designer_web_bg.wasm

$(SITE_MODEL): $(DEFAULT_MODEL)
	mkdir -p $(@D)
	cp $< $@

# Bindings and wasm-opt (a minute or two) only when cargo produced a new wasm.
$(PKG)/designer_web_bg.wasm: $(WEB_WASM)
	$(WASM_BINDGEN) --target web --no-typescript --out-dir $(PKG) $(WEB_WASM)
	node_modules/.bin/wasm-opt -Oz --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
	  --enable-sign-ext --enable-mutable-globals --enable-multivalue --enable-reference-types \
	  $(PKG)/designer_web_bg.wasm -o $(PKG)/designer_web_bg.wasm
	@echo "www/pkg: $$(stat -c %s $(PKG)/designer_web_bg.wasm) bytes of wasm, $$(gzip -9c $(PKG)/designer_web_bg.wasm | wc -c) gzipped"

## The Lambda's deployable zips (bootstrap inside), for x86_64 and arm64, in target/lambda/.
lambda: setup
	$(CARGO_LAMBDA) lambda build --release --output-format zip -p designer-lambda --x86-64 --lambda-dir $(LAMBDA_ZIPS)/x86_64
	$(CARGO_LAMBDA) lambda build --release --output-format zip -p designer-lambda --arm64 --lambda-dir $(LAMBDA_ZIPS)/arm64
	@ls -l $(LAMBDA_ZIPS)/*/designer-lambda/bootstrap.zip

## Deploys the x86_64 zip with lambda/Cargo.toml's [package.metadata.lambda.deploy] settings
## (needs AWS credentials; FUNCTION_ENV="CHECKPOINT_URI=s3://...,TRAINING_MANIFEST=s3://..." adds
## training's variables).
FUNCTION_ENV ?=
deploy: lambda
	$(CARGO_LAMBDA) lambda deploy --lambda-dir $(LAMBDA_ZIPS)/x86_64 $(if $(FUNCTION_ENV),--env-var $(FUNCTION_ENV)) designer-lambda

## The site on http://127.0.0.1:8080/ next to the Lambda, released, under cargo lambda's
## emulator on 127.0.0.1:9000 (www/config.json points the site's "finer on the server" there;
## POST designs to http://127.0.0.1:9000/lambda-url/designer-lambda/ yourself too).
serve: web
	python3 -m http.server --bind 127.0.0.1 8080 --directory www & \
	  trap "kill $$!" EXIT; \
	  $(CARGO_LAMBDA) lambda watch --release -A 127.0.0.1 -P 9000 -p designer-lambda

$(BIN): $(shell find core -type f -not -path '*/tests/*' -not -path '*/benches/*') Cargo.toml Cargo.lock
	$(CARGO) build --release -p designer-cli --bin designer
	@touch $@

## Side-by-side benchmarks (BENCHMARKS.md): CPU inference vs PyTorch and ONNX Runtime on the
## same network and weights (checked to sample the same images first), the data pipeline vs a
## PIL + DataLoader loader, the Lambda's cold and warm latency under the emulator, and sizes.
## Tables go to target/bench/report.md. PyTorch and friends go into their own venv, not the
## test path. The GPU half runs on a GPU machine: see bench/README.md.
BENCH_RUNS ?= 5
bench: setup data web lambda $(BIN) $(BENCH_VENV)/.done
	@mkdir -p target/bench
	cd bench && ../$(BENCH_VENV)/bin/python cpu.py --designer ../$(BIN) --work ../target/bench \
	  --runs $(BENCH_RUNS) | tee ../target/bench/cpu.md
	$(CARGO) bench -p designer-train --bench pipeline --no-run
	cd bench && ../$(BENCH_VENV)/bin/python pipeline.py --designer ../$(BIN) --work ../target/bench \
	  --catalog ../$(CATALOG) \
	  --ours "$(CARGO) bench -q -p designer-train --bench pipeline --" \
	  --runs 3 | tee ../target/bench/pipeline.md
	$(CARGO) bench -p designer-lambda --bench runtime_api | tee target/bench/lambda.md
	python3 bench/sizes.py | tee target/bench/sizes.md
	cat target/bench/cpu.md target/bench/pipeline.md target/bench/lambda.md target/bench/sizes.md > target/bench/report.md

$(BENCH_VENV)/.done: bench/requirements.txt
	python3 -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

## The furniture catalogs from Debian, unpacked once into .cache/catalog.
data: $(CATALOG)/.done

$(CATALOG)/.done:
	mkdir -p $(DEBS) $(CATALOG)
	cd $(DEBS) && (apt-get download $(SH3D_PACKAGES) || (apt-get update && apt-get download $(SH3D_PACKAGES)))
	for deb in $(DEBS)/*.deb; do dpkg-deb -x $$deb $(DEBS)/root; done
	cp $(DEBS)/root/usr/share/sweethome3d/furniture/*.sh3f $(DEBS)/root/usr/share/sweethome3d/sweethome3d.jar $(CATALOG)/
	rm -rf $(DEBS)
	touch $@

## A labelled training set of furnished-room renders in data/scenes (SCENES images, 128 px).
SCENES ?= 50000
scenes: $(BIN) data
	$(BIN) scenes --catalog $(CATALOG) --count $(SCENES) --size 128 --out data/scenes

## Train on CPU on scenes rendered on the fly, resuming from checkpoints/ if a run was stopped
## (the default model was trained on GPU: see README). EPOCHS, BATCH_SIZE, STEPS_PER_EPOCH... apply.
TRAIN_ARGS ?=
train: $(BIN) data
	$(BIN) train --catalog $(CATALOG) --resume $(TRAIN_ARGS) --name designer-scenes-64 --out model.weights --metrics metrics.jsonl

## The quality metric of the default model at 256 px (classifier accuracy on real and generated
## images, Frechet distance, anchor pieces, restyled photos' edges): the full protocol, long on
## 2 cores (15,840 renders at ~37/s and 576 designs at ~1.1 s each before the classifier); the
## GPU machine's bench/gpu/v2.sh eval takes about 8 minutes. `$(BIN) eval --size 64` judges the
## small model in about 5 minutes.
eval: $(BIN) data
	$(BIN) eval --catalog $(CATALOG)

## Contact sheets (room types x styles): the training scenes and the default model's designs.
sheet: $(BIN) data
	$(BIN) scenes --catalog $(CATALOG) --sheet docs/scenes.png --size 256 --seed 3
	$(BIN) scenes --catalog $(CATALOG) --sheet docs/scenes-small.png --size 96 --seed 3
	$(BIN) sheet --out docs/designs.jpg

clean:
	rm -rf target $(DESIGNS) $(CACHE) $(VENV) $(BENCH_VENV) $(TOOLS) $(PKG) node_modules
