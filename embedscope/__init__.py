"""embedscope: look inside an image dataset through a vision model's eyes."""

__version__ = "0.1.0"
