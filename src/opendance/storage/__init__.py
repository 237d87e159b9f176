"""Object storage for videos, posters and input images."""
