"""The life of one engine process: its entry point, the runner (consume, handle, publish, settle,
beat, stop), the beat lease and the embedded chain."""
