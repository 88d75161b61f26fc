# The README's two commands: `make demo` and `make test`. Both create .venv on first use. `make docs` builds the manual.
PYTHON_BASE ?= python3
VENV ?= .venv
PYTHON := $(VENV)/bin/python
EXTRAS ?= cpu,test
# the tests also cover the web page, the batch runner and video files, so they install those extras too
TEST_EXTRAS ?= cpu,test,web,batch,video
# Offline machines point this at a folder of vgg16_*.h5 / vgg19_*.h5; ../shared/weights is used when present.
KERAS_STYLE_WEIGHTS_DIR ?= $(wildcard $(abspath ../shared/weights))
export KERAS_STYLE_WEIGHTS_DIR

.PHONY: demo test test-fast notebooks docs clean

$(VENV)/.installed: setup.cfg pyproject.toml
	@echo "installing TensorFlow and the project into $(VENV) (about 1.5-2 minutes, once)"
	$(PYTHON_BASE) -m venv $(VENV)
	$(PYTHON) -m pip install --upgrade --quiet pip
	$(PYTHON) -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $@

demo: $(VENV)/.installed
	mkdir -p outputs
	$(PYTHON) scripts/transfer.py examples/content.jpg examples/style.jpg outputs/demo.png \
		--size 256 --iterations 150 --force
	@echo "make demo: the picture is outputs/demo.png (its record: outputs/demo.json)"
	@echo "next, the web page: $(VENV)/bin/pip install -e '.[cpu,web]' && $(VENV)/bin/keras-style serve" \
		"(then open http://127.0.0.1:7860/)"

# CI prints the 20 slowest tests: the suite must fit CI's limit on slower machines too.
$(VENV)/.installed-test: $(VENV)/.installed
	@echo "installing the test extras (Gradio, Ray, PyAV, OpenCV) into $(VENV)"
	$(PYTHON) -m pip install --quiet -e ".[$(TEST_EXTRAS)]"
	touch $@

# Two workers, each taking whole modules (their module fixtures, one model per worker): a 2-core machine was half
# idle with one.
test: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(PYTHON) -m pytest -q -n 2 --dist loadfile --durations=20

# The tier without the real weights (tests using the real_weights fixture are marked `weights`) and without the
# modules whose subject is other processes (marked `processes`: Ray, the server and browser, notebooks, scripts).
test-fast: $(VENV)/.installed-test
	$(PYTHON) -m pytest -q -m "not weights and not processes" --durations=10

# Build every notebooks/*.ipynb from its notebooks/*.py source (outputs kept), then execute them headless into
# outputs/notebooks/ (NOTEBOOK_ARGS="--size 256 --only article_001"; "--build-only" runs nothing;
# "--output-dir notebooks" re-creates the committed outputs).
NOTEBOOK_ARGS ?=
notebooks: $(VENV)/.installed
	$(PYTHON) -m pip install --quiet -e ".[$(EXTRAS),notebooks]"
	$(PYTHON) scripts/run_notebooks.py $(NOTEBOOK_ARGS)

# The manual (mkdocs.yml, docs/) into site/; --strict: a broken link or a page missing from the nav fails, as in CI.
$(VENV)/.installed-docs: setup.cfg pyproject.toml
	$(PYTHON_BASE) -m venv $(VENV)
	$(PYTHON) -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(VENV)/.installed-docs
	$(PYTHON) -m mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) outputs build site *.egg-info .pytest_cache
