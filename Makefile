# The seed's pipeline stages and the developer checks as make targets (paths relative
# to the repo root); `make help` lists them. Override any variable:
#   make refine CONFIG=my.yaml DEVICE=cuda
PY      ?= .venv/bin/python
CONFIG  ?= trainer/configs/default_model.yaml   # the shipped model's recipe (base.yaml: the seed)
SPACE   ?= resources/config/search_space.yaml
CACHE   ?= cache
RUNS    ?= runs
LOAD    ?= $(RUNS)/best/last.pt   # the final epoch (the shipped recipe runs its whole schedule)
EXPORT  ?= export
CATALOG ?= catalog
DEVICE  ?= auto
CORPUS  ?= data/corpus
TOPN    ?= 5
TRIALS  ?= 20
TRAIN   = $(PY) -m trainer.cli
TFPY    ?= .venv-tf/bin/python   # a side venv with TensorFlow, only to read MusiCNN's checkpoint
TEACHER ?= benchmarks/_cache/teacher

.PHONY: help corpus teacher teacher-targets precompute search_proxy refine evaluate export onnx_eval index test \
	test-fast lint typecheck bench screenshots bench-gui

help:            ## list the targets with what each does
	@grep -E '^[a-z_-]+: +## ' $(MAKEFILE_LIST) | \
		sed -E 's/^([a-z_-]+): +## (.*)/  \1|\2/' | awk -F'|' '{printf "%-14s %s\n", $$1, $$2}'

corpus:          ## build the development corpus (DATA.md sources) into $(CORPUS)
	$(PY) -m trainer.corpus build --out $(CORPUS)

teacher:         ## export the MusiCNN teacher's weights (side venv .venv-tf; docs/teacher.md)
	test -x $(TFPY) || (python3.11 -m venv .venv-tf && .venv-tf/bin/pip install tensorflow-cpu \
		tf-keras && .venv-tf/bin/pip install --no-deps musicnn)
	for m in MSD_musicnn MTT_musicnn; do TF_USE_LEGACY_KERAS=1 $(TFPY) \
		trainer/teacher/tf_export.py weights --model $$m --out $(TEACHER)/$$m.npz; done

teacher-targets: ## MusiCNN targets of the training tracks, for train.distill_weight
	nice -n 19 $(PY) -m trainer.teacher targets --corpus $(CORPUS) \
		--weights $(TEACHER)/MSD_musicnn.npz --out $(CACHE)/teacher/MSD_musicnn_targets.npz

precompute:      ## decode (+ degraded copies) + features into the SQLite cache
	$(TRAIN) precompute --config $(CONFIG) --cache_dir $(CACHE)

search_proxy:    ## Optuna search over search_space.yaml with short proxy trials
	$(TRAIN) search --config $(CONFIG) --space $(SPACE) --cache_dir $(CACHE) \
		--runs_dir $(RUNS) --trials $(TRIALS) --proxy_epochs 6 --device $(DEVICE)

refine:          ## full training with the best HPO settings (runs/best/ckpt.pt)
	$(TRAIN) refine --config $(CONFIG) --cache_dir $(CACHE) --runs_dir $(RUNS) \
		--device $(DEVICE) $(if $(wildcard $(RUNS)/best/hpo.json),--topn $(TOPN),)

evaluate:        ## Recall@1/5/10/20, MRR, mAP on the held-out songs
	$(TRAIN) evaluate --cache_dir $(CACHE) --load $(LOAD)

export:          ## ONNX (opset 17) + model card
	$(TRAIN) export --load $(LOAD) --cache_dir $(CACHE) --outdir $(EXPORT) --formats onnx,int8

onnx_eval:       ## ONNX-vs-torch parity and timing
	$(TRAIN) onnx-eval --onnx $(EXPORT)/model.onnx --load $(LOAD) --timeit --runs 50

index:           ## embed the cached songs into an engine catalog (FAISS, atomic swap)
	$(TRAIN) index --load $(EXPORT) --cache_dir $(CACHE) --out_dir $(CATALOG)

test:            ## install what is missing, then ruff, import contracts, mypy and the whole test suite
	./bootstrap test

test-fast:       ## the tests not marked slow (under a minute; what pre-commit runs)
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -m "not slow" -q

lint:            ## ruff and the import contracts
	$(PY) -m ruff check .
	$(dir $(PY))lint-imports --no-cache

typecheck:       ## mypy as configured in pyproject.toml (strict for the engine and the app)
	$(PY) -m mypy

bench:           ## feature front-end timings (benchmarks/bench_features.py)
	$(PY) -m benchmarks.bench_features

screenshots:     ## render the main window states to benchmarks/out/screenshots/WxH/*.png (Xvfb)
	for size in 1600x1000 1280x720; do \
		xvfb-run -a -s "-screen 0 $${size}x24" $(PY) benchmarks/screenshots.py --size $$size \
		|| exit 1; done

bench-gui:       ## GUI responsiveness during a scan, start-up with 20,000 tracks (Xvfb)
	xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) benchmarks/bench_gui.py
