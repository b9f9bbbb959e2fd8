# Designer: `make run` generates designs with the embedded model; `make test` runs every test.
# Each target installs what it needs, idempotently.

CARGO      ?= cargo
BIN        := target/release/designer
CACHE      := .cache
CATALOG    := $(CACHE)/catalog
DEBS       := $(CACHE)/debian
DESIGNS    := designs
WASM       := wasm32-unknown-unknown
# Debian's packages of the Sweet Home 3D furniture catalogs (CC-BY / CC0 libraries and the
# default catalog).
SH3D_PACKAGES := sweethome3d-furniture sweethome3d

.PHONY: run test setup data scenes train eval sheet wasm clean

## Generate 4 bedroom / scandinavian designs with the embedded model into designs/.
run: $(BIN)
	$(BIN) generate --room-type bedroom --style scandinavian --variations 4 --seed 42 --out $(DESIGNS)
	@echo "Designs written to $(CURDIR)/$(DESIGNS)/"

## Every test: unit, integration (CLI, catalog and scenes, training), and the core's wasm32
## builds (the default, target-neutral one and the scene engine's).
test: setup data
	$(CARGO) test --release --workspace --features designer-core/cli
	$(CARGO) build --release -p designer-core --target $(WASM)
	$(CARGO) build --release -p designer-core --target $(WASM) --features scene

setup:
	@rustup target list --installed | grep -qx $(WASM) || rustup target add $(WASM)

$(BIN): $(shell find core/src core/weights -type f) Cargo.toml Cargo.lock core/Cargo.toml
	$(CARGO) build --release -p designer-core --features cli --bin designer
	@touch $@

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

## The quality metric of the embedded model (classifier accuracy on real and generated images,
## Frechet distance); about 5 minutes on 2 cores.
eval: $(BIN) data
	$(BIN) eval --catalog $(CATALOG)

## Contact sheets (room types x styles): the training scenes and the embedded model's designs.
sheet: $(BIN) data
	$(BIN) scenes --catalog $(CATALOG) --sheet docs/scenes.png --size 128 --seed 3
	$(BIN) sheet --size 64 --out docs/designs.png

clean:
	rm -rf target $(DESIGNS) $(CACHE)
