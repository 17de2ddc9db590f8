"""``nexafi-ai`` with the test-only toy use case registered, for tests that need a real process.

Run as ``python tests/support/toy_cli.py batch toy --input ... --output ...``: the script's own
folder is first on ``sys.path``, so ``toy_usecase`` imports like in the test process.
"""

from toy_usecase import USE_CASE

from nexafi_ai.cli import main
from nexafi_ai.usecases import register

if __name__ == "__main__":
    register(USE_CASE)
    main()
