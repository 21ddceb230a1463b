"""A stand-in for torchvision in the Rerun bench only: torchvision from PyPI does not import against torch 2.13.0
here, and rerun's ImageDecoder needs nothing of it but ``transforms.functional.pil_to_tensor``."""
