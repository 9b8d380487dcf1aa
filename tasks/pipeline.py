"""The transcription pipeline tasks (work in progress)."""
