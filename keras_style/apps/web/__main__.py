"""`python -m keras_style.apps.web` is `keras-style serve`."""
from keras_style.apps.web import main

raise SystemExit(main())
