"""lecun1989: LeCun et al. 1989 (handwritten zip-code digits) reproduced, and its modernisation."""

__version__ = "0.1.0"


def __getattr__(name: str):
    # load_pretrained is imported on first use, so `import lecun1989` (and the CLI) stays light.
    if name == "load_pretrained":
        from .pretrained import load_pretrained
        return load_pretrained
    raise AttributeError(f"module 'lecun1989' has no attribute {name!r}")


__all__ = ["__version__", "load_pretrained"]
