"""`python -m trt_gif2video` = the `trt-gif2video` command."""

from .cli import main

if __name__ == "__main__":
    main()
