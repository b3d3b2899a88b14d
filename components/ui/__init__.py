"""The web UI (`lmms ui`): a Gradio app over the library (app.py) and the job manager of UI-started runs (jobs.py)."""
