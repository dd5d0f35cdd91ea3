"""`python -m mailpolicy`: the `mailpolicy` command."""

from mailpolicy.cli import main

if __name__ == "__main__":
    main()
