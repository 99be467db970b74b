#!/usr/bin/env python
import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    if "--json" in sys.argv:
        # stdout carries the one JSON object; the command's log lines go to stderr.
        os.environ["LOG_STREAM"] = "stderr"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
