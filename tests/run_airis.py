"""`python -m tests.run_airis ARGS`: the airis CLI with the test-only components registered too."""

import sys

from collector.cli import main
from tests.components import registry_with_test_components

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], registry_with_test_components()))
