"""Media: encoding frames and audio to MP4, probing, posters, input images."""
