"""A small client for the image service: `python -m image_client upload photo.heic`."""
