"""The ZenML pipelines. Importing the package (what `zenml pipeline run pipelines.<name>.<name>` does first) filters
library noise before the libraries load (components/noise.py)."""

from components.noise import quiet_library_noise

quiet_library_noise()
