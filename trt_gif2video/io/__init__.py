"""GIF in, GIF synthesis, video/image out. No torch here."""
