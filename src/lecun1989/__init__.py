"""lecun1989: LeCun et al. 1989 (handwritten zip-code digits) reproduced, and its modernisation."""

__version__ = "0.1.0"
