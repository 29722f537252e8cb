"""Image segmentation: a U-Net of conv and up-sampling blocks, on composed digit scenes or image/mask folders."""
