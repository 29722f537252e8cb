"""Image classification: a CNN of conv blocks and a dense head, on digits or a class folder."""
