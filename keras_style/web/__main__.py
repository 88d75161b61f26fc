"""`python -m keras_style.web` is `keras-style serve`."""
from . import main

raise SystemExit(main())
