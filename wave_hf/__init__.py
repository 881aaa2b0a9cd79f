"""wave_hf: traveling-wave working-memory models for the Hugging Face ecosystem."""

__version__ = "0.1.0"
